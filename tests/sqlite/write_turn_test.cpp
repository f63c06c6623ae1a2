// sqlite::WriteTurn: a writer queues at the store's gate before it borrows a connection, the
// connection that adopts the turn writes without a second wait, and the turn always ends: after
// the write, at COMMIT, when the lease goes back, or when the turn is destroyed.
#include <atomic>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "reservoir/run.hpp"
#include "reservoir/sqlite/connector.hpp"
#include "reservoir/sqlite/transaction.hpp"
#include "reservoir/typed_pool.hpp"
#include "sqlite_test_support.hpp"

namespace reservoir::sqlite {
namespace {

using testing::in_10s;
using testing::in_ms;
using testing::TempDir;
using SqlitePool = TypedPool<Connector>;

class SqliteWriteTurn : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = connector.connect(in_10s());
    ASSERT_TRUE(c) << c.error().message();
    ASSERT_TRUE((*c)->execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v INTEGER)", in_10s()));
  }
  std::unique_ptr<Connection> connect() {
    auto c = connector.connect(in_10s());
    EXPECT_TRUE(c) << c.error().message();
    return c ? std::move(c).value() : nullptr;
  }
  // Whether another writer could take the gate within 30 ms (given back at once).
  bool gate_is_free() {
    auto turn = connector.write_turn(in_ms(30));
    if (!turn) {
      EXPECT_EQ(turn.error().kind(), ErrorKind::timeout) << turn.error().message();
      return false;
    }
    return true;
  }

  TempDir dir;
  Connector connector = testing::valid_connector(Config{.path = dir.file("store.db")});
};

TEST_F(SqliteWriteTurn, AHeldTurnKeepsEveryOtherWriterOutUntilGivenUp) {
  auto turn = connector.write_turn(in_10s());
  ASSERT_TRUE(turn) << turn.error().message();
  EXPECT_TRUE(turn->held());
  auto other = connector.write_turn(in_ms(30));
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().kind(), ErrorKind::timeout);
  EXPECT_NE(other.error().message().find(dir.file("store.db")), std::string::npos) << other.error().message();
  auto conn = connect();
  ASSERT_NE(conn, nullptr);
  auto blocked = conn->execute("INSERT INTO t VALUES (1, 1)", in_ms(30));  // not adopted: waits at the gate
  ASSERT_FALSE(blocked);
  EXPECT_EQ(blocked.error().kind(), ErrorKind::timeout);
  auto read = conn->query("SELECT count(*) FROM t", in_ms(30));  // readers never queue
  ASSERT_TRUE(read) << read.error().message();
  turn->give_up();
  EXPECT_FALSE(turn->held());
  auto written = conn->execute("INSERT INTO t VALUES (1, 1)", in_10s());
  ASSERT_TRUE(written) << written.error().message();
  EXPECT_EQ(*written, 1);
}

TEST_F(SqliteWriteTurn, TheAdoptingConnectionWritesWithoutWaitingAndLeavesAfterTheWrite) {
  auto conn = connect();
  ASSERT_NE(conn, nullptr);
  auto turn = connector.write_turn(in_10s());
  ASSERT_TRUE(turn);
  EXPECT_TRUE(conn->adopt(*turn));
  EXPECT_FALSE(turn->held());
  EXPECT_FALSE(gate_is_free());  // the connection holds it now
  auto written = conn->execute("INSERT INTO t VALUES (1, 1)", in_ms(1000));
  ASSERT_TRUE(written) << written.error().message();
  EXPECT_TRUE(gate_is_free());
  EXPECT_FALSE(conn->adopt(*turn)) << "a turn adopted once has nothing left to hand over";
}

TEST_F(SqliteWriteTurn, AnAdoptedTurnLastsUntilTheTransactionEnds) {
  auto conn = connect();
  ASSERT_NE(conn, nullptr);
  auto turn = connector.write_turn(in_10s());
  ASSERT_TRUE(turn);
  ASSERT_TRUE(conn->adopt(*turn));
  {
    auto tx = Transaction::begin(*conn, {}, in_ms(1000));
    ASSERT_TRUE(tx) << tx.error().message();
    ASSERT_TRUE(conn->execute("INSERT INTO t VALUES (1, 1)", in_ms(1000)));
    ASSERT_TRUE(conn->execute("INSERT INTO t VALUES (2, 2)", in_ms(1000)));
    EXPECT_FALSE(gate_is_free());
    ASSERT_TRUE(tx->commit());
  }
  EXPECT_TRUE(gate_is_free());
  auto rows = conn->query("SELECT count(*) FROM t", in_10s());
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->get_int(0, 0).value(), 2);
}

TEST_F(SqliteWriteTurn, AnAdoptedTurnNeverUsedEndsWhenTheLeaseGoesBack) {
  auto pool = SqlitePool::create(PoolConfig{.name = "write-turn", .max_size = 1}, {}, connector);
  ASSERT_TRUE(pool) << pool.error().message();
  {
    auto lease = pool->acquire(in_10s());
    ASSERT_TRUE(lease);
    auto turn = connector.write_turn(in_10s());
    ASSERT_TRUE(turn);
    ASSERT_TRUE((*lease)->adopt(*turn));
    EXPECT_FALSE(gate_is_free());
  }  // back to the pool: reset leaves the gate
  EXPECT_TRUE(gate_is_free());
  // The next borrower of that same connection is not inside the gate: its write waits for a
  // turn someone else holds.
  auto held = connector.write_turn(in_10s());
  ASSERT_TRUE(held);
  auto lease = pool->acquire(in_10s());
  ASSERT_TRUE(lease);
  auto blocked = (*lease)->execute("INSERT INTO t VALUES (1, 1)", in_ms(30));
  ASSERT_FALSE(blocked);
  EXPECT_EQ(blocked.error().kind(), ErrorKind::timeout);
}

// The pool's connect runs PRAGMAs that change the connection, not the store: they must not
// queue at the gate the turn's holder is inside, waiting for that very connect.
TEST_F(SqliteWriteTurn, AHolderWaitingForTheFirstConnectGetsIt) {
  auto pool = SqlitePool::create(PoolConfig{.name = "write-turn", .min_idle = 0, .max_size = 1}, {}, connector);
  ASSERT_TRUE(pool) << pool.error().message();
  ASSERT_EQ(pool->stats().size, 0u);
  auto turn = connector.write_turn(in_10s());
  ASSERT_TRUE(turn);
  Status st = run(
      *pool,
      [&](Connection& c, Attempt& a) -> Status {
        EXPECT_TRUE(c.adopt(*turn));
        auto r = c.execute("INSERT INTO t VALUES (1, 1)", a.deadline());
        if (!r) return std::move(r).error();
        return {};
      },
      RunOptions{.deadline = in_ms(2000)});
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(pool->stats().size, 1u);
  EXPECT_TRUE(gate_is_free());
}

TEST_F(SqliteWriteTurn, AnotherStoresTurnIsNotAdopted) {
  Connector elsewhere = testing::valid_connector(Config{.path = dir.file("other.db")});
  auto conn = connect();
  ASSERT_NE(conn, nullptr);
  auto turn = elsewhere.write_turn(in_10s());
  ASSERT_TRUE(turn);
  EXPECT_FALSE(conn->adopt(*turn));
  EXPECT_TRUE(turn->held());
  EXPECT_TRUE(conn->execute("INSERT INTO t VALUES (1, 1)", in_ms(1000)));  // this store's gate is free
  auto blocked = elsewhere.write_turn(in_ms(30));
  EXPECT_FALSE(blocked);
  turn = WriteTurn();  // assigning over a held turn gives it up
  auto free_again = elsewhere.write_turn(in_ms(30));
  EXPECT_TRUE(free_again);
}

TEST_F(SqliteWriteTurn, AMovedTurnLeavesTheGateOnceByItsLastHolder) {
  auto first = connector.write_turn(in_10s());
  ASSERT_TRUE(first);
  std::optional<WriteTurn> moved_from(std::move(*first));
  WriteTurn holder(std::move(*moved_from));
  EXPECT_FALSE(moved_from->held());
  moved_from.reset();  // must not leave: `holder` is inside
  EXPECT_FALSE(gate_is_free());
  holder.give_up();
  holder.give_up();  // the second does nothing
  auto a = connector.write_turn(in_10s());
  ASSERT_TRUE(a);
  EXPECT_FALSE(gate_is_free()) << "an extra leave would have let a second writer in";
}

TEST(SqliteWriteTurnPath, ADirectoryThatAppearsAfterCreateStillHasOneGate) {
  TempDir dir;
  const std::string path = (dir.path() / "later" / "store.db").string();
  Connector connector = testing::valid_connector(Config{.path = path});
  auto missing = connector.write_turn(in_10s());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind(), ErrorKind::unavailable);
  EXPECT_NE(missing.error().message().find("does not exist"), std::string::npos) << missing.error().message();
  std::filesystem::create_directory(dir.path() / "later");
  auto conn = connector.connect(in_10s());
  ASSERT_TRUE(conn) << conn.error().message();
  auto turn = connector.write_turn(in_10s());
  ASSERT_TRUE(turn) << turn.error().message();
  EXPECT_TRUE((*conn)->adopt(*turn)) << "the turn and the connection must find the same gate";
}

TEST_F(SqliteWriteTurn, WithTransactionAfterTurnHoldsTheTurnUntilCommit) {
  auto pool = SqlitePool::create(PoolConfig{.name = "write-turn", .max_size = 1}, {}, connector);
  ASSERT_TRUE(pool) << pool.error().message();
  auto rows = with_transaction_after_turn(
      *pool,
      [&](Transaction& tx) -> Result<std::int64_t> {
        EXPECT_FALSE(gate_is_free());  // the adopted turn lasts until COMMIT
        auto r = tx.connection().execute("INSERT INTO t VALUES (1, 1), (2, 2)", in_10s());
        if (!r) return std::move(r).error();
        return *r;
      },
      {}, in_10s());
  ASSERT_TRUE(rows) << rows.error().message();
  EXPECT_EQ(*rows, 2);
  EXPECT_TRUE(gate_is_free());
}

// The turn comes first: while another writer keeps it, nothing is borrowed, and the call ends
// at its deadline naming the gate.
TEST_F(SqliteWriteTurn, WithTransactionAfterTurnQueuesBeforeItBorrows) {
  auto pool = SqlitePool::create(PoolConfig{.name = "write-turn", .max_size = 1}, {}, connector);
  ASSERT_TRUE(pool) << pool.error().message();
  auto held = connector.write_turn(in_10s());
  ASSERT_TRUE(held);
  const std::uint64_t acquires_before = pool->stats().acquires;
  bool ran = false;
  Status st = with_transaction_after_turn(
      *pool,
      [&](Transaction&) -> Status {
        ran = true;
        return Status{};
      },
      {}, in_ms(100));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind(), ErrorKind::timeout) << st.error().message();
  EXPECT_NE(st.error().message().find("another writer of this process"), std::string::npos) << st.error().message();
  EXPECT_FALSE(ran);
  EXPECT_EQ(pool->stats().acquires, acquires_before);
  // A read-only transaction takes no turn.
  auto count = with_transaction_after_turn(
      *pool,
      [&](Transaction& tx) -> Result<std::int64_t> {
        auto r = tx.connection().query("SELECT count(*) FROM t", in_10s());
        if (!r) return std::move(r).error();
        return r->get_int(0, 0).value();
      },
      {.read_only = true}, in_ms(2000));
  ASSERT_TRUE(count) << count.error().message();
  EXPECT_EQ(*count, 0);
}

// Writers that take turns before borrowing and readers, more threads than connections, through
// run(): every acknowledged write is there, nobody sees `database is locked`.
TEST_F(SqliteWriteTurn, WritersWithTurnsAndReadersThroughRunLoseNothing) {
  auto pool = SqlitePool::create(PoolConfig{.name = "write-turn", .max_size = 2}, {}, connector);
  ASSERT_TRUE(pool) << pool.error().message();
  constexpr int kThreads = 6;
  constexpr int kOps = 300;
  std::atomic<std::int64_t> acknowledged{0};
  std::mutex mu;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int w = 0; w < kThreads; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kOps; ++i) {
        const Deadline d = in_10s();
        Status st;
        if (i % 3 == 0) {
          auto turn = pool->connector().write_turn(d);
          if (!turn) {
            st = std::move(turn).error();
          } else {
            st = run(
                *pool,
                [&](Connection& c, Attempt& a) -> Status {
                  c.adopt(*turn);
                  auto r = c.execute("INSERT INTO t VALUES (?1, ?2)", {std::int64_t{w * kOps + i}, std::int64_t{w}},
                                     a.deadline());
                  if (!r) return std::move(r).error();
                  return {};
                },
                RunOptions{.deadline = d});
            if (st) acknowledged.fetch_add(1);
          }
        } else {
          st = run(
              *pool,
              [&](Connection& c, Attempt& a) -> Status {
                auto r = c.query("SELECT count(*) FROM t", a.deadline());
                if (!r) return std::move(r).error();
                return {};
              },
              RunOptions{.deadline = d});
        }
        if (!st) {
          std::lock_guard g(mu);
          errors.push_back(st.error().message());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_TRUE(errors.empty()) << errors.size() << " errors, first: " << errors.front();
  EXPECT_EQ(acknowledged.load(), kThreads * ((kOps + 2) / 3));
  auto lease = pool->acquire(in_10s());
  ASSERT_TRUE(lease);
  auto rows = (*lease)->query("SELECT count(*) FROM t", in_10s());
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->get_int(0, 0).value(), acknowledged.load());
  EXPECT_TRUE(gate_is_free());
}

}  // namespace
}  // namespace reservoir::sqlite
