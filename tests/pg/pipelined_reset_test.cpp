// The reset is sent at release and read by the next use (connection.hpp): what happens when
// it fails, when the session dies before the next use, and when the server freezes.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "pool_support.hpp"
#include "reservoir/run.hpp"

namespace reservoir::pg::test {
namespace {

using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

std::string text_of(Connection& conn, const std::string& sql) {
  auto r = conn.query(sql, in_ms(5000));
  if (!r) return "error: " + r.error().message();
  if (r->empty() || r->is_null(0, 0)) return "NULL";
  return r->get_text(0, 0).value();
}

// A reset that fails on a live session: the server rejects it (here a reset_sql that always
// fails stands for any failure: a borrower's state the reset cannot clear).
ConnectorOptions failing_reset() {
  ConnectorOptions options;
  options.reset_sql = "SELECT 1/0";
  return options;
}

class PgPipelinedReset : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    env_ = PgEnv::load(&why);
    ASSERT_TRUE(env_) << why << " -- start it with: scripts/servers.sh start postgres";
    connector_.emplace(make_connector(env_->url));
    admin_ = must_connect(*connector_);
    table_ = "pipelined_" + std::to_string(::getpid());
    ASSERT_TRUE(admin_->script("DROP TABLE IF EXISTS " + table_ + "; CREATE TABLE " + table_ + " (x int)", in_ms(5000)));
  }
  void TearDown() override {
    if (admin_) (void)admin_->execute("DROP TABLE IF EXISTS " + table_, in_ms(5000));
  }
  std::string rows() { return text_of(*admin_, "SELECT count(*) FROM " + table_); }
  // One lease that runs a statement (so its release sends the reset), then its session is
  // terminated from another connection while pooled. Returns the terminated backend's pid.
  int terminate_after_a_lease(PgPool& pool) {
    int pid = 0;
    {
      auto lease = pool.acquire(in_ms(5000));
      EXPECT_TRUE(lease) << lease.error().message();
      if (!lease) return 0;
      pid = lease.value()->backend_pid();
      EXPECT_TRUE(lease.value()->query("SELECT 1", in_ms(5000)));
    }  // reset sent
    EXPECT_EQ(text_of(*admin_, "SELECT pg_terminate_backend(" + std::to_string(pid) + ", 5000)"), "t");
    return pid;
  }

  std::optional<PgEnv> env_;
  std::optional<Connector> connector_;
  std::unique_ptr<Connection> admin_;
  std::string table_;
};

// The statement behind a failed reset shares its pipeline segment: the server skips it, so it
// never runs on the previous borrower's session; the caller gets a retryable error.
TEST_F(PgPipelinedReset, AFailedResetKeepsTheNextStatementFromRunning) {
  Connector connector = make_connector(env_->url, failing_reset());
  auto conn = must_connect(connector);
  ASSERT_TRUE(conn->query("SELECT 1", in_ms(5000)));
  ASSERT_TRUE(connector.reset(*conn, in_ms(5000)));  // only sent
  EXPECT_FALSE(connector.is_broken(*conn));
  auto r = conn->execute("INSERT INTO " + table_ + " VALUES (1)", in_ms(5000));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::unavailable);
  EXPECT_TRUE(r.error().retryable());
  EXPECT_NE(r.error().message().find("session reset failed: division by zero"), std::string::npos)
      << r.error().message();
  EXPECT_TRUE(connector.is_broken(*conn));
  EXPECT_EQ(rows(), "0");
}

// A fast check takes a reset error that has arrived, without waiting for anything.
TEST_F(PgPipelinedReset, FastCheckReportsAnArrivedResetFailure) {
  Connector connector = make_connector(env_->url, failing_reset());
  auto conn = must_connect(connector);
  ASSERT_TRUE(conn->query("SELECT 1", in_ms(5000)));
  ASSERT_TRUE(connector.reset(*conn, in_ms(5000)));
  Status check;
  const Deadline bound = in_ms(10000);  // the error arrives when the server has run the reset
  while (check.ok() && !bound.expired()) check = connector.check(*conn, CheckDepth::fast, in_ms(5000));
  ASSERT_FALSE(check.ok());
  EXPECT_EQ(check.error().kind(), ErrorKind::unavailable);
  EXPECT_NE(check.error().message().find("session reset failed"), std::string::npos) << check.error().message();
  EXPECT_TRUE(connector.is_broken(*conn));
}

// Through the pool: a checkout with a fast check replaces the connection whose reset failed;
// within the bypass window the caller gets the retryable error and run() retries it.
TEST_F(PgPipelinedReset, ThePoolReplacesAConnectionWhoseResetFailed) {
  PoolConfig config = small_config(1);
  config.validation_bypass = milliseconds(60000);
  PgPool pool = make_pool(env_->url, config, failing_reset());
  {
    auto lease = pool.acquire(in_ms(5000));
    ASSERT_TRUE(lease);
    ASSERT_TRUE(lease.value()->query("SELECT 1", in_ms(5000)));
  }
  RunOptions options;
  options.timeout = std::chrono::seconds(10);
  options.retry.backoff.initial = milliseconds(1);
  options.idempotent = false;  // the error says the first INSERT never ran (not_executed)
  int calls = 0;
  auto r = run(pool, [&](Connection& c, Attempt& a) {
    ++calls;
    return c.execute("INSERT INTO " + table_ + " VALUES (1)", a.deadline());
  }, options);
  // The first attempt found the failed reset; its INSERT never ran; the retry, on a fresh
  // session (whose own reset has not run yet), did.
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(rows(), "1");
}

TEST_F(PgPipelinedReset, ASessionTerminatedBetweenReleaseAndNextUseGivesARetryableError) {
  PoolConfig config = small_config(1);
  config.validation_bypass = milliseconds(60000);  // no checkout check: the next query finds it
  PgPool pool = make_pool(env_->url, config);
  const int pid = terminate_after_a_lease(pool);
  ASSERT_NE(pid, 0);
  {
    auto lease = pool.acquire(in_ms(5000));
    ASSERT_TRUE(lease) << lease.error().message();
    auto r = lease.value()->execute("INSERT INTO " + table_ + " VALUES (1)", in_ms(5000));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind(), ErrorKind::unavailable) << r.error().message();
    EXPECT_TRUE(r.error().retryable()) << r.error().message();
    EXPECT_NE(r.error().message().find("session reset failed"), std::string::npos) << r.error().message();
    EXPECT_TRUE(r.error().not_executed()) << r.error().message();
    EXPECT_TRUE(lease.value()->is_broken());
  }
  EXPECT_EQ(rows(), "0");
  // run() retries it on a fresh connection.
  RunOptions options;
  options.timeout = std::chrono::seconds(10);
  options.idempotent = true;
  auto r = run(pool, [](Connection& c, Attempt& a) { return c.query("SELECT 1", a.deadline()); }, options);
  EXPECT_TRUE(r) << r.error().message();
}

// A non-idempotent INSERT through run() whose first attempt meets the session terminated
// while pooled (from another connection, between leases): the reset failed before the INSERT
// could run, the error says so, and run() retries it once on a fresh session. It ran once.
TEST_F(PgPipelinedReset, RunRetriesANonIdempotentCallAfterTheResetFailed) {
  PoolConfig config = small_config(1);
  config.validation_bypass = milliseconds(60000);  // no checkout check: the INSERT finds it
  PgPool pool = make_pool(env_->url, config);
  const int pid = terminate_after_a_lease(pool);
  ASSERT_NE(pid, 0);
  RunOptions options;
  options.timeout = std::chrono::seconds(10);
  options.retry.backoff.initial = milliseconds(1);
  options.idempotent = false;
  RunReport report;
  options.report = &report;
  std::vector<int> pids;
  auto r = run(pool, [&](Connection& c, Attempt& a) {
    pids.push_back(c.backend_pid());
    return c.execute("INSERT INTO " + table_ + " VALUES (1)", a.deadline());
  }, options);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(report.attempts, 2u);
  ASSERT_EQ(pids.size(), 2u);
  EXPECT_EQ(pids[0], pid);
  EXPECT_NE(pids[1], pid);
  EXPECT_EQ(rows(), "1");
}

// A statement that may have run is still not retried when the call is not idempotent: the
// session dies after its statement was sent (no reset involved).
TEST_F(PgPipelinedReset, RunDoesNotRetryANonIdempotentCallThatMayHaveRun) {
  PgPool pool = make_pool(env_->url, small_config(1));
  RunOptions options;
  options.timeout = std::chrono::seconds(10);
  options.retry.backoff.initial = milliseconds(1);
  int calls = 0;
  auto r = run(pool, [&](Connection& c, Attempt& a) {
    ++calls;
    // The session ends itself mid-statement: the INSERT ran, the connection is lost.
    return c.execute("WITH i AS (INSERT INTO " + table_ + " VALUES (1)) SELECT pg_terminate_backend(pg_backend_pid())",
                     a.deadline());
  }, options);
  ASSERT_FALSE(r);
  EXPECT_FALSE(r.error().not_executed()) << r.error().message();
  EXPECT_EQ(calls, 1);
}

// The checkout check (ping) completes the pending reset in its own round trip and sees the
// dead session: the caller gets a fresh connection.
TEST_F(PgPipelinedReset, ACheckedCheckoutNeverHandsOutTheTerminatedSession) {
  PoolConfig config = small_config(1);
  config.validation_bypass = milliseconds(0);
  PgPool pool = make_pool(env_->url, config);
  const int pid = terminate_after_a_lease(pool);
  ASSERT_NE(pid, 0);
  auto lease = pool.acquire(in_ms(5000));
  ASSERT_TRUE(lease) << lease.error().message();
  EXPECT_NE(lease.value()->backend_pid(), pid);
  auto r = lease.value()->query("SELECT 1", in_ms(5000));
  EXPECT_TRUE(r) << r.error().message();
}

// Returning a connection does not wait for the server: with the server frozen, the release
// returns at once although io_timeout (which bounded the old, waited-for reset) is long.
TEST_F(PgPipelinedReset, ReleaseNeverWaitsForAFrozenServer) {
  PoolConfig config = small_config(1);
  config.io_timeout = milliseconds(20000);
  PgPool pool = make_pool(env_->url, config);
  auto lease = pool.acquire(in_ms(5000));
  ASSERT_TRUE(lease);
  ASSERT_TRUE(lease.value()->query("SELECT 1", in_ms(5000)));
  ASSERT_TRUE(lease.value()->execute("BEGIN", in_ms(5000)));  // the reset has a ROLLBACK to send too
  Steady::duration took{};
  {
    FrozenServer frozen(*env_);
    const auto start = Steady::now();
    lease.value().release();
    took = Steady::now() - start;
  }
  // Not a speed claim: a bound far below io_timeout, which the old reset waited out.
  EXPECT_LT(took, milliseconds(5000));
  // Thawed, the pending ROLLBACK + reset complete on the next use.
  auto next = pool.acquire(in_ms(5000));
  ASSERT_TRUE(next) << next.error().message();
  EXPECT_FALSE(next.value()->in_transaction());
  auto r = next.value()->query("SELECT 1", in_ms(10000));
  EXPECT_TRUE(r) << r.error().message();
}

// Statements that refuse to run inside a transaction or after another statement of a
// pipeline segment still run as the first statement behind a pending reset.
TEST_F(PgPipelinedReset, StatementsThatRefusePipelinesRunFirstAfterAReset) {
  for (const char* first : {"VACUUM ", "DISCARD ALL", "BEGIN ISOLATION LEVEL SERIALIZABLE", "SET TRANSACTION READ ONLY"}) {
    SCOPED_TRACE(first);
    ASSERT_TRUE(admin_->query("SELECT 1", in_ms(5000)));
    ASSERT_TRUE(admin_->execute("BEGIN", in_ms(5000)));
    ASSERT_TRUE(connector_->reset(*admin_, in_ms(5000)));
    std::string sql = first;
    if (sql == "VACUUM ") sql += table_;
    auto r = admin_->execute(sql, in_ms(10000));
    EXPECT_TRUE(r) << r.error().message();
    if (sql.starts_with("BEGIN")) {
      EXPECT_EQ(text_of(*admin_, "SHOW transaction_isolation"), "serializable");
      ASSERT_TRUE(admin_->execute("COMMIT", in_ms(5000)));
    }
  }
}

// A pooled connection whose reset was sent holds nothing on the server: no transaction, no
// snapshot (the vacuum horizon is not held back), no locks, while it waits for its next use.
TEST_F(PgPipelinedReset, APooledConnectionAfterItsResetHoldsNoTransactionOrSnapshot) {
  Connector connector = make_connector(env_->url);
  auto conn = must_connect(connector);
  ASSERT_TRUE(conn->execute("BEGIN", in_ms(5000)));
  ASSERT_TRUE(conn->query("SELECT pg_advisory_xact_lock(5), pg_advisory_lock(6), count(*) FROM " + table_, in_ms(5000)));
  ASSERT_TRUE(connector.reset(*conn, in_ms(5000)));
  const std::string probe = "SELECT coalesce(backend_xmin::text, '-') || ' ' || coalesce(xact_start::text, '-') || ' ' || "
                            "(SELECT count(*) FROM pg_locks l WHERE l.pid = a.pid AND l.locktype <> 'virtualxid') "
                            "FROM pg_stat_activity a WHERE pid = " + std::to_string(conn->backend_pid());
  const Deadline bound = in_ms(10000);
  std::string seen;
  while (seen != "- - 0" && !bound.expired()) seen = text_of(*admin_, probe);
  EXPECT_EQ(seen, "- - 0");
}

}  // namespace
}  // namespace reservoir::pg::test
