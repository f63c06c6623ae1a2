#include "reservoir/run.hpp"

#include <algorithm>
#include <utility>

#include "reservoir/config_check.hpp"

namespace reservoir::detail {

Status RunLoop::validate(const RunOptions& options, Deadline deadline) {
  if (auto s = options.retry.validate(); !s) return s;
  for (const auto& [field, set] : {std::pair<const char*, const ErrorKindSet*>{"run.breaker_failures", &options.breaker_failures},
                                   {"run.discard_on", &options.discard_on}}) {
    if (!set->known()) return config_check::invalid(field, "(a set holding an unknown ErrorKind)", "the kinds timeout..internal");
  }
  if (deadline.expired()) return Error::timeout("deadline passed before the first attempt");
  return {};
}

RunLoop::RunLoop(const RunOptions& options, Deadline deadline) noexcept
    : options_(options), retrier_(options.retry, deadline, options.budget.get(), options.seed) {}

Status RunLoop::admit() {
  // Fail fast before spending an acquire on a call the breaker would refuse anyway.
  if (!options_.breaker) return {};
  Status open = options_.breaker->check();
  if (!open) report_.last_verdict = RetryVerdict::not_retryable;
  return open;
}

std::optional<Duration> RunLoop::on_failure(const Error& error, bool retryable, const Attempt& attempt) {
  const auto decision = retrier_.on_failure(error, retryable, options_.idempotent, attempt);
  report_.last_verdict = decision.verdict;
  if (decision.verdict != RetryVerdict::retry) return std::nullopt;
  const Duration delay = paced_by_breaker(decision.delay, attempt);
  report_.backoff += delay;
  return delay;
}

// No connection to be had (nothing sent) while the breaker is open: the breaker paces the
// retries, as it paces the pool's connects. A backoff past its next probe only holds this
// caller back from the probe that may find the server up again (with every caller asleep in
// its backoff, nobody probes); retrying at the probe costs the endpoint one probe at most,
// and admit() refuses everyone else before an acquire.
Duration RunLoop::paced_by_breaker(Duration delay, const Attempt& attempt) const noexcept {
  const CircuitBreaker* breaker = options_.breaker.get();
  if (breaker == nullptr || attempt.request_sent() || breaker->state() != BreakerState::open) return delay;
  return std::min(delay, breaker->time_until_probe());
}

Error RunLoop::explain(Error error) const {
  return Retrier::explain(std::move(error), report_.last_verdict, retrier_.attempts());
}

RunReport RunLoop::report() const noexcept {
  RunReport r = report_;
  r.attempts = retrier_.attempts();
  return r;
}

Status RunLoop::finish(Status result) {
  if (options_.report != nullptr) *options_.report = report();
  return result;
}

Error acquire_failed(const RunOptions& options, Error error) {
  if (options.breaker && options.breaker_counts_acquire_failures && options.breaker_failures.contains(error.kind())) {
    if (auto p = options.breaker->allow()) options.breaker->record_failure(*p);
  }
  return error;
}

AttemptScope::~AttemptScope() {
  if (breaker_ != nullptr) breaker_->record_ignored(permit_);
}

Status AttemptScope::admit(const RunOptions& options) {
  if (!options.breaker) return {};
  auto admitted = options.breaker->allow();
  if (!admitted) return std::move(admitted).error();  // the unused lease goes back as is
  breaker_ = options.breaker.get();
  permit_ = *admitted;
  return {};
}

void AttemptScope::finish(const RunOptions& options, const Status& outcome, Lease& lease) noexcept {
  // Only faults of the endpoint count against it; a backend error means it answered.
  const bool failed = !outcome && options.breaker_failures.contains(outcome.error().kind());
  if (breaker_ != nullptr) {
    failed ? breaker_->record_failure(permit_) : breaker_->record_success(permit_);
    breaker_ = nullptr;
  }
  if (!outcome && options.discard_on.contains(outcome.error().kind())) lease.discard();
}

namespace {
// The coarse clock ticks every 1-4 ms (CONFIG_HZ): a threshold of 20 ms or more is judged
// within a fifth of itself.
constexpr Duration kCoarseEnough = std::chrono::milliseconds(20);
}  // namespace

OperationTrace::OperationTrace(const Pool& pool, const RunOptions& options) noexcept
    : pool_(pool),
      threshold_(options.slow_threshold ? *options.slow_threshold : Duration(pool.config().slow_acquire_threshold)),
      coarse_(threshold_ >= kCoarseEnough),
      start_(now()) {}

TimePoint OperationTrace::now() const noexcept {
  if (threshold_ <= Duration::zero()) return TimePoint{};  // no clock read when off
  return coarse_ ? pool_.clock().now_coarse() : pool_.clock().now();
}

void OperationTrace::finish(const RunReport& report, const Status& outcome, SourceLocation where) const {
  if (threshold_ <= Duration::zero()) return;
  const Duration took = now() - start_;
  if (took < threshold_) return;
  const auto ms_of = [](Duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  const AcquirePhases& p = phases_;
  std::string line = pool_.config().name + ": slow operation: " + std::to_string(ms_of(took)) + " ms, " +
                     std::to_string(report.attempts) + (report.attempts == 1 ? " attempt" : " attempts") +
                     " (queued " + std::to_string(ms_of(p.queued)) + " ms, connect " + std::to_string(ms_of(p.connect)) +
                     " ms, check " + std::to_string(ms_of(p.check)) + " ms, call " + std::to_string(ms_of(call_)) +
                     " ms, backoff " + std::to_string(ms_of(report.backoff)) + " ms) at " + where.file + ":" +
                     std::to_string(where.line);
  line += outcome ? std::string(": ok") : ": " + outcome.error().message();
  pool_.logger().log(LogLevel::info, line);
  pool_.emit({.kind = PoolEventKind::operation_slow,
              .duration = took,
              .error = outcome ? nullptr : &outcome.error(),
              .phases = p,
              .where = where,
              .call = call_,
              .backoff = report.backoff,
              .attempts = report.attempts});
}

namespace {

// One attempt on `pool`: acquire → breaker → fn → record → discard if broken.
Status pool_attempt(Pool& pool, const RunOptions& options, Attempt& attempt, SourceLocation where,
                    FunctionRef<Status(Connection&, Attempt&)> fn, OperationTrace& trace) {
  // Nothing has been sent while acquiring: an acquire failure is always safe to retry.
  auto lease = pool.acquire(attempt.deadline(), trace.phases(), where);
  if (!lease) return acquire_failed(options, std::move(lease).error());
  AttemptScope scope;
  if (Status admitted = scope.admit(options); !admitted) return admitted;
  attempt.set_request_sent(true);
  const TimePoint call_start = trace.now();
  Status s = fn(lease->connection(), attempt);
  trace.add_call(trace.now() - call_start);
  scope.finish(options, s, *lease);
  return s;
}

Status retry_loop_into(const RunOptions& options, Deadline deadline, FunctionRef<bool(const Error&)> classify,
                       FunctionRef<Status(Attempt&)> attempt, RunReport& report) {
  if (Status valid = RunLoop::validate(options, deadline); !valid) return valid;
  RunLoop loop(options, deadline);
  Status result;
  for (;;) {
    if (Status open = loop.admit(); !open) {
      result = std::move(open);
      break;
    }
    Attempt current = loop.start_attempt();
    Status s = attempt(current);
    if (s) break;
    const std::optional<Duration> delay = loop.on_failure(s.error(), classify(s.error()), current);
    if (!delay) {
      result = loop.explain(std::move(s).error());
      break;
    }
    // On the injected clock: a ManualClock test moves time instead of sleeping.
    deadline.clock().sleep_until(deadline.clock().now() + *delay);
  }
  report = loop.report();
  return result;
}

}  // namespace

Status retry_loop(const RunOptions& options, Deadline deadline, FunctionRef<bool(const Error&)> classify,
                  FunctionRef<Status(Attempt&)> attempt) {
  RunReport report;
  Status s = retry_loop_into(options, deadline, classify, attempt, report);
  if (options.report != nullptr) *options.report = report;
  return s;
}

Status run_on_pool(Pool& pool, const RunOptions& options, SourceLocation where,
                   FunctionRef<Status(Connection&, Attempt&)> fn) {
  const Deadline deadline = options.deadline ? *options.deadline : Deadline::after(pool.clock(), options.timeout);
  const Connector& connector = pool.connector();
  auto classify = [&](const Error& e) { return connector.is_retryable(e); };
  RunReport report;
  OperationTrace trace(pool, options);
  auto attempt = [&](Attempt& a) { return pool_attempt(pool, options, a, where, fn, trace); };
  Status s = retry_loop_into(options, deadline, classify, attempt, report);
  if (options.report != nullptr) *options.report = report;
  trace.finish(report, s, where);
  return s;
}

}  // namespace reservoir::detail
