// The Prometheus exposition: exact text, escaping, weak registration, and promtool's verdict.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "fake_connector.hpp"
#include "reservoir/metrics/exposition.hpp"
#include "reservoir/metrics/registry.hpp"

namespace reservoir::metrics {
namespace {

using namespace std::chrono_literals;
using testing::FakeConnector;

PoolConfig small_config(std::string name) {
  PoolConfig c;
  c.name = std::move(name);
  c.min_idle = 0;
  c.max_size = 3;
  c.max_lifetime = 0ms;
  c.idle_timeout = 0ms;
  c.keepalive_interval = 0ms;
  c.validate_on_checkout = false;
  return c;
}

class RegistryTest : public ::testing::Test {
 protected:
  std::shared_ptr<Pool> make_pool(std::string name) {
    PoolOptions o;
    o.clock = &clock;
    o.start_maintainer = false;
    o.seed = 1;
    auto r = Pool::create(connector, small_config(std::move(name)), o);
    EXPECT_TRUE(r) << r.error().message();
    return std::make_shared<Pool>(std::move(r).value());
  }

  // The lines of `text` that start with `prefix`.
  static std::string lines_starting(const std::string& text, std::string_view prefix) {
    std::string out;
    std::size_t at = 0;
    while (at < text.size()) {
      std::size_t end = text.find('\n', at);
      if (end == std::string::npos) end = text.size();
      std::string_view line(text.data() + at, end - at);
      if (line.starts_with(prefix)) out.append(line).append("\n");
      at = end + 1;
    }
    return out;
  }

  ManualClock clock;
  std::shared_ptr<FakeConnector> connector = std::make_shared<FakeConnector>();
};

TEST(LabelEscaping, EscapesBackslashQuoteAndNewline) {
  std::string out;
  append_label_value(out, "a\\b\"c\nd");
  EXPECT_EQ(out, "a\\\\b\\\"c\\nd");
  std::string help;
  append_help(help, "x\\y\nz\"");
  EXPECT_EQ(help, "x\\\\y\\nz\"");  // HELP keeps quotes as they are
}

TEST_F(RegistryTest, PoolNameIsEscapedInEverySample) {
  Registry registry;
  auto pool = make_pool("we\"ird\\na\nme");
  registry.add_pool(pool);
  const std::string text = registry.render();
  EXPECT_NE(text.find("reservoir_pool_max_connections{pool=\"we\\\"ird\\\\na\\nme\"} 3\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("we\"ird"), std::string::npos);
  EXPECT_EQ(text.find("a\nme"), std::string::npos);
}

TEST_F(RegistryTest, BackendCountersBecomeOneFamilyPerNameWithThePoolLabel) {
  Registry registry;
  connector->counters = {{"statement_cache_hits", "cache hits", 7}, {"statement_cache_misses", "cache misses", 2}};
  auto a = make_pool("a");
  auto b = make_pool("b");
  registry.add_pool(a);
  registry.add_pool(b);
  const std::string text = registry.render();
  EXPECT_EQ(lines_starting(text, "# TYPE reservoir_backend_"),
            "# TYPE reservoir_backend_statement_cache_hits_total counter\n"
            "# TYPE reservoir_backend_statement_cache_misses_total counter\n");
  EXPECT_EQ(lines_starting(text, "reservoir_backend_statement_cache_hits_total"),
            "reservoir_backend_statement_cache_hits_total{pool=\"a\"} 7\n"
            "reservoir_backend_statement_cache_hits_total{pool=\"b\"} 7\n");
  EXPECT_NE(text.find("# HELP reservoir_backend_statement_cache_misses_total cache misses\n"), std::string::npos);
}

TEST_F(RegistryTest, NoBackendFamiliesWithoutBackendCounters) {
  Registry registry;
  auto pool = make_pool("plain");
  registry.add_pool(pool);
  EXPECT_EQ(registry.render().find("reservoir_backend_"), std::string::npos);
}

TEST_F(RegistryTest, ExactTextForOnePool) {
  Registry registry;
  auto pool = make_pool("orders");
  registry.add_pool(pool);
  {
    auto a = pool->acquire();
    auto b = pool->acquire();
    ASSERT_TRUE(a && b);
    b->discard();
  }
  const std::string text = registry.render();
  const std::string families = lines_starting(text, "# TYPE");
  EXPECT_EQ(families,
            "# TYPE reservoir_pool_connections gauge\n"
            "# TYPE reservoir_pool_max_connections gauge\n"
            "# TYPE reservoir_pool_pending_requests gauge\n"
            "# TYPE reservoir_pool_oldest_waiter_age_seconds gauge\n"
            "# TYPE reservoir_pool_size gauge\n"
            "# TYPE reservoir_pool_acquires_total counter\n"
            "# TYPE reservoir_pool_releases_total counter\n"
            "# TYPE reservoir_pool_timeouts_total counter\n"
            "# TYPE reservoir_pool_rejected_total counter\n"
            "# TYPE reservoir_pool_failed_acquires_total counter\n"
            "# TYPE reservoir_pool_created_total counter\n"
            "# TYPE reservoir_pool_failed_connects_total counter\n"
            "# TYPE reservoir_pool_health_checks_total counter\n"
            "# TYPE reservoir_pool_health_failures_total counter\n"
            "# TYPE reservoir_pool_leaks_reported_total counter\n"
            "# TYPE reservoir_pool_slow_acquires_total counter\n"
            "# TYPE reservoir_pool_connections_closed_total counter\n"
            "# TYPE reservoir_pool_acquire_wait_seconds histogram\n"
            "# TYPE reservoir_pool_connect_seconds histogram\n"
            "# TYPE reservoir_pool_use_seconds histogram\n");
  EXPECT_EQ(lines_starting(text, "reservoir_pool_connections{"),
            "reservoir_pool_connections{pool=\"orders\",state=\"idle\"} 1\n"
            "reservoir_pool_connections{pool=\"orders\",state=\"in_use\"} 0\n"
            "reservoir_pool_connections{pool=\"orders\",state=\"connecting\"} 0\n");
  EXPECT_EQ(lines_starting(text, "reservoir_pool_max_connections"),
            "reservoir_pool_max_connections{pool=\"orders\"} 3\n");
  EXPECT_EQ(lines_starting(text, "reservoir_pool_acquires_total"), "reservoir_pool_acquires_total{pool=\"orders\"} 2\n");
  EXPECT_EQ(lines_starting(text, "reservoir_pool_created_total"), "reservoir_pool_created_total{pool=\"orders\"} 2\n");
  EXPECT_EQ(lines_starting(text, "reservoir_pool_connections_closed_total{"),
            "reservoir_pool_connections_closed_total{pool=\"orders\",reason=\"lifetime\"} 0\n"
            "reservoir_pool_connections_closed_total{pool=\"orders\",reason=\"idle\"} 0\n"
            "reservoir_pool_connections_closed_total{pool=\"orders\",reason=\"uses\"} 0\n"
            "reservoir_pool_connections_closed_total{pool=\"orders\",reason=\"broken\"} 1\n"
            "reservoir_pool_connections_closed_total{pool=\"orders\",reason=\"health\"} 0\n"
            "reservoir_pool_connections_closed_total{pool=\"orders\",reason=\"shrink\"} 0\n"
            "reservoir_pool_connections_closed_total{pool=\"orders\",reason=\"shutdown\"} 0\n");
  // Two connects of zero time on the manual clock: every bucket holds both.
  EXPECT_EQ(lines_starting(text, "reservoir_pool_connect_seconds"),
            "reservoir_pool_connect_seconds_bucket{pool=\"orders\",le=\"1e-06\"} 2\n"
            "reservoir_pool_connect_seconds_bucket{pool=\"orders\",le=\"1e-05\"} 2\n"
            "reservoir_pool_connect_seconds_bucket{pool=\"orders\",le=\"1e-04\"} 2\n"
            "reservoir_pool_connect_seconds_bucket{pool=\"orders\",le=\"0.001\"} 2\n"
            "reservoir_pool_connect_seconds_bucket{pool=\"orders\",le=\"0.005\"} 2\n"
            "reservoir_pool_connect_seconds_bucket{pool=\"orders\",le=\"0.01\"} 2\n"
            "reservoir_pool_connect_seconds_bucket{pool=\"orders\",le=\"0.025\"} 2\n"
            "reservoir_pool_connect_seconds_bucket{pool=\"orders\",le=\"0.05\"} 2\n"
            "reservoir_pool_connect_seconds_bucket{pool=\"orders\",le=\"0.1\"} 2\n"
            "reservoir_pool_connect_seconds_bucket{pool=\"orders\",le=\"0.25\"} 2\n"
            "reservoir_pool_connect_seconds_bucket{pool=\"orders\",le=\"0.5\"} 2\n"
            "reservoir_pool_connect_seconds_bucket{pool=\"orders\",le=\"1\"} 2\n"
            "reservoir_pool_connect_seconds_bucket{pool=\"orders\",le=\"2.5\"} 2\n"
            "reservoir_pool_connect_seconds_bucket{pool=\"orders\",le=\"5\"} 2\n"
            "reservoir_pool_connect_seconds_bucket{pool=\"orders\",le=\"10\"} 2\n"
            "reservoir_pool_connect_seconds_bucket{pool=\"orders\",le=\"+Inf\"} 2\n"
            "reservoir_pool_connect_seconds_sum{pool=\"orders\"} 0\n"
            "reservoir_pool_connect_seconds_count{pool=\"orders\"} 2\n");
  // Two leases held for no time on the manual clock.
  EXPECT_EQ(lines_starting(text, "reservoir_pool_use_seconds_bucket{pool=\"orders\",le=\"1e-06\"}"),
            "reservoir_pool_use_seconds_bucket{pool=\"orders\",le=\"1e-06\"} 2\n");
  EXPECT_EQ(lines_starting(text, "reservoir_pool_use_seconds_count"), "reservoir_pool_use_seconds_count{pool=\"orders\"} 2\n");
  EXPECT_EQ(lines_starting(text, "# HELP reservoir_pool_timeouts_total"),
            "# HELP reservoir_pool_timeouts_total acquisitions that ended at their deadline\n");
}

TEST_F(RegistryTest, ExactTextForBreakerBudgetAndOperation) {
  Registry registry;
  auto breaker = CircuitBreaker::create("db:5432", {.consecutive_failures = 1}, clock).value();
  registry.add_breaker(breaker);
  auto permit = breaker->allow();
  ASSERT_TRUE(permit);
  breaker->record_failure(*permit);
  auto budget = RetryBudget::create(clock, {.ratio = 0.5, .min_retries_per_second = 0}).value();
  registry.add_retry_budget("db", budget);
  budget->record_request();
  budget->record_request();
  auto op = registry.declare_operation("transfer").value();
  op->record({.attempts = 3, .last_verdict = RetryVerdict::attempts_exhausted, .backoff = 250ms}, false);
  op->record({.attempts = 1}, true);
  EXPECT_EQ(registry.render(),
            "# HELP reservoir_breaker_state circuit breaker state: 0 closed, 1 open, 2 half_open\n"
            "# TYPE reservoir_breaker_state gauge\n"
            "reservoir_breaker_state{endpoint=\"db:5432\"} 1\n"
            "# HELP reservoir_breaker_open 1 while the circuit breaker is open\n"
            "# TYPE reservoir_breaker_open gauge\n"
            "reservoir_breaker_open{endpoint=\"db:5432\"} 1\n"
            "# HELP reservoir_breaker_transitions_total state transitions since registration\n"
            "# TYPE reservoir_breaker_transitions_total counter\n"
            "reservoir_breaker_transitions_total{endpoint=\"db:5432\",from=\"closed\",to=\"open\"} 1\n"
            "reservoir_breaker_transitions_total{endpoint=\"db:5432\",from=\"closed\",to=\"half_open\"} 0\n"
            "reservoir_breaker_transitions_total{endpoint=\"db:5432\",from=\"open\",to=\"closed\"} 0\n"
            "reservoir_breaker_transitions_total{endpoint=\"db:5432\",from=\"open\",to=\"half_open\"} 0\n"
            "reservoir_breaker_transitions_total{endpoint=\"db:5432\",from=\"half_open\",to=\"closed\"} 0\n"
            "reservoir_breaker_transitions_total{endpoint=\"db:5432\",from=\"half_open\",to=\"open\"} 0\n"
            "# HELP reservoir_breaker_trips_total transitions to open\n"
            "# TYPE reservoir_breaker_trips_total counter\n"
            "reservoir_breaker_trips_total{endpoint=\"db:5432\"} 1\n"
            "# HELP reservoir_breaker_rejected_total calls refused with circuit_open\n"
            "# TYPE reservoir_breaker_rejected_total counter\n"
            "reservoir_breaker_rejected_total{endpoint=\"db:5432\"} 0\n"
            "# HELP reservoir_breaker_probes_total half-open calls admitted\n"
            "# TYPE reservoir_breaker_probes_total counter\n"
            "reservoir_breaker_probes_total{endpoint=\"db:5432\"} 0\n"
            "# HELP reservoir_breaker_successes_total successful outcomes recorded\n"
            "# TYPE reservoir_breaker_successes_total counter\n"
            "reservoir_breaker_successes_total{endpoint=\"db:5432\"} 0\n"
            "# HELP reservoir_breaker_failures_total failed outcomes recorded\n"
            "# TYPE reservoir_breaker_failures_total counter\n"
            "reservoir_breaker_failures_total{endpoint=\"db:5432\"} 1\n"
            "# HELP reservoir_retry_budget_requests first attempts in the budget's window\n"
            "# TYPE reservoir_retry_budget_requests gauge\n"
            "reservoir_retry_budget_requests{budget=\"db\"} 2\n"
            "# HELP reservoir_retry_budget_retries retries granted in the window\n"
            "# TYPE reservoir_retry_budget_retries gauge\n"
            "reservoir_retry_budget_retries{budget=\"db\"} 0\n"
            "# HELP reservoir_retry_budget_allowed retries the window allows in total\n"
            "# TYPE reservoir_retry_budget_allowed gauge\n"
            "reservoir_retry_budget_allowed{budget=\"db\"} 1\n"
            "# HELP reservoir_retry_budget_rejected_total retries refused\n"
            "# TYPE reservoir_retry_budget_rejected_total counter\n"
            "reservoir_retry_budget_rejected_total{budget=\"db\"} 0\n"
            "# HELP reservoir_retry_attempts_total attempts of run() calls by declared operation: success, "
            "failure (the last attempt), retried\n"
            "# TYPE reservoir_retry_attempts_total counter\n"
            "reservoir_retry_attempts_total{operation=\"transfer\",outcome=\"success\"} 1\n"
            "reservoir_retry_attempts_total{operation=\"transfer\",outcome=\"failure\"} 1\n"
            "reservoir_retry_attempts_total{operation=\"transfer\",outcome=\"retried\"} 2\n"
            "# HELP reservoir_retry_gave_up_total failed calls by the verdict that stopped retrying\n"
            "# TYPE reservoir_retry_gave_up_total counter\n"
            "reservoir_retry_gave_up_total{operation=\"transfer\",verdict=\"attempts_exhausted\"} 1\n"
            "# HELP reservoir_retry_backoff_seconds_total time spent waiting between attempts\n"
            "# TYPE reservoir_retry_backoff_seconds_total counter\n"
            "reservoir_retry_backoff_seconds_total{operation=\"transfer\"} 0.25\n");
}

TEST_F(RegistryTest, OldestWaiterAgeGrowsWhileACallerQueues) {
  Registry registry;
  auto pool = make_pool("orders");
  registry.add_pool(pool);
  std::vector<Lease> held;
  for (int i = 0; i < 3; ++i) held.push_back(std::move(pool->acquire().value()));
  EXPECT_EQ(lines_starting(registry.render(), "reservoir_pool_oldest_waiter_age_seconds{"),
            "reservoir_pool_oldest_waiter_age_seconds{pool=\"orders\"} 0\n");
  std::thread waiter([&] { EXPECT_TRUE(pool->acquire(Deadline::after(clock, 10s))); });
  for (int i = 0; i < 5000 && clock.waiters() == 0; ++i) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(pool->load().waiting, 1u);
  clock.advance(1500ms);
  EXPECT_EQ(pool->load().oldest_wait, 1500ms);
  EXPECT_EQ(lines_starting(registry.render(), "reservoir_pool_oldest_waiter_age_seconds{"),
            "reservoir_pool_oldest_waiter_age_seconds{pool=\"orders\"} 1.5\n");
  held.pop_back();  // hands a connection to the waiter
  waiter.join();
  EXPECT_EQ(pool->stats().oldest_wait, Duration::zero());
}

TEST_F(RegistryTest, DestroyedPoolDisappearsFromOutput) {
  Registry registry;
  auto kept = make_pool("kept");
  auto gone = make_pool("gone");
  registry.add_pool(kept);
  registry.add_pool(gone);
  EXPECT_NE(registry.render().find("pool=\"gone\""), std::string::npos);
  gone.reset();
  const std::string text = registry.render();
  EXPECT_EQ(text.find("pool=\"gone\""), std::string::npos);
  EXPECT_NE(text.find("pool=\"kept\""), std::string::npos);
  EXPECT_EQ(registry.live_pools().size(), 1u);
}

TEST_F(RegistryTest, DestroyedBreakerAndBudgetDisappear) {
  Registry registry;
  auto breaker = CircuitBreaker::create("db:1", {}, clock).value();
  auto budget = RetryBudget::create(clock).value();
  registry.add_breaker(breaker);
  registry.add_retry_budget("b", budget);
  breaker.reset();
  budget.reset();
  EXPECT_EQ(registry.render(), "");
}

TEST_F(RegistryTest, OperationNamesAreBounded) {
  Registry registry;
  auto first = registry.declare_operation("op0");
  ASSERT_TRUE(first);
  EXPECT_EQ(registry.declare_operation("op0").value(), first.value());  // same name, same counters
  for (std::size_t i = 1; i < Registry::kMaxOperations; ++i)
    ASSERT_TRUE(registry.declare_operation("op" + std::to_string(i)));
  auto over = registry.declare_operation("one-too-many");
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().kind(), ErrorKind::invalid_argument);
}

// Prometheus' own linter on real output: a pool, a breaker, a budget and an operation.
TEST_F(RegistryTest, PromtoolAcceptsTheOutput) {
  ASSERT_EQ(std::system("command -v promtool >/dev/null"), 0)
      << "promtool missing: install Debian's prometheus (scripts/setup.sh)";
  Registry registry;
  connector->counters = {{"statement_cache_hits", "statements run from the prepared-statement cache", 3}};
  auto pool = make_pool("orders \"eu\"");
  registry.add_pool(pool);
  { auto lease = pool->acquire(); }
  auto breaker = CircuitBreaker::create("db:5432", {}, clock).value();
  registry.add_breaker(breaker);
  auto budget = RetryBudget::create(clock).value();
  registry.add_retry_budget("db", budget);
  registry.declare_operation("transfer").value()->record({.attempts = 2, .last_verdict = RetryVerdict::not_retryable}, false);

  const std::string path = ::testing::TempDir() + "reservoir_metrics_promtool.txt";
  std::ofstream(path) << registry.render();
  const std::string out_path = path + ".out";
  const int rc = std::system(("promtool check metrics < '" + path + "' > '" + out_path + "' 2>&1").c_str());
  std::ifstream in(out_path);
  const std::string verdict((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(rc, 0) << verdict;
  EXPECT_EQ(verdict, "") << "promtool lint findings";
  std::remove(path.c_str());
  std::remove(out_path.c_str());
}

}  // namespace
}  // namespace reservoir::metrics
