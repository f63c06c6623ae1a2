// pg::Connector through the pool: lifecycle, reset between leases, with_transaction.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <thread>

#include "capture_logger.hpp"
#include "pool_support.hpp"
#include "reservoir/pg/transaction.hpp"

namespace reservoir::pg::test {
namespace {

TEST(PgPool, LifecycleAcquireQueryReleaseShutdown) {
  RESERVOIR_REQUIRE_PG(env);
  PgPool pool = make_pool(env.url, small_config(2));
  int first_pid = 0;
  {
    auto lease = pool.acquire();
    ASSERT_TRUE(lease) << lease.error().message();
    auto r = lease.value()->query("SELECT pg_backend_pid()", in_ms(5000));
    ASSERT_TRUE(r) << r.error().message();
    first_pid = static_cast<int>(r->get_int(0, 0).value());
  }
  {
    auto lease = pool.acquire();
    ASSERT_TRUE(lease);
    EXPECT_EQ(lease.value()->backend_pid(), first_pid);  // reused, not reopened
  }
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        auto lease = pool.acquire();
        if (!lease || !lease.value()->query("SELECT 1", in_ms(5000))) failures++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  const PoolStats stats = pool.stats();
  EXPECT_LE(stats.size, 2u);
  EXPECT_LE(stats.created, 2u);
  EXPECT_EQ(stats.in_use, 0u);
  EXPECT_TRUE(pool.shutdown(std::chrono::seconds(2)));
  EXPECT_EQ(pool.stats().size, 0u);
}

TEST(PgPool, NextBorrowerSeesNoneOfThePreviousSessionState) {
  RESERVOIR_REQUIRE_PG(env);
  PgPool pool = make_pool(env.url, small_config(1));
  int pid = 0;
  {
    auto lease = pool.acquire();
    ASSERT_TRUE(lease);
    pid = lease.value()->backend_pid();
    ASSERT_TRUE(lease.value()->execute(
        "SET work_mem = '7MB'; CREATE TEMP TABLE leak (x int); PREPARE leak_p AS SELECT 1; LISTEN leak_c", in_ms(5000)));
    ASSERT_TRUE(lease.value()->execute("BEGIN", in_ms(5000)));
  }
  auto lease = pool.acquire();
  ASSERT_TRUE(lease);
  ASSERT_EQ(lease.value()->backend_pid(), pid);  // same session, cleaned
  EXPECT_FALSE(lease.value()->in_transaction());
  auto r = lease.value()->query(
      "SELECT current_setting('work_mem'), to_regclass('leak') IS NULL, "
      "(SELECT count(*) FROM pg_prepared_statements), (SELECT count(*) FROM pg_listening_channels())",
      in_ms(5000));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->get_text(0, 0).value(), "4MB");
  EXPECT_EQ(r->get_text(0, 1).value(), "t");
  EXPECT_EQ(r->get_int(0, 2).value(), 0);
  EXPECT_EQ(r->get_int(0, 3).value(), 0);
}

TEST(PgPool, TimedOutQueryConnectionIsReplacedOnReturn) {
  RESERVOIR_REQUIRE_PG(env);
  PgPool pool = make_pool(env.url, small_config(1));
  int pid = 0;
  {
    auto lease = pool.acquire();
    ASSERT_TRUE(lease);
    pid = lease.value()->backend_pid();
    auto r = lease.value()->query("SELECT pg_sleep(10)", in_ms(100));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind(), ErrorKind::timeout);
  }
  auto lease = pool.acquire();
  ASSERT_TRUE(lease) << lease.error().message();
  EXPECT_NE(lease.value()->backend_pid(), pid);
  EXPECT_TRUE(lease.value()->query("SELECT 1", in_ms(5000)));
  EXPECT_EQ(pool.stats().closed_by[static_cast<std::size_t>(CloseReason::broken)], 1u);
}

// The connector's errors are checked in connector_test; here the pool's own log lines, which
// embed those errors (refill failures, failed checks), must not carry the password either.
TEST(PgPool, PasswordNeverAppearsInThePoolsLog) {
  RESERVOIR_REQUIRE_PG(env);
  const std::string password = "reservoir-Secret-pw-7e1";
  ASSERT_NE(env.secret_url.find(password), std::string::npos) << "servers.sh changed the test password";
  std::string wrong = env.secret_url;
  wrong.replace(wrong.find(password), password.size(), "wrong-" + password);
  auto logger = std::make_shared<reservoir::testing::CaptureLogger>();
  PoolConfig config = small_config(2);
  config.min_idle = 1;
  config.init_mode = InitMode::lazy;
  auto pool = PgPool::create(config, PoolOptions{.logger = logger, .start_maintainer = false},
                             make_connector(wrong));
  ASSERT_TRUE(pool) << pool.error().message();
  pool->untyped().run_maintenance();  // the min_idle refill fails (on a connect thread) and is logged
  auto lease = pool->acquire(in_ms(5000));
  ASSERT_FALSE(lease);
  EXPECT_EQ(lease.error().message().find(password), std::string::npos) << lease.error().message();
  ASSERT_TRUE(logger->contains("connect failed: ")) << "nothing logged: the test is void";
  for (const std::string& line : logger->lines()) EXPECT_EQ(line.find(password), std::string::npos) << line;
}

// What with_transaction does on every backend (commit, rollback, reruns, deadline, fn that
// finished the transaction) is tests/transaction's typed suite; here what only PostgreSQL has.
class PgWithTransaction : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    env_ = PgEnv::load(&why);
    ASSERT_TRUE(env_) << why << " -- start it with: scripts/servers.sh start postgres";
    pool_.emplace(make_pool(env_->url, small_config(2)));
    table_ = "wtx_" + std::to_string(::getpid());
    auto lease = pool_->acquire();
    ASSERT_TRUE(lease);
    ASSERT_TRUE(lease.value()->execute("DROP TABLE IF EXISTS " + table_ + "; CREATE TABLE " + table_ +
                                           " (id int PRIMARY KEY, v int NOT NULL)",
                                       in_ms(5000)));
    ASSERT_TRUE(lease.value()->execute("INSERT INTO " + table_ + " VALUES (1, 0)", in_ms(5000)));
  }
  void TearDown() override {
    if (!pool_) return;
    if (auto lease = pool_->acquire()) (void)lease.value()->execute("DROP TABLE IF EXISTS " + table_, in_ms(5000));
  }
  std::int64_t value() {
    auto lease = pool_->acquire();
    auto r = lease.value()->query("SELECT v FROM " + table_ + " WHERE id = 1", in_ms(5000));
    return r ? r->get_int(0, 0).value() : -1;
  }
  Status add(Transaction& tx, int delta) {
    auto r = tx.connection().execute("UPDATE " + table_ + " SET v = v + $1 WHERE id = 1", {delta}, tx.deadline());
    if (!r) return std::move(r).error();
    return {};
  }

  std::optional<PgEnv> env_;
  std::optional<PgPool> pool_;
  std::string table_;
};

// The first attempt reads the row (taking its REPEATABLE READ snapshot), then another session
// commits an update of that row, so the first attempt's own update fails with 40001. The
// whole function runs again and succeeds.
TEST_F(PgWithTransaction, RetriesTheWholeFunctionOnSerializationFailure) {
  Connector side_connector = make_connector(env_->url);
  auto side = must_connect(side_connector);
  int attempts = 0;
  auto r = with_transaction(
      *pool_,
      [&](Transaction& tx) -> Status {
        ++attempts;
        auto seen = tx.connection().query("SELECT v FROM " + table_ + " WHERE id = 1", tx.deadline());
        if (!seen) return std::move(seen).error();
        if (attempts == 1) {
          auto other = side->execute("UPDATE " + table_ + " SET v = v + 100 WHERE id = 1", in_ms(5000));
          if (!other) return std::move(other).error();
        }
        return add(tx, 1);
      },
      sql::TxOptions{sql::Isolation::repeatable_read, false}, in_ms(10000));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(value(), 101);
}

TEST_F(PgWithTransaction, ASessionFoundDeadAtBeginIsReplacedWithoutRunningFnTwice) {
  PoolConfig config = small_config(1);
  config.validation_bypass = std::chrono::milliseconds(60000);  // no checkout check: BEGIN finds it
  PgPool pool = make_pool(env_->url, config);
  int pid = 0;
  {
    auto lease = pool.acquire();
    ASSERT_TRUE(lease);
    pid = lease.value()->backend_pid();
    ASSERT_TRUE(lease.value()->query("SELECT 1", in_ms(5000)));
  }
  Connector side_connector = make_connector(env_->url);
  auto side = must_connect(side_connector);
  ASSERT_TRUE(side->query("SELECT pg_terminate_backend($1, 5000)", {pid}, in_ms(7000)));
  int calls = 0;
  auto r = with_transaction(pool, [&](Transaction& tx) -> Status {
    ++calls;
    EXPECT_NE(tx.connection().backend_pid(), pid);
    return add(tx, 1);
  });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(value(), 1);
}

}  // namespace
}  // namespace reservoir::pg::test
