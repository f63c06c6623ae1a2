#include "reservoir/run.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "jump_clock.hpp"
#include "scripted_connector.hpp"

namespace reservoir {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::ScriptedConnection;
using testing::JumpClock;
using testing::Script;
using testing::ScriptedConnector;

// Single-threaded: every wait (a backoff, a pool wait nobody can end) jumps the JumpClock to
// its target, so the tests observe time without sleeping.
class RunTest : public ::testing::Test {
 protected:
  TypedPool<ScriptedConnector> make_pool(std::shared_ptr<ConnectGate> gate = nullptr) {
    PoolConfig config;
    config.min_idle = 0;
    config.max_size = 2;
    config.validate_on_checkout = false;
    PoolOptions options;
    options.clock = &clock_;
    options.start_maintainer = false;
    options.seed = 1;
    options.connect_gate = std::move(gate);
    auto pool = TypedPool<ScriptedConnector>::create(config, std::move(options), script_);
    EXPECT_TRUE(pool.ok()) << pool.error().message();
    return std::move(pool).value();
  }
  RunOptions options(std::uint32_t attempts = 3, Duration delay = milliseconds(100)) {
    RunOptions o;
    o.timeout = seconds(5);
    o.retry.max_attempts = attempts;
    o.retry.backoff = {.initial = delay, .multiplier = 1.0, .cap = delay, .jitter = Jitter::none};
    o.idempotent = true;
    o.seed = 1;
    o.report = &report_;
    return o;
  }
  void TearDown() override { EXPECT_EQ(script_->open_now(), 0) << "every connection opened was closed"; }

  JumpClock clock_;
  std::shared_ptr<Script> script_ = std::make_shared<Script>();
  RunReport report_;
};

TEST_F(RunTest, RetriesARetryableErrorAndReturnsTheValue) {
  auto pool = make_pool();
  auto r = run(pool, [&](ScriptedConnection& c, Attempt& a) -> Result<int> {
    if (a.number() == 1) {
      c.broken = true;
      return Error::unavailable("fake:1", "connection reset by peer");
    }
    return 42;
  }, options());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, 42);
  EXPECT_EQ(report_.attempts, 2u);
  EXPECT_EQ(clock_.waits().front(), milliseconds(100));
  EXPECT_TRUE(pool.shutdown(seconds(1)).ok());
  EXPECT_EQ(script_->opened, 2) << "the broken connection was replaced, not reused";
}

TEST_F(RunTest, DoesNotRetryANonRetryableErrorAndKeepsTheConnection) {
  auto pool = make_pool();
  int calls = 0;
  auto s = run(pool, [&](ScriptedConnection&) -> Status {
    ++calls;
    return Error(ErrorKind::backend, "fake:1: syntax error", false, "42601");
  }, options());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind(), ErrorKind::backend);
  EXPECT_EQ(calls, 1);
  auto again = run(pool, [&](ScriptedConnection& c) -> Result<int> { return c.id; }, options());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 1) << "a backend error leaves the connection healthy and pooled";
  EXPECT_TRUE(pool.shutdown(seconds(1)).ok());
}

TEST_F(RunTest, UsesTheConnectorsClassification) {
  script_->retryable_code = "40001";  // serialization failure: retry the transaction
  auto pool = make_pool();
  int calls = 0;
  auto s = run(pool, [&](ScriptedConnection&) -> Status {
    if (++calls == 1) return Error(ErrorKind::backend, "fake:1: could not serialize access", false, "40001");
    return {};
  }, options());
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(pool.shutdown(seconds(1)).ok());
}

TEST_F(RunTest, DiscardsTheConnectionOnUnavailableAndTimeout) {
  auto pool = make_pool();
  // The connection is not marked broken: only run()'s discard keeps it out of the pool.
  auto timed_out = run(pool, [&](ScriptedConnection&) -> Status { return Error::timeout("fake:1: query timed out"); },
                       options(1));
  ASSERT_FALSE(timed_out.ok());
  EXPECT_EQ(script_->closed, 1);
  EXPECT_EQ(pool.stats().idle, 0u);
  auto lost = run(pool, [&](ScriptedConnection&) -> Status { return Error::unavailable("fake:1", "connection lost"); },
                  options(1));
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(script_->opened, 2);
  EXPECT_EQ(script_->closed, 2);
  EXPECT_EQ(pool.stats().idle, 0u);
  EXPECT_TRUE(pool.shutdown(seconds(1)).ok());
}

TEST_F(RunTest, NonIdempotentIsRetriedOnlyWhenTheRequestNeverLeft) {
  auto pool = make_pool();
  RunOptions o = options();
  o.idempotent = false;
  int calls = 0;
  auto sent = run(pool, [&](ScriptedConnection&) -> Status {
    ++calls;
    return Error::unavailable("fake:1", "connection reset by peer");
  }, o);
  ASSERT_FALSE(sent.ok());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(report_.last_verdict, RetryVerdict::not_idempotent);
  calls = 0;
  auto unsent = run(pool, [&](ScriptedConnection&, Attempt& a) -> Status {
    if (++calls == 1) {
      a.set_request_sent(false);  // found the socket dead before writing
      return Error::unavailable("fake:1", "connection reset by peer");
    }
    return {};
  }, o);
  EXPECT_TRUE(unsent.ok());
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(pool.shutdown(seconds(1)).ok());
}

TEST_F(RunTest, StopsAtTheDeadlineWhileTheServerIsDown) {
  script_->down = true;
  auto pool = make_pool();
  RunOptions o = options(100, milliseconds(200));
  o.timeout = seconds(1);
  const TimePoint start = clock_.now();
  auto s = run(pool, [&](ScriptedConnection&) -> Status { return {}; }, o);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().kind() == ErrorKind::unavailable || s.error().kind() == ErrorKind::timeout)
      << s.error().message();
  EXPECT_LE(clock_.now() - start, seconds(1)) << "never past the deadline";
  EXPECT_GE(report_.attempts, 2u);
  EXPECT_LE(report_.attempts, 6u);
  EXPECT_TRUE(pool.shutdown(seconds(1)).ok());
}

// With refused_probe_interval off, only the open time paces the probes (the refused cadence:
// breaker_test.cpp and gate_pool_test.cpp).
TEST_F(RunTest, BreakerAsConnectGateFailsFastWhileDownAndProbesOnce) {
  auto breaker = CircuitBreaker::create(
      "fake:1", {.consecutive_failures = 3, .open_time = seconds(5), .refused_probe_interval = Duration::zero()}, clock_);
  ASSERT_TRUE(breaker.ok());
  script_->down = true;
  auto pool = make_pool(*breaker);
  RunOptions o = options(5, milliseconds(100));
  o.breaker = *breaker;
  auto first = run(pool, [&](ScriptedConnection&) -> Status { return {}; }, o);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ((*breaker)->state(), BreakerState::open);
  const int connects = script_->connect_count();
  EXPECT_LE(connects, 3) << "the breaker cut the connect attempts";

  auto fast = run(pool, [&](ScriptedConnection&) -> Status { return {}; }, o);
  ASSERT_FALSE(fast.ok());
  EXPECT_EQ(fast.error().kind(), ErrorKind::circuit_open);
  EXPECT_NE(fast.error().message().find("next probe in"), std::string::npos);
  EXPECT_EQ(script_->connect_count(), connects) << "no connect while open";

  script_->set_down(false);
  clock_.advance(seconds(5));
  auto back = run(pool, [&](ScriptedConnection& c) -> Result<int> { return c.id; }, o);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(script_->connect_count(), connects + 1) << "exactly one probe connect";
  EXPECT_EQ((*breaker)->state(), BreakerState::closed);
  EXPECT_TRUE(pool.shutdown(seconds(1)).ok());
}

// A call whose probe connect was refused retries at the breaker's next probe (25 ms later),
// not after its 500 ms backoff: callers asleep in long backoffs would leave nobody to find
// the server back. Each retry is still one probe; the attempts stay max_attempts.
TEST_F(RunTest, AfterARefusedProbeTheRetryWaitsForTheBreakersNextProbeNotTheBackoff) {
  auto breaker = CircuitBreaker::create("fake:1", {.consecutive_failures = 1, .open_time = seconds(5)}, clock_);
  ASSERT_TRUE(breaker.ok());
  script_->down = true;
  auto pool = make_pool(*breaker);
  RunOptions o = options(3, milliseconds(500));
  o.breaker = *breaker;
  auto noop = [](ScriptedConnection&) -> Status { return {}; };
  const TimePoint start = clock_.now();
  EXPECT_FALSE(run(pool, noop, o).ok());
  EXPECT_EQ(report_.attempts, 3u);
  EXPECT_EQ(report_.backoff, milliseconds(50)) << "two waits for the next probe, 25 ms each";
  EXPECT_EQ(clock_.now() - start, milliseconds(50));
  EXPECT_EQ(script_->connect_count(), 3) << "the trip, then one probe per retry";

  script_->set_down(false);
  EXPECT_EQ(run(pool, noop, o).error().kind(), ErrorKind::circuit_open) << "open: refused before an acquire";
  clock_.advance(milliseconds(25));
  EXPECT_TRUE(run(pool, noop, o).ok());
  EXPECT_EQ((*breaker)->state(), BreakerState::closed);
  EXPECT_TRUE(pool.shutdown(seconds(1)).ok());
}

// A failure after the request was sent keeps its backoff: the breaker paces connects, not
// the calls that reached the server.
TEST_F(RunTest, AFailedCallKeepsItsBackoffWhileTheBreakerIsOpen) {
  auto breaker = CircuitBreaker::create("fake:1", {.consecutive_failures = 1, .open_time = seconds(5)}, clock_);
  ASSERT_TRUE(breaker.ok());
  auto pool = make_pool(*breaker);
  RunOptions o = options(2, milliseconds(500));
  o.breaker = *breaker;
  int calls = 0;
  auto failing = [&](ScriptedConnection&) -> Status {
    ++calls;
    return Error::unavailable("fake:1", "connection reset by peer");
  };
  EXPECT_FALSE(run(pool, failing, o).ok());
  EXPECT_EQ(calls, 1) << "the retry met the open breaker";
  EXPECT_EQ(report_.backoff, milliseconds(500));
  EXPECT_TRUE(pool.shutdown(seconds(1)).ok());
}

TEST_F(RunTest, BreakerThatIsNotTheGateCanCountAcquireFailures) {
  auto breaker = CircuitBreaker::create("fake:1", {.consecutive_failures = 2, .open_time = seconds(5)}, clock_);
  ASSERT_TRUE(breaker.ok());
  script_->down = true;
  auto pool = make_pool();  // no gate
  RunOptions o = options(1);
  o.breaker = *breaker;
  auto noop = [](ScriptedConnection&) -> Status { return {}; };
  EXPECT_FALSE(run(pool, noop, o).ok());
  EXPECT_FALSE(run(pool, noop, o).ok());
  EXPECT_EQ((*breaker)->state(), BreakerState::closed) << "by default acquire failures are the gate's to count";
  o.breaker_counts_acquire_failures = true;
  EXPECT_FALSE(run(pool, noop, o).ok());
  EXPECT_FALSE(run(pool, noop, o).ok());
  EXPECT_EQ((*breaker)->state(), BreakerState::open);
  const int connects = script_->connect_count();
  EXPECT_EQ(run(pool, noop, o).error().kind(), ErrorKind::circuit_open);
  EXPECT_EQ(script_->connect_count(), connects);
  EXPECT_TRUE(pool.shutdown(seconds(1)).ok());
}

TEST_F(RunTest, BreakerJudgesOperationOutcomes) {
  auto breaker = CircuitBreaker::create("fake:1", {.consecutive_failures = 2, .open_time = seconds(5)}, clock_);
  ASSERT_TRUE(breaker.ok());
  auto pool = make_pool();
  RunOptions o = options(1);
  o.breaker = *breaker;
  auto backend = [&](ScriptedConnection&) -> Status { return Error(ErrorKind::backend, "fake:1: bad", false); };
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(run(pool, backend, o).ok());
  EXPECT_EQ((*breaker)->state(), BreakerState::closed) << "the server answered: not a breaker failure";
  auto timeout = [&](ScriptedConnection&) -> Status { return Error::timeout("fake:1: query timed out"); };
  EXPECT_FALSE(run(pool, timeout, o).ok());
  EXPECT_FALSE(run(pool, timeout, o).ok());
  EXPECT_EQ((*breaker)->state(), BreakerState::open);
  EXPECT_TRUE(pool.shutdown(seconds(1)).ok());
}

TEST_F(RunTest, SharedBudgetRefusesRetriesOnceSpent) {
  auto budget = RetryBudget::create(clock_, {.ratio = 0.0, .min_retries_per_second = 1, .window = seconds(1)});
  ASSERT_TRUE(budget.ok());
  auto pool = make_pool();
  RunOptions o = options(5);
  o.budget = *budget;
  int calls = 0;
  auto flaky = [&](ScriptedConnection&) -> Status {
    ++calls;
    return Error(ErrorKind::busy, "fake:1: lock not available", true);
  };
  EXPECT_FALSE(run(pool, flaky, o).ok());
  EXPECT_EQ(calls, 2) << "one retry from the 1/s floor, then the budget is spent";
  EXPECT_EQ(report_.last_verdict, RetryVerdict::budget_exhausted);
  calls = 0;
  EXPECT_FALSE(run(pool, flaky, o).ok());
  EXPECT_EQ(calls, 1) << "another caller finds the budget spent";
  EXPECT_EQ((*budget)->stats().requests, 2u);
  EXPECT_TRUE(pool.shutdown(seconds(1)).ok());
}

TEST_F(RunTest, ThrowingOperationHandsItsProbeBack) {
  auto breaker = CircuitBreaker::create("fake:1", {.consecutive_failures = 1, .open_time = seconds(5)}, clock_);
  ASSERT_TRUE(breaker.ok());
  auto p = (*breaker)->allow();
  (*breaker)->record_failure(*p);
  clock_.advance(seconds(5));
  auto pool = make_pool();
  RunOptions o = options(1);
  o.breaker = *breaker;
  EXPECT_THROW((void)run(pool, [](ScriptedConnection&) -> Status { throw std::runtime_error("bug"); }, o),
               std::runtime_error);
  EXPECT_EQ((*breaker)->state(), BreakerState::half_open);
  auto s = run(pool, [](ScriptedConnection&) -> Status { return {}; }, o);
  EXPECT_TRUE(s.ok()) << "the probe slot was freed: " << s.error().message();
  EXPECT_EQ((*breaker)->state(), BreakerState::closed);
  EXPECT_TRUE(pool.shutdown(seconds(1)).ok());
}

TEST_F(RunTest, UntypedPoolRunsOnTheOpaqueConnection) {
  auto typed = make_pool();
  Pool& pool = typed.untyped();
  bool ran = false;
  auto s = run(pool, [&](Connection& c) -> Status {
    ran = ConnectorAdapter<ScriptedConnector>::cast(c).id == 1;
    return {};
  }, options());
  EXPECT_TRUE(s.ok());
  EXPECT_TRUE(ran);
  EXPECT_TRUE(pool.shutdown(seconds(1)).ok());
}

}  // namespace
}  // namespace reservoir
