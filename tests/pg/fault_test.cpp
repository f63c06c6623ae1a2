// Faults on the real server: terminated backends, a restart, a freeze, idle-session timeouts
// and a server at max_connections. Each test leaves the server running and thawed. They run
// alone under ctest (serial_tests.cmake): they disturb every other client of the server.
#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "pool_support.hpp"

namespace reservoir::pg::test {
namespace {

using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

// Runs `threads` workers doing acquire + SELECT 1 until stopped; records every error and the
// longest call, so a test can show that nothing hung and every failure was retryable.
class Load {
 public:
  Load(PgPool& pool, int threads) : pool_(pool) {
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { run(); });
  }
  ~Load() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& w : workers_) {
      if (w.joinable()) w.join();
    }
  }
  std::uint64_t successes() const { return ok_.load(); }
  std::vector<Error> errors() {
    std::lock_guard lock(mu_);
    return errors_;
  }
  Steady::duration longest() const { return Steady::duration(longest_.load()); }

 private:
  void run() {
    while (!stop_) {
      const auto start = Steady::now();
      auto lease = pool_.acquire(in_ms(kDeadlineMs));
      Status st = lease ? Status{} : Status(lease.error());
      if (lease) {
        auto r = lease.value()->query("SELECT 1", in_ms(kDeadlineMs));
        if (!r) st = r.error();
      }
      const auto took = (Steady::now() - start).count();
      for (auto seen = longest_.load(); took > seen && !longest_.compare_exchange_weak(seen, took);) {
      }
      if (st) {
        ok_++;
      } else {
        std::lock_guard lock(mu_);
        errors_.push_back(st.error());
        std::this_thread::sleep_for(milliseconds(5));  // a real client would back off too
      }
    }
  }

 public:
  static constexpr long kDeadlineMs = 1000;

 private:
  PgPool& pool_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> ok_{0};
  std::atomic<Steady::rep> longest_{0};
  std::mutex mu_;
  std::vector<Error> errors_;
  std::vector<std::thread> workers_;
};

void expect_all_retryable(PgPool& pool, const std::vector<Error>& errors) {
  for (const Error& e : errors) EXPECT_TRUE(pool.connector().is_retryable(e)) << e.message();
}

std::set<int> warm_pids(PgPool& pool, std::size_t n) {
  std::vector<PgPool::lease_type> leases;
  std::set<int> pids;
  for (std::size_t i = 0; i < n; ++i) {
    auto lease = pool.acquire(in_ms(5000));
    if (!lease) break;
    pids.insert(lease.value()->backend_pid());
    leases.push_back(std::move(lease).value());
  }
  return pids;
}

void terminate(const PgEnv& env, const std::set<int>& pids) {
  Connector c = make_connector(env.url);
  auto killer = must_connect(c);
  for (int pid : pids) ASSERT_TRUE(killer->query("SELECT pg_terminate_backend($1, 5000)", {pid}, in_ms(7000)));
}

TEST(PgFault, TerminatedPooledConnectionsAreReplaced) {
  RESERVOIR_REQUIRE_PG(env);
  // Checked at checkout (no bypass window): the dead sessions never reach a caller.
  PoolConfig checked = small_config(4);
  checked.validation_bypass = milliseconds(0);
  checked.checkout_check = CheckDepth::fast;
  PgPool pool = make_pool(env.url, checked);
  const std::set<int> killed = warm_pids(pool, 4);
  ASSERT_EQ(killed.size(), 4u);
  terminate(env, killed);
  for (int i = 0; i < 8; ++i) {
    auto lease = pool.acquire(in_ms(5000));
    ASSERT_TRUE(lease) << lease.error().message();
    EXPECT_EQ(killed.count(lease.value()->backend_pid()), 0u);
    auto r = lease.value()->query("SELECT 1", in_ms(5000));
    EXPECT_TRUE(r) << r.error().message();
  }
  EXPECT_GE(pool.stats().health_failures, 1u);

  // Within the bypass window a caller may get a dead session: at most a retryable error, and
  // the connection is replaced.
  PoolConfig bypass = small_config(4);
  bypass.validation_bypass = milliseconds(60000);
  PgPool fast = make_pool(env.url, bypass);
  const std::set<int> killed2 = warm_pids(fast, 4);
  terminate(env, killed2);
  Load load(fast, 4);
  std::this_thread::sleep_for(milliseconds(300));
  load.stop();
  expect_all_retryable(fast, load.errors());
  std::cout << "[ info     ] within the bypass window: " << load.successes() << " ok, " << load.errors().size()
            << " retryable errors\n";
  EXPECT_LE(load.errors().size(), 4u);  // at most one per dead session
  EXPECT_GT(load.successes(), 0u);
  for (int pid : warm_pids(fast, 4)) EXPECT_EQ(killed2.count(pid), 0u);
}

TEST(PgFault, RestartMidLoadRecovers) {
  RESERVOIR_REQUIRE_PG(env);
  KeepsServerRunning keep(env);
  PgPool pool = make_pool(env.url, small_config(4));
  Load load(pool, 4);
  std::this_thread::sleep_for(milliseconds(300));
  const std::uint64_t before = load.successes();
  ASSERT_EQ(env.pg_ctl("restart -m fast -w -t 30 -l '" + env.data + "/../server.log'"), 0) << "pg_ctl restart failed";
  ASSERT_TRUE(env.wait_ready(milliseconds(10000)));
  const std::uint64_t at_restart = load.successes();
  // Recovery: the pool reconnects on its own (connect backoff is at most 5 s).
  const auto until = Steady::now() + std::chrono::seconds(8);
  while (load.successes() < at_restart + 100 && Steady::now() < until) std::this_thread::sleep_for(milliseconds(20));
  load.stop();
  EXPECT_GT(before, 0u);
  std::cout << "[ info     ] " << load.successes() << " ok, " << load.errors().size() << " retryable errors, longest call "
            << std::chrono::duration_cast<milliseconds>(load.longest()).count() << " ms\n";
  EXPECT_GE(load.successes(), at_restart + 100) << "the pool did not recover after the restart";
  expect_all_retryable(pool, load.errors());
  // No call hung: each ended within its deadline plus scheduling slack.
  EXPECT_LT(load.longest(), milliseconds(Load::kDeadlineMs * 2 + 1000));
}

TEST(PgFault, FrozenServerCallsEndAtTheirDeadline) {
  RESERVOIR_REQUIRE_PG(env);
  PgPool pool = make_pool(env.url, small_config(2));
  auto lease = pool.acquire(in_ms(5000));
  ASSERT_TRUE(lease);
  ASSERT_TRUE(lease.value()->query("SELECT 1", in_ms(5000)));
  const auto start = Steady::now();
  {
    FrozenServer frozen(env);
    auto q = lease.value()->query("SELECT 1", in_ms(300));
    ASSERT_FALSE(q);
    EXPECT_EQ(q.error().kind(), ErrorKind::timeout) << q.error().message();
    EXPECT_TRUE(lease.value()->is_broken());
    lease.value().release();
    // A new connection cannot be made either: the acquire ends at its deadline.
    auto second = pool.acquire(in_ms(500));
    ASSERT_FALSE(second);
    EXPECT_TRUE(second.error().retryable()) << second.error().message();
    Connector direct = make_connector(env.url);
    auto c = direct.connect(in_ms(300));
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind(), ErrorKind::timeout) << c.error().message();
  }
  EXPECT_LT(Steady::now() - start, std::chrono::seconds(5));
  // Thawed: the pool serves again.
  auto after = pool.acquire(in_ms(10000));
  ASSERT_TRUE(after) << after.error().message();
  auto r = after.value()->query("SELECT 1", in_ms(5000));
  EXPECT_TRUE(r) << r.error().message();
}

TEST(PgFault, IdleSessionTimeoutIsDetectedAtCheckout) {
  RESERVOIR_REQUIRE_PG(env);
  PoolConfig config = small_config(1);
  config.validation_bypass = milliseconds(0);
  config.checkout_check = CheckDepth::fast;  // the closed socket is seen without a round trip
  PgPool pool = make_pool(with_param(env.url, "options", "-c idle_session_timeout=200"), config);
  int pid = 0;
  {
    auto lease = pool.acquire(in_ms(5000));
    ASSERT_TRUE(lease);
    pid = lease.value()->backend_pid();
  }
  std::this_thread::sleep_for(milliseconds(700));  // real server time: the server closes the session
  auto lease = pool.acquire(in_ms(5000));
  ASSERT_TRUE(lease) << lease.error().message();
  EXPECT_NE(lease.value()->backend_pid(), pid);
  auto r = lease.value()->query("SELECT 1", in_ms(5000));
  EXPECT_TRUE(r) << r.error().message();
  EXPECT_EQ(pool.stats().health_failures, 1u);
}

TEST(PgFault, MaxConnectionsGivesAClearError) {
  RESERVOIR_REQUIRE_PG(env);
  Connector connector = make_connector(env.url);
  std::vector<std::unique_ptr<Connection>> hogs;
  std::optional<Error> refused;
  for (int i = 0; i < 100 && !refused; ++i) {
    auto c = connector.connect(in_ms(5000));
    if (c) hogs.push_back(std::move(c).value());
    else refused = c.error();
  }
  ASSERT_TRUE(refused) << "the server accepted 100 connections; max_connections should be 40";
  EXPECT_EQ(refused->kind(), ErrorKind::unavailable);
  EXPECT_EQ(refused->code(), "53300");
  EXPECT_TRUE(refused->retryable());
  EXPECT_NE(refused->message().find("max_connections"), std::string::npos) << refused->message();

  PgPool pool = make_pool(env.url, small_config(2));
  auto lease = pool.acquire(in_ms(1000));
  ASSERT_FALSE(lease);
  EXPECT_NE(lease.error().message().find("53300"), std::string::npos) << lease.error().message();
  std::cout << "[ info     ] connector: " << refused->message() << "\n[ info     ] pool: " << lease.error().message() << "\n";
  hogs.clear();
  auto later = pool.acquire(in_ms(10000));
  ASSERT_TRUE(later) << later.error().message();
}

}  // namespace
}  // namespace reservoir::pg::test
