#include "reservoir/retry.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "jump_clock.hpp"
#include "reservoir/run.hpp"

namespace reservoir {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::JumpClock;

RetryPolicy fixed_policy(std::uint32_t attempts, Duration delay) {
  RetryPolicy p;
  p.max_attempts = attempts;
  p.backoff = {.initial = delay, .multiplier = 1.0, .cap = delay, .jitter = Jitter::none};
  return p;
}

Error refused() { return Error::unavailable("db:5432", "connection refused"); }
Error syntax() { return Error(ErrorKind::backend, "db:5432: syntax error", false, "42601"); }

class RetrierTest : public ::testing::Test {
 protected:
  // One failed attempt; returns the verdict.
  RetryVerdict fail(Retrier& r, const Error& e, bool idempotent = true, bool sent = true) {
    Attempt a = r.start_attempt();
    a.set_request_sent(sent);
    return r.on_failure(e, e.retryable(), idempotent, a).verdict;
  }
  ManualClock clock_;
};

TEST_F(RetrierTest, RetryableErrorIsRetriedUntilAttemptsRunOut) {
  const RetryPolicy p = fixed_policy(3, milliseconds(10));
  Retrier r(p, Deadline::after(clock_, seconds(10)), nullptr, 1);
  EXPECT_EQ(fail(r, refused()), RetryVerdict::retry);
  EXPECT_EQ(fail(r, refused()), RetryVerdict::retry);
  EXPECT_EQ(fail(r, refused()), RetryVerdict::attempts_exhausted);
}

TEST_F(RetrierTest, NonRetryableErrorIsNotRetried) {
  const RetryPolicy p = fixed_policy(3, milliseconds(10));
  Retrier r(p, Deadline::after(clock_, seconds(10)), nullptr, 1);
  EXPECT_EQ(fail(r, syntax()), RetryVerdict::not_retryable);
}

TEST_F(RetrierTest, PolicyKindListsOverrideTheClassification) {
  RetryPolicy p = fixed_policy(3, milliseconds(10));
  p.also_retry.add(ErrorKind::backend);
  Retrier r(p, Deadline::after(clock_, seconds(10)), nullptr, 1);
  EXPECT_EQ(fail(r, syntax()), RetryVerdict::retry);
  // A connector that calls circuit_open retryable is overruled by never_retry.
  Attempt a = r.start_attempt();
  EXPECT_EQ(r.on_failure(Error::make(ErrorKind::circuit_open, "x"), true, true, a).verdict,
            RetryVerdict::not_retryable);
}

TEST_F(RetrierTest, QuotaExceededIsNeverRetried) {
  const RetryPolicy p = fixed_policy(3, milliseconds(10));
  EXPECT_FALSE(Error::default_retryable(ErrorKind::quota_exceeded));
  Retrier r(p, Deadline::after(clock_, seconds(10)), nullptr, 1);
  Attempt a = r.start_attempt();
  // Even a connector that calls it retryable is overruled.
  EXPECT_EQ(r.on_failure(Error::make(ErrorKind::quota_exceeded, "tenant \"a\": max_leases=2 held"), true, true, a).verdict,
            RetryVerdict::not_retryable);
}

TEST_F(RetrierTest, NonIdempotentIsRetriedOnlyIfTheRequestNeverLeft) {
  const RetryPolicy p = fixed_policy(5, milliseconds(10));
  Retrier r(p, Deadline::after(clock_, seconds(10)), nullptr, 1);
  EXPECT_EQ(fail(r, refused(), /*idempotent=*/false, /*sent=*/false), RetryVerdict::retry);
  EXPECT_EQ(fail(r, Error::timeout("db:5432: query timed out"), false, true), RetryVerdict::not_idempotent);
  Retrier idempotent(p, Deadline::after(clock_, seconds(10)), nullptr, 1);
  EXPECT_EQ(fail(idempotent, Error::timeout("db:5432: query timed out"), true, true), RetryVerdict::retry);
}

// A request that left but certainly did not run (a statement the server skipped behind a
// failed session reset) cannot run twice: retried like one that never left.
TEST_F(RetrierTest, NonIdempotentIsRetriedWhenTheErrorSaysItNeverRan) {
  const RetryPolicy p = fixed_policy(5, milliseconds(10));
  Retrier r(p, Deadline::after(clock_, seconds(10)), nullptr, 1);
  Error skipped = Error::unavailable("db:5432", "session reset failed: terminated").mark_not_executed();
  EXPECT_TRUE(skipped.not_executed());
  EXPECT_EQ(fail(r, skipped, /*idempotent=*/false, /*sent=*/true), RetryVerdict::retry);
  EXPECT_EQ(fail(r, Error::unavailable("db:5432", "connection lost"), false, true), RetryVerdict::not_idempotent);
  // The fact survives the explanation appended to a final error.
  EXPECT_TRUE(Retrier::explain(skipped, RetryVerdict::attempts_exhausted, 5).not_executed());
}

TEST_F(RetrierTest, NoAttemptStartsWhoseBackoffWouldEndPastTheDeadline) {
  RetryPolicy p;
  p.max_attempts = 10;
  p.backoff = {.initial = milliseconds(400), .multiplier = 2.0, .cap = seconds(30), .jitter = Jitter::none};
  Retrier r(p, Deadline::after(clock_, seconds(1)), nullptr, 1);
  Attempt a = r.start_attempt();
  a.set_request_sent(true);
  auto d = r.on_failure(refused(), true, true, a);
  EXPECT_EQ(d.verdict, RetryVerdict::retry);
  EXPECT_EQ(d.delay, milliseconds(400));
  clock_.advance(milliseconds(450));  // backoff + attempt time
  a = r.start_attempt();
  d = r.on_failure(refused(), true, true, a);
  EXPECT_EQ(d.verdict, RetryVerdict::past_deadline) << "800 ms backoff, 550 ms left";
}

TEST_F(RetrierTest, BudgetIsSpentOnlyOnRetriesThatHappen) {
  auto budget = RetryBudget::create(clock_, {.ratio = 0.0, .min_retries_per_second = 0, .window = seconds(10)});
  ASSERT_TRUE(budget.ok());
  const RetryPolicy p = fixed_policy(3, milliseconds(10));
  Retrier r(p, Deadline::after(clock_, seconds(10)), budget->get(), 1);
  EXPECT_EQ(fail(r, refused()), RetryVerdict::budget_exhausted);
  EXPECT_EQ((*budget)->stats().requests, 1u) << "the first attempt counts as a request";

  auto roomy = RetryBudget::create(clock_, {.ratio = 0.0, .min_retries_per_second = 1, .window = seconds(1)});
  Retrier r2(p, Deadline::after(clock_, seconds(10)), roomy->get(), 1);
  EXPECT_EQ(fail(r2, syntax()), RetryVerdict::not_retryable);
  EXPECT_EQ((*roomy)->stats().retries, 0u);
  EXPECT_EQ(fail(r2, refused()), RetryVerdict::retry);
  EXPECT_EQ((*roomy)->stats().retries, 1u);
  EXPECT_EQ((*roomy)->stats().requests, 1u) << "a retry is not a new request";
}

TEST_F(RetrierTest, ExplainAppendsWhyAndKeepsKindAndCode) {
  const Error e = Retrier::explain(Error(ErrorKind::timeout, "db:5432: query", true, "57014"),
                                   RetryVerdict::attempts_exhausted, 3);
  EXPECT_EQ(e.message(), "timeout: db:5432: query (not retried after 3 attempts: attempts_exhausted)");
  EXPECT_EQ(e.code(), "57014");
  EXPECT_EQ(Retrier::explain(syntax(), RetryVerdict::not_retryable, 1).message(), syntax().message());
}

TEST_F(RetrierTest, ValidateNamesField) {
  RetryPolicy p;
  p.max_attempts = 0;
  EXPECT_EQ(p.validate().error().message(), "invalid_config: retry.max_attempts=0: allowed 1..100");
  p.max_attempts = 3;
  p.backoff.multiplier = 0;
  EXPECT_EQ(p.validate().error().message(), "invalid_config: backoff.multiplier=0: allowed 1..16");
}

// An ErrorKind outside the enum was shifted past the set's width (undefined) and ignored.
TEST_F(RetrierTest, ValidateRefusesUnknownErrorKinds) {
  RetryPolicy p;
  p.never_retry.add(static_cast<ErrorKind>(40));
  EXPECT_EQ(p.validate().error().message(),
            "invalid_config: retry.never_retry=(a set holding an unknown ErrorKind): allowed the kinds timeout..internal");
  p = {};
  p.also_retry = {ErrorKind::timeout, static_cast<ErrorKind>(static_cast<int>(ErrorKind::internal) + 1)};
  EXPECT_EQ(p.validate().error().message(),
            "invalid_config: retry.also_retry=(a set holding an unknown ErrorKind): allowed the kinds timeout..internal");
  p = {};
  p.also_retry = {ErrorKind::internal, ErrorKind::timeout};
  EXPECT_TRUE(p.validate());
}

// ---- the pool-independent retry loop under run() --------------------------------------------

class RetryLoopTest : public ::testing::Test {
 protected:
  // Runs the loop over a scripted list of attempt outcomes (OK when the script runs out).
  Status loop(const RunOptions& options, Deadline deadline, std::vector<Status> script,
              bool sent_before_failing = true) {
    std::size_t next = 0;
    auto classify = [](const Error& e) { return e.retryable(); };
    auto attempt = [&](Attempt& a) -> Status {
      ++calls_;
      a.set_request_sent(sent_before_failing);
      return next < script.size() ? script[next++] : Status{};
    };
    return detail::retry_loop(options, deadline, classify, attempt);
  }
  RunOptions options(std::uint32_t attempts, Duration delay) {
    RunOptions o;
    o.retry = fixed_policy(attempts, delay);
    o.idempotent = true;
    o.report = &report_;
    return o;
  }
  JumpClock clock_;
  RunReport report_;
  int calls_ = 0;
};

TEST_F(RetryLoopTest, RetriesARetryableErrorThenSucceeds) {
  auto s = loop(options(5, milliseconds(100)), Deadline::after(clock_, seconds(5)), {refused(), refused()});
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(calls_, 3);
  EXPECT_EQ(report_.attempts, 3u);
  EXPECT_EQ(clock_.waits(), (std::vector<Duration>{milliseconds(100), milliseconds(100)}));
}

TEST_F(RetryLoopTest, RefusesRunOptionsHoldingAnUnknownErrorKind) {
  RunOptions o = options(3, milliseconds(1));
  o.discard_on.add(static_cast<ErrorKind>(99));
  auto s = loop(o, Deadline::after(clock_, seconds(5)), {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message(),
            "invalid_config: run.discard_on=(a set holding an unknown ErrorKind): allowed the kinds timeout..internal");
  EXPECT_EQ(calls_, 0);
}

TEST_F(RetryLoopTest, DoesNotRetryANonRetryableError) {
  auto s = loop(options(5, milliseconds(100)), Deadline::after(clock_, seconds(5)), {syntax()});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message(), syntax().message());
  EXPECT_EQ(calls_, 1);
  EXPECT_EQ(report_.last_verdict, RetryVerdict::not_retryable);
  EXPECT_TRUE(clock_.waits().empty());
}

TEST_F(RetryLoopTest, StopsBeforeTheDeadline) {
  const Deadline deadline = Deadline::after(clock_, seconds(1));
  auto s = loop(options(100, milliseconds(300)), deadline, std::vector<Status>(100, refused()));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(calls_, 4) << "attempts at 0, 300, 600, 900 ms; a fifth would start at 1200 ms";
  EXPECT_LE(clock_.now(), deadline.when());
  EXPECT_EQ(report_.last_verdict, RetryVerdict::past_deadline);
  EXPECT_EQ(s.error().message(),
            "unavailable: db:5432: connection refused (not retried after 4 attempts: past_deadline)");
}

TEST_F(RetryLoopTest, NonIdempotentSentRequestIsNotRetried) {
  RunOptions o = options(5, milliseconds(100));
  o.idempotent = false;
  auto s = loop(o, Deadline::after(clock_, seconds(5)), {refused()});
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(calls_, 1);
  EXPECT_EQ(report_.last_verdict, RetryVerdict::not_idempotent);
  calls_ = 0;
  auto unsent = loop(o, Deadline::after(clock_, seconds(5)), {refused()}, /*sent_before_failing=*/false);
  EXPECT_TRUE(unsent.ok());
  EXPECT_EQ(calls_, 2);
}

TEST_F(RetryLoopTest, OpenBreakerFailsFastWithoutAnAttempt) {
  auto breaker = CircuitBreaker::create("db:5432", {.consecutive_failures = 1}, clock_);
  ASSERT_TRUE(breaker.ok());
  auto p = (*breaker)->allow();
  (*breaker)->record_failure(*p);
  RunOptions o = options(5, milliseconds(100));
  o.breaker = *breaker;
  auto s = loop(o, Deadline::after(clock_, seconds(5)), {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind(), ErrorKind::circuit_open);
  EXPECT_EQ(calls_, 0);
}

TEST_F(RetryLoopTest, ExpiredDeadlineAndBadPolicyAreErrorsNotAttempts) {
  const Deadline past = Deadline::after(clock_, Duration::zero());
  EXPECT_EQ(loop(options(3, milliseconds(1)), past, {}).error().kind(), ErrorKind::timeout);
  RunOptions bad = options(0, milliseconds(1));
  EXPECT_EQ(loop(bad, Deadline::after(clock_, seconds(1)), {}).error().kind(), ErrorKind::invalid_config);
  EXPECT_EQ(calls_, 0);
}

}  // namespace
}  // namespace reservoir
