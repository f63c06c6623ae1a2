// sqlite::Connector and Connection against real files: open, query helper, errors, checks,
// busy waits bounded by the deadline.
#include "reservoir/sqlite/connector.hpp"

#include <sqlite3.h>

#include <thread>

#include <gtest/gtest.h>

#include "reservoir/sqlite/transaction.hpp"

#include "sqlite_test_support.hpp"

namespace reservoir::sqlite {
namespace {

using testing::in_10s;
using testing::in_ms;
using testing::TempDir;

struct Fixture : ::testing::Test {
  TempDir dir;
  Config config() { return Config{.path = dir.file("store.db")}; }
  std::unique_ptr<Connection> open(Connector& c) {
    auto r = c.connect(in_10s());
    EXPECT_TRUE(r) << r.error().message();
    return r ? std::move(r).value() : nullptr;
  }
};

using SqliteConnector = Fixture;

TEST_F(SqliteConnector, OpensInWalModeWithTheConfiguredSynchronousLevel) {
  Config cfg = config();
  cfg.synchronous = Synchronous::full;
  Connector c = testing::valid_connector(cfg);
  auto conn = open(c);
  ASSERT_TRUE(conn);
  auto mode = conn->query("PRAGMA journal_mode", in_10s());
  ASSERT_TRUE(mode);
  EXPECT_EQ(mode->get_text(0, 0).value(), "wal");
  auto sync = conn->query("PRAGMA synchronous", in_10s());
  EXPECT_EQ(sync->get_int(0, 0).value(), 2);  // FULL
  EXPECT_EQ(c.endpoint(), cfg.path);
  EXPECT_TRUE(std::filesystem::exists(cfg.path + ".lock"));
  c.close(std::move(conn), in_10s());
  EXPECT_FALSE(std::filesystem::exists(cfg.path + ".lock"));
}

TEST_F(SqliteConnector, QueryAndExecuteBindEveryValueType) {
  Connector c = testing::valid_connector(config());
  auto conn = open(c);
  ASSERT_TRUE(conn);
  ASSERT_TRUE(conn->execute("CREATE TABLE t(i INTEGER, r REAL, s TEXT, n TEXT)", in_10s()));
  auto n = conn->execute("INSERT INTO t VALUES (?1, ?2, ?3, ?4)",
                         {std::int64_t{42}, 2.5, std::string("it's"), std::monostate{}}, in_10s());
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(n.value(), 1);
  auto rows = conn->query("SELECT i, r, s, n FROM t WHERE i = ?1", {std::int64_t{42}}, in_10s());
  ASSERT_TRUE(rows) << rows.error().message();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->columns(), (std::vector<std::string>{"i", "r", "s", "n"}));
  EXPECT_EQ(rows->get_int(0, 0).value(), 42);
  EXPECT_DOUBLE_EQ(rows->get_double(0, 1).value(), 2.5);
  EXPECT_EQ(rows->get_text(0, 2).value(), "it's");
  EXPECT_TRUE(rows->is_null(0, 3));
  auto updated = conn->execute("UPDATE t SET i = i + 1", in_10s());
  EXPECT_EQ(updated.value(), 1);
}

TEST_F(SqliteConnector, SeveralStatementsWithoutParametersReturnTheLastRows) {
  Connector c = testing::valid_connector(config());
  auto conn = open(c);
  ASSERT_TRUE(conn);
  auto rows = conn->query("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2); SELECT count(*) FROM t;", in_10s());
  ASSERT_TRUE(rows) << rows.error().message();
  EXPECT_EQ(rows->get_int(0, 0).value(), 2);
  auto both = conn->query("SELECT 1; SELECT ?1", {std::int64_t{1}}, in_10s());
  ASSERT_FALSE(both);
  EXPECT_EQ(both.error().kind(), ErrorKind::invalid_argument);
}

TEST_F(SqliteConnector, ParameterCountMismatchIsInvalidArgument) {
  Connector c = testing::valid_connector(config());
  auto conn = open(c);
  ASSERT_TRUE(conn);
  auto r = conn->query("SELECT ?1 + ?2", {std::int64_t{1}}, in_10s());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
  EXPECT_NE(r.error().message().find("takes 2 parameters, 1 given"), std::string::npos) << r.error().message();
}

TEST_F(SqliteConnector, ErrorsCarryTheSqliteCodeAndAreNotRetryable) {
  Connector c = testing::valid_connector(config());
  auto conn = open(c);
  ASSERT_TRUE(conn);
  ASSERT_TRUE(conn->execute("CREATE TABLE t(id INTEGER PRIMARY KEY, u TEXT UNIQUE)", in_10s()));
  ASSERT_TRUE(conn->execute("INSERT INTO t(u) VALUES ('a')", in_10s()));
  auto dup = conn->execute("INSERT INTO t(u) VALUES ('a')", in_10s());
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().kind(), ErrorKind::backend);
  EXPECT_EQ(dup.error().code(), "SQLITE_CONSTRAINT_UNIQUE");
  EXPECT_FALSE(dup.error().retryable());
  EXPECT_FALSE(c.is_retryable(dup.error()));

  auto syntax = conn->query("SELEC 1", in_10s());
  ASSERT_FALSE(syntax);
  EXPECT_EQ(syntax.error().kind(), ErrorKind::backend);
  EXPECT_EQ(syntax.error().code(), "SQLITE_ERROR");
  EXPECT_NE(syntax.error().message().find("syntax error"), std::string::npos) << syntax.error().message();
  EXPECT_FALSE(conn->is_broken());  // a caller's mistake does not break the connection
}

TEST_F(SqliteConnector, ChecksAtEachDepth) {
  Config cfg = config();
  Connector c = testing::valid_connector(cfg);
  auto conn = open(c);
  ASSERT_TRUE(conn);
  for (CheckDepth d : {CheckDepth::fast, CheckDepth::ping, CheckDepth::deep}) {
    auto st = c.check(*conn, d, in_10s());
    EXPECT_TRUE(st) << to_string(d) << ": " << st.error().message();
  }
  conn->mark_broken();
  EXPECT_TRUE(c.is_broken(*conn));
  auto fast = c.check(*conn, CheckDepth::fast, in_10s());
  ASSERT_FALSE(fast);
  EXPECT_EQ(fast.error().kind(), ErrorKind::unavailable);
}

TEST_F(SqliteConnector, DeepCheckRunsTheConfiguredStatement) {
  Config cfg = config();
  cfg.deep_check_sql = "SELECT count(*) FROM missing_table";
  Connector c = testing::valid_connector(cfg);
  auto conn = open(c);
  ASSERT_TRUE(conn);
  EXPECT_TRUE(c.check(*conn, CheckDepth::ping, in_10s()));
  auto deep = c.check(*conn, CheckDepth::deep, in_10s());
  ASSERT_FALSE(deep);
  EXPECT_NE(deep.error().message().find("no such table: missing_table"), std::string::npos) << deep.error().message();

  Config integrity = config();
  integrity.deep_check_sql = "PRAGMA integrity_check";
  Connector c2 = testing::valid_connector(integrity);
  auto conn2 = open(c2);
  ASSERT_TRUE(conn2);
  EXPECT_TRUE(c2.check(*conn2, CheckDepth::deep, in_10s()));
}

TEST_F(SqliteConnector, BusyWriterTimesOutAtTheDeadlineNamingTheHolder) {
  Connector c = testing::valid_connector(config());
  auto a = open(c);
  auto b = open(c);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->execute("CREATE TABLE t(x)", in_10s()));
  ASSERT_TRUE(a->execute("BEGIN IMMEDIATE; INSERT INTO t VALUES (1)", in_10s()));

  auto w = b->execute("INSERT INTO t VALUES (2)", in_ms(100));
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().kind(), ErrorKind::timeout);
  EXPECT_EQ(w.error().code(), "SQLITE_BUSY");
  EXPECT_NE(w.error().message().find("another writer holds the database lock"), std::string::npos)
      << w.error().message();
  EXPECT_EQ(w.error().message().find("database is locked"), std::string::npos);

  // Readers are not blocked by the writer (WAL), and see only committed data.
  auto r = b->query("SELECT count(*) FROM t", in_ms(100));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->get_int(0, 0).value(), 0);

  ASSERT_TRUE(a->execute("COMMIT", in_10s()));
  EXPECT_TRUE(b->execute("INSERT INTO t VALUES (2)", in_10s()));
}

TEST_F(SqliteConnector, WriterWaitsForAShortTransactionInsteadOfFailing) {
  Connector c = testing::valid_connector(config());
  auto a = open(c);
  auto b = open(c);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->execute("CREATE TABLE t(x)", in_10s()));
  ASSERT_TRUE(a->execute("BEGIN IMMEDIATE", in_10s()));  // SQLite's write lock, not the gate
  // b's busy waits run on a clock that moves only after a committed, so b must first find the
  // lock taken (it sleeps on the clock), then succeed once a commits.
  ManualClock clock;
  std::atomic<bool> done{false};
  std::optional<Result<std::int64_t>> w;
  std::thread writer([&] {
    w = b->execute("INSERT INTO t VALUES (1)", Deadline::after(clock, std::chrono::seconds(5)));
    done = true;
  });
  while (clock.waiters() == 0) std::this_thread::yield();
  EXPECT_TRUE(a->execute("COMMIT", in_10s()));  // not ASSERT: the writer must be joined
  while (!done) {
    if (clock.waiters() > 0) clock.advance(std::chrono::milliseconds(1));
    std::this_thread::yield();
  }
  writer.join();
  ASSERT_TRUE(w.has_value());
  ASSERT_TRUE(*w) << w->error().message();
  EXPECT_EQ(a->query("SELECT count(*) FROM t", in_10s())->get_int(0, 0).value(), 1);
}

TEST_F(SqliteConnector, AWriterOutsideThePoolIsWaitedForThroughTheBusyHandler) {
  // A raw handle (like a sqlite3 shell ignoring the store lock) is not in the writer gate;
  // SQLite's busy handler waits for it, bounded by the deadline.
  Connector c = testing::valid_connector(config());
  auto conn = open(c);
  ASSERT_TRUE(conn);
  ASSERT_TRUE(conn->execute("CREATE TABLE t(x)", in_10s()));
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(config().path.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "BEGIN IMMEDIATE; INSERT INTO t VALUES (1)", nullptr, nullptr, nullptr), SQLITE_OK);
  auto w = conn->execute("INSERT INTO t VALUES (2)", in_ms(100));
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().kind(), ErrorKind::timeout);
  EXPECT_EQ(w.error().code(), "SQLITE_BUSY");
  EXPECT_NE(w.error().message().find("another writer holds the database lock (SQLITE_BUSY)"), std::string::npos)
      << w.error().message();
  ASSERT_EQ(sqlite3_exec(raw, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  EXPECT_TRUE(conn->execute("INSERT INTO t VALUES (2)", in_10s()));
}

TEST_F(SqliteConnector, TheWriterGateIsLeftWhenTheTransactionEnds) {
  Connector c = testing::valid_connector(config());
  auto a = open(c);
  auto b = open(c);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->execute("CREATE TABLE t(x UNIQUE)", in_10s()));
  {
    auto tx = Transaction::begin(*a, {}, in_10s());
    ASSERT_TRUE(tx);
    ASSERT_TRUE(a->execute("INSERT INTO t VALUES (1)", in_10s()));
    EXPECT_FALSE(a->execute("INSERT INTO t VALUES (1)", in_10s()));  // a failed statement keeps the tx
    EXPECT_FALSE(b->execute("INSERT INTO t VALUES (2)", in_ms(20)));  // so b still queues
    ASSERT_TRUE(tx->commit());
  }
  EXPECT_TRUE(b->execute("INSERT INTO t VALUES (2)", in_ms(1000)));
  ASSERT_TRUE(a->execute("BEGIN; INSERT INTO t VALUES (3)", in_10s()));  // a borrower's own BEGIN
  ASSERT_TRUE(c.reset(*a, in_10s()));                                      // rolled back on return
  EXPECT_TRUE(b->execute("INSERT INTO t VALUES (3)", in_ms(1000)));
  ASSERT_TRUE(a->execute("BEGIN; INSERT INTO t VALUES (4)", in_10s()));
  ASSERT_TRUE(a->in_transaction());
  a.reset();  // closing a connection inside a transaction leaves the gate too
  EXPECT_TRUE(b->execute("INSERT INTO t VALUES (4)", in_ms(1000)));  // and its 4 was rolled back
}

// A queued writer gives up at its deadline on the injected clock. The gate wakes one queued
// writer per commit: every other queued writer still gets in, one after another, and the one
// that gave up does not swallow the wake-up meant for the writers behind it.
TEST_F(SqliteConnector, EveryQueuedWriterEntersInTurnAfterOneGaveUp) {
  Connector c = testing::valid_connector(config());
  constexpr int kWriters = 4;
  auto holder = open(c);
  auto quitter = open(c);
  std::vector<std::unique_ptr<Connection>> writers;
  for (int i = 0; i < kWriters; ++i) writers.push_back(open(c));  // before the gate is taken: opening writes
  ASSERT_TRUE(holder && quitter);
  ASSERT_TRUE(holder->execute("CREATE TABLE t(x)", in_10s()));
  auto tx = Transaction::begin(*holder, {}, in_10s());
  ASSERT_TRUE(tx);
  ManualClock clock;
  std::optional<Result<std::int64_t>> quit;
  std::thread gives_up([&] { quit = quitter->execute("INSERT INTO t VALUES (0)", Deadline::after(clock, std::chrono::seconds(1))); });
  std::vector<std::optional<Result<std::int64_t>>> got(kWriters);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i) {
    ASSERT_TRUE(writers[i]);
    threads.emplace_back([&, i] { got[i] = writers[i]->execute("INSERT INTO t VALUES (?1)", {std::int64_t{i + 1}}, in_10s()); });
  }
  while (clock.waiters() == 0) std::this_thread::yield();
  clock.advance(std::chrono::seconds(1));  // the first writer gives up while the gate is held
  gives_up.join();
  ASSERT_TRUE(quit.has_value());
  EXPECT_EQ(quit->error().kind(), ErrorKind::timeout);
  ASSERT_TRUE(tx->commit());
  for (auto& t : threads) t.join();
  for (int i = 0; i < kWriters; ++i) {
    ASSERT_TRUE(got[i].has_value());
    EXPECT_TRUE(*got[i]) << got[i]->error().message();
  }
  EXPECT_EQ(holder->query("SELECT count(*) FROM t", in_10s())->get_int(0, 0).value(), kWriters);
}

TEST_F(SqliteConnector, QueryRowReadsTheFirstRowAndEndsTheStatement) {
  Connector c = testing::valid_connector(config());
  auto a = open(c);
  auto b = open(c);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)", in_10s()));
  ASSERT_TRUE(a->execute("INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, 'three')", in_10s()));
  for (int i = 0; i < 2; ++i) {  // the second time from the statement cache
    auto first = a->query_row("SELECT v FROM t ORDER BY k", in_10s());
    ASSERT_TRUE(first) << first.error().message();
    ASSERT_EQ(first->size(), 1u);
    EXPECT_EQ(first->get_text(0, 0).value(), "one");
    EXPECT_EQ(first->columns(), std::vector<std::string>{"v"});
  }
  auto none = a->query_row("SELECT v FROM t WHERE k = ?1", {std::int64_t{9}}, in_10s());
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  // The read ended with the row: a's snapshot does not hold back b's checkpoint.
  ASSERT_TRUE(b->execute("INSERT INTO t VALUES (4, 'four')", in_10s()));
  auto ckpt = b->query("PRAGMA wal_checkpoint(TRUNCATE)", in_10s());
  ASSERT_TRUE(ckpt) << ckpt.error().message();
  EXPECT_EQ(ckpt->get_int(0, 0).value(), 0) << "the checkpoint was blocked by a reader";
  // A statement that writes runs to completion: every row is inserted, the first returned.
  auto inserted = a->query_row("INSERT INTO t(v) VALUES ('x'), ('y'), ('z') RETURNING v", in_10s());
  ASSERT_TRUE(inserted) << inserted.error().message();
  ASSERT_EQ(inserted->size(), 1u);
  EXPECT_EQ(a->query("SELECT count(*) FROM t", in_10s())->get_int(0, 0).value(), 7);
}

TEST_F(SqliteConnector, CachedStatementsFollowSchemaChangesAndSeeNewData) {
  Connector c = testing::valid_connector(config());
  auto a = open(c);
  auto b = open(c);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->execute("CREATE TABLE t(x)", in_10s()));
  const std::string count = "SELECT count(*) FROM t";
  const std::string all = "SELECT * FROM t";
  for (std::int64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(a->query(count, in_10s())->get_int(0, 0).value(), i);  // cached after the first run
    ASSERT_TRUE(b->execute("INSERT INTO t VALUES (?1)", {i}, in_10s()));  // visible: no stale snapshot
    EXPECT_EQ(a->query(all, in_10s())->columns(), std::vector<std::string>{"x"});
  }
  ASSERT_TRUE(b->execute("ALTER TABLE t ADD COLUMN y", in_10s()));  // re-prepared: its result widens
  EXPECT_EQ(a->query(all, in_10s())->columns(), (std::vector<std::string>{"x", "y"}));
  ASSERT_TRUE(b->execute("ALTER TABLE t RENAME COLUMN x TO z", in_10s()));
  EXPECT_EQ(a->query(all, in_10s())->columns(), (std::vector<std::string>{"z", "y"}));
  EXPECT_EQ(a->query(all, in_10s())->columns(), (std::vector<std::string>{"z", "y"}));  // kept from here on
  ASSERT_TRUE(b->execute("DROP TABLE t; CREATE TABLE t(x, y)", in_10s()));
  EXPECT_EQ(a->query(count, in_10s())->get_int(0, 0).value(), 0);  // re-prepared for the new table
  ASSERT_TRUE(b->execute("DROP TABLE t", in_10s()));
  auto gone = a->query(count, in_10s());
  ASSERT_FALSE(gone);
  EXPECT_NE(gone.error().message().find("no such table: t"), std::string::npos) << gone.error().message();
}

TEST_F(SqliteConnector, ACachedStatementOnAResetTempTableFailsInsteadOfLeaking) {
  Connector c = testing::valid_connector(config());
  auto conn = open(c);
  ASSERT_TRUE(conn);
  ASSERT_TRUE(conn->execute("CREATE TEMP TABLE scratch(x)", in_10s()));
  ASSERT_TRUE(conn->execute("INSERT INTO scratch VALUES (1)", in_10s()));  // cached
  ASSERT_TRUE(c.reset(*conn, in_10s()));
  auto r = conn->execute("INSERT INTO scratch VALUES (1)", in_10s());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::backend);
}

TEST_F(SqliteConnector, ExpiredDeadlineFailsBeforeRunning) {
  Connector c = testing::valid_connector(config());
  auto conn = open(c);
  ASSERT_TRUE(conn);
  auto r = conn->execute("CREATE TABLE t(x)", in_ms(-1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::timeout);
  EXPECT_FALSE(conn->query("SELECT * FROM t", in_10s()));  // it never ran
}

TEST_F(SqliteConnector, ManagedPragmasAreRefused) {
  Connector c = testing::valid_connector(config());
  auto conn = open(c);
  ASSERT_TRUE(conn);
  for (const char* sql : {"PRAGMA busy_timeout=5000", "PRAGMA journal_mode=DELETE", "PRAGMA locking_mode=EXCLUSIVE"}) {
    auto r = conn->execute(sql, in_10s());
    ASSERT_FALSE(r) << sql;
    EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument) << sql;
    EXPECT_NE(r.error().message().find("managed by the pool"), std::string::npos) << r.error().message();
  }
  EXPECT_TRUE(conn->query("PRAGMA busy_timeout", in_10s()));  // reading is fine
  EXPECT_EQ(conn->query("PRAGMA journal_mode", in_10s())->get_text(0, 0).value(), "wal");
}

TEST_F(SqliteConnector, InvalidConfigIsRefused) {
  for (Config cfg : {Config{.path = ""}, Config{.path = ":memory:"}, Config{.path = "file:x.db?mode=ro"},
                     Config{.path = "x.db", .busy_sleep_max = std::chrono::microseconds(0)}}) {
    auto r = Connector::create(cfg);
    ASSERT_FALSE(r) << cfg.path;
    EXPECT_EQ(r.error().kind(), ErrorKind::invalid_config) << r.error().message();
  }
}

// Each error in the one wording (field=value: allowed ...). Synchronous(9) used to pass and
// silently become synchronous=1.
TEST_F(SqliteConnector, InvalidConfigNamesFieldValueAndWhatIsAllowed) {
  auto problem = [](Config cfg) {
    Status s = cfg.validate();
    return s ? std::string("ok") : s.error().message();
  };
  EXPECT_EQ(problem(Config{.path = "x.db", .synchronous = static_cast<Synchronous>(9)}),
            "invalid_config: synchronous=9: allowed off, normal, full, extra");
  EXPECT_EQ(problem(Config{.path = "x.db", .synchronous = static_cast<Synchronous>(-1)}),
            "invalid_config: synchronous=-1: allowed off, normal, full, extra");
  EXPECT_EQ(problem(Config{.path = "x.db", .synchronous = Synchronous::extra}), "ok");
  EXPECT_EQ(problem(Config{.path = "x.db", .busy_sleep_max = std::chrono::microseconds(0)}),
            "invalid_config: busy_sleep_max=0: allowed 1us..100ms");
  EXPECT_EQ(problem(Config{.path = "x.db", .store_lock_wait = std::chrono::hours(2)}),
            "invalid_config: store_lock_wait=2h: allowed 0..1h");
  EXPECT_EQ(problem(Config{.path = ""}), "invalid_config: path=\"\": allowed a database file path");
  EXPECT_EQ(problem(Config{.path = "x.db", .deep_check_sql = ""}),
            "invalid_config: deep_check_sql=\"\": allowed a statement, e.g. PRAGMA quick_check");
  EXPECT_EQ(problem(Config{.path = ":memory:"}),
            "invalid_config: path=\":memory:\": allowed a plain file path (no :memory: or URI: the pool's "
            "connections share one store file)");
}

TEST_F(SqliteConnector, SecondProcessIsToldWhoOwnsTheStore) {
  Config cfg = config();
  testing::Child holder({"hold", cfg.path, "other-app"});
  ASSERT_TRUE(holder.wait_ready());
  Connector c = testing::valid_connector(cfg);
  auto r = c.connect(in_10s());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::busy);
  EXPECT_NE(r.error().message().find("in use by pid " + std::to_string(holder.pid()) + " (other-app"),
            std::string::npos)
      << r.error().message();
}

TEST_F(SqliteConnector, TwoConnectorsInOneProcessShareTheStore) {
  Connector c1 = testing::valid_connector(config()), c2 = testing::valid_connector(config());
  auto a = open(c1);
  auto b = open(c2);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->store_lock().shares(), 2);
  ASSERT_TRUE(a->execute("CREATE TABLE t(x); INSERT INTO t VALUES (7)", in_10s()));
  EXPECT_EQ(b->query("SELECT x FROM t", in_10s())->get_int(0, 0).value(), 7);
}

}  // namespace
}  // namespace reservoir::sqlite
