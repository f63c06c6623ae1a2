// with_transaction, one suite for both SQL backends (a SQLite file and the real PostgreSQL of
// scripts/servers.sh): the same function (sql_retry.hpp) must behave the same on each.
//
// The pool and every deadline run on a JumpClock: a backoff wait moves its time and is
// recorded, so the reruns cost no real time, and a wait that slept in real time instead would
// leave no record (the test would fail).
#include <unistd.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "jump_clock.hpp"
#include "pg_env.hpp"
#include "reservoir/pg/transaction.hpp"
#include "reservoir/sqlite/transaction.hpp"
#include "sqlite_test_support.hpp"

namespace reservoir {
namespace {

using std::chrono::milliseconds;
using testing::JumpClock;

PoolConfig test_pool_config() {
  PoolConfig config;
  config.name = "with-transaction-test";
  config.min_idle = 0;
  config.max_size = 2;
  config.init_mode = InitMode::lazy;
  return config;
}

PoolOptions on_clock(JumpClock& clock) { return PoolOptions{.clock = &clock, .start_maintainer = false}; }

struct SqliteBackend {
  using Connector = sqlite::Connector;
  using Transaction = sqlite::Transaction;

  testing::TempDir dir;

  TypedPool<Connector> make_pool(JumpClock& clock) {
    auto pool = TypedPool<Connector>::create(test_pool_config(), on_clock(clock),
                                             testing::valid_connector({.path = dir.file("tx.db")}));
    if (!pool) throw std::runtime_error(pool.error().message());
    return std::move(pool).value();
  }
  std::string table() const { return "t"; }
  // SQLite's conflict is a stale read snapshot (SQLITE_BUSY_SNAPSHOT). This API's transactions
  // take the write lock at BEGIN, so no statement can provoke one: fn reports it as SQLite would.
  static Status conflict(Transaction&) {
    return Error(ErrorKind::backend, "database is locked (snapshot is stale)", false, "SQLITE_BUSY_SNAPSHOT");
  }
  template <class Fn>
  static auto with_transaction(TypedPool<Connector>& pool, Fn&& fn, Deadline deadline,
                               const sql::TransactionRetry& retry = {}) {
    return sqlite::with_transaction(pool, fn, {}, deadline, retry);
  }
};

struct PgBackend {
  using Connector = pg::Connector;
  using Transaction = pg::Transaction;

  TypedPool<Connector> make_pool(JumpClock& clock) {
    std::string why;
    auto env = pg::test::PgEnv::load(&why);
    if (!env) throw std::runtime_error(why + " -- start it with: scripts/servers.sh start postgres");
    auto pool = TypedPool<Connector>::create(test_pool_config(), on_clock(clock), pg::test::make_connector(env->url));
    if (!pool) throw std::runtime_error(pool.error().message());
    return std::move(pool).value();
  }
  std::string table() const { return "wtx_typed_" + std::to_string(::getpid()); }
  // A real serialization failure (SQLSTATE 40001) raised by the server.
  static Status conflict(Transaction& tx) {
    auto r = tx.connection().execute(
        "DO $$ BEGIN RAISE EXCEPTION 'lost a conflict' USING ERRCODE = 'serialization_failure'; END $$",
        tx.deadline());
    if (r) return Error::make(ErrorKind::internal, "the server raised no serialization failure");
    return std::move(r).error();
  }
  template <class Fn>
  static auto with_transaction(TypedPool<Connector>& pool, Fn&& fn, Deadline deadline,
                               const sql::TransactionRetry& retry = {}) {
    return pg::with_transaction(pool, fn, {}, deadline, retry);
  }
};

template <class Backend>
class WithTransaction : public ::testing::Test {
 protected:
  using Pool = TypedPool<typename Backend::Connector>;
  using Tx = typename Backend::Transaction;

  void SetUp() override {
    pool_.emplace(backend_.make_pool(clock_));
    ASSERT_TRUE(exec("DROP TABLE IF EXISTS " + table() + "; CREATE TABLE " + table() + " (id INTEGER PRIMARY KEY)"));
  }
  void TearDown() override {
    if (pool_) (void)exec("DROP TABLE IF EXISTS " + table());
  }

  std::string table() const { return backend_.table(); }
  Deadline in(milliseconds d) const { return Deadline::after(clock_, d); }

  Status exec(const std::string& sql) {
    auto lease = pool_->acquire(in(milliseconds(5000)));
    if (!lease) return std::move(lease).error();
    auto r = (*lease)->execute(sql, in(milliseconds(5000)));
    if (!r) return std::move(r).error();
    return {};
  }
  static Status insert(Tx& tx, int id, const std::string& table) {
    auto r = tx.connection().execute("INSERT INTO " + table + " VALUES (" + std::to_string(id) + ")", tx.deadline());
    if (!r) return std::move(r).error();
    return {};
  }
  std::int64_t rows() {
    auto lease = pool_->acquire(in(milliseconds(5000)));
    EXPECT_TRUE(lease);
    if (!lease) return -1;
    auto r = (*lease)->query("SELECT count(*) FROM " + table(), in(milliseconds(5000)));
    EXPECT_TRUE(r) << r.error().message();
    return r ? r->get_int(0, 0).value() : -1;
  }

  JumpClock clock_;
  Backend backend_;
  std::optional<Pool> pool_;
};

using Backends = ::testing::Types<SqliteBackend, PgBackend>;
class BackendNames {
 public:
  template <class T>
  static std::string GetName(int) {
    return std::is_same_v<T, SqliteBackend> ? "Sqlite" : "Pg";
  }
};
TYPED_TEST_SUITE(WithTransaction, Backends, BackendNames);

TYPED_TEST(WithTransaction, CommitsAndReturnsTheValue) {
  const std::string table = this->table();
  auto r = TypeParam::with_transaction(*this->pool_, [&](auto& tx) -> Result<int> {
    if (Status s = this->insert(tx, 1, table); !s) return std::move(s).error();
    return 7;
  }, this->in(milliseconds(5000)));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value(), 7);
  EXPECT_EQ(this->rows(), 1);
}

TYPED_TEST(WithTransaction, RollsBackOnAnErrorFromFnAndReturnsIt) {
  const std::string table = this->table();
  int calls = 0;
  Status r = TypeParam::with_transaction(*this->pool_, [&](auto& tx) -> Status {
    ++calls;
    if (Status s = this->insert(tx, 1, table); !s) return s;
    return Error::make(ErrorKind::invalid_argument, "caller decided to abort");
  }, this->in(milliseconds(5000)));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "invalid_argument: caller decided to abort");
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(this->rows(), 0);
  EXPECT_EQ(this->pool_->stats().in_use, 0u);
}

TYPED_TEST(WithTransaction, RollsBackWhenFnThrows) {
  const std::string table = this->table();
  EXPECT_THROW((void)TypeParam::with_transaction(*this->pool_, [&](auto& tx) -> Status {
                 if (Status s = this->insert(tx, 1, table); !s) return s;
                 throw std::runtime_error("boom");
               }, this->in(milliseconds(5000))),
               std::runtime_error);
  EXPECT_EQ(this->rows(), 0);
  EXPECT_EQ(this->pool_->stats().in_use, 0u);
}

TYPED_TEST(WithTransaction, AConflictRerunsTheWholeFunctionAfterABackoffOnTheInjectedClock) {
  const std::string table = this->table();
  int calls = 0;
  auto r = TypeParam::with_transaction(*this->pool_, [&](auto& tx) -> Result<int> {
    ++calls;
    if (Status s = this->insert(tx, 1, table); !s) return std::move(s).error();  // undone by the conflict
    if (calls == 1) return TypeParam::conflict(tx).error();
    return calls;
  }, this->in(milliseconds(5000)));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value(), 2);
  EXPECT_EQ(this->rows(), 1);
  const auto waits = this->clock_.waits();
  ASSERT_EQ(waits.size(), 1u) << "the backoff did not wait on the pool's clock";
  EXPECT_GE(waits[0], std::chrono::microseconds(500));  // equal jitter: at least half of 1 ms
  EXPECT_LE(waits[0], milliseconds(1));
}

TYPED_TEST(WithTransaction, GivesUpAtTheDeadlineWithoutWaitingPastIt) {
  const Deadline deadline = this->in(milliseconds(20));
  int calls = 0;
  Status r = TypeParam::with_transaction(*this->pool_, [&](auto& tx) -> Status {
    ++calls;
    return TypeParam::conflict(tx);
  }, deadline);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::backend);
  EXPECT_NE(r.error().detail().find("past_deadline"), std::string::npos) << r.error().message();
  EXPECT_GE(calls, 3);  // 1 + ~1.5 + ~3 + ~6 ms of backoff fit in 20 ms
  EXPECT_LT(calls, 10);
  EXPECT_EQ(this->clock_.waits().size(), static_cast<std::size_t>(calls - 1));
  EXPECT_LE(this->clock_.now(), deadline.when());
}

TYPED_TEST(WithTransaction, GivesUpAfterMaxAttempts) {
  int calls = 0;
  Status r = TypeParam::with_transaction(*this->pool_, [&](auto& tx) -> Status {
    ++calls;
    return TypeParam::conflict(tx);
  }, this->in(milliseconds(5000)), sql::TransactionRetry{.max_attempts = 3});
  ASSERT_FALSE(r);
  EXPECT_EQ(calls, 3);
  EXPECT_NE(r.error().detail().find("not retried after 3 attempts: attempts_exhausted"), std::string::npos)
      << r.error().message();
}

TYPED_TEST(WithTransaction, AnErrorThatIsNoConflictIsNotRerun) {
  const std::string table = this->table();
  ASSERT_TRUE(this->exec("INSERT INTO " + table + " VALUES (1)"));
  int calls = 0;
  Status r = TypeParam::with_transaction(*this->pool_, [&](auto& tx) -> Status {
    ++calls;
    if (Status s = this->insert(tx, 2, table); !s) return s;  // rolled back with the failure
    return this->insert(tx, 1, table);                         // duplicate key
  }, this->in(milliseconds(5000)));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::backend);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(this->rows(), 1);
  EXPECT_TRUE(this->clock_.waits().empty());
}

TYPED_TEST(WithTransaction, AFnThatCommittedItselfIsNotCommittedAgain) {
  const std::string table = this->table();
  auto r = TypeParam::with_transaction(*this->pool_, [&](auto& tx) -> Result<int> {
    if (Status s = this->insert(tx, 1, table); !s) return std::move(s).error();
    if (Status s = tx.commit(); !s) return std::move(s).error();
    return 1;
  }, this->in(milliseconds(5000)));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(this->rows(), 1);
}

TYPED_TEST(WithTransaction, AFnThatRolledBackItselfGetsItsOwnResult) {
  const std::string table = this->table();
  auto r = TypeParam::with_transaction(*this->pool_, [&](auto& tx) -> Result<int> {
    if (Status s = this->insert(tx, 1, table); !s) return std::move(s).error();
    if (Status s = tx.rollback(); !s) return std::move(s).error();
    return 2;
  }, this->in(milliseconds(5000)));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value(), 2);
  EXPECT_EQ(this->rows(), 0);
}

}  // namespace
}  // namespace reservoir
