#include "reservoir/run.hpp"

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
  report_.backoff += decision.delay;
  return decision.delay;
}

Error RunLoop::explain(Error error) const {
  return Retrier::explain(std::move(error), report_.last_verdict, retrier_.attempts());
}

Status RunLoop::finish(Status result) {
  report_.attempts = retrier_.attempts();
  if (options_.report != nullptr) *options_.report = report_;
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

Status retry_loop(const RunOptions& options, Deadline deadline, FunctionRef<bool(const Error&)> classify,
                  FunctionRef<Status(Attempt&)> attempt) {
  if (Status valid = RunLoop::validate(options, deadline); !valid) return valid;
  RunLoop loop(options, deadline);
  for (;;) {
    if (Status open = loop.admit(); !open) return loop.finish(std::move(open));
    Attempt current = loop.start_attempt();
    Status s = attempt(current);
    if (s) return loop.finish({});
    const std::optional<Duration> delay = loop.on_failure(s.error(), classify(s.error()), current);
    if (!delay) return loop.finish(loop.explain(std::move(s).error()));
    // On the injected clock: a ManualClock test moves time instead of sleeping.
    deadline.clock().sleep_until(deadline.clock().now() + *delay);
  }
}

Status pool_attempt(Pool& pool, const RunOptions& options, Attempt& attempt, SourceLocation where,
                    FunctionRef<Status(Connection&, Attempt&)> fn) {
  // Nothing has been sent while acquiring: an acquire failure is always safe to retry.
  auto lease = pool.acquire(attempt.deadline(), where);
  if (!lease) return acquire_failed(options, std::move(lease).error());
  AttemptScope scope;
  if (Status admitted = scope.admit(options); !admitted) return admitted;
  attempt.set_request_sent(true);
  Status s = fn(lease->connection(), attempt);
  scope.finish(options, s, *lease);
  return s;
}

Status run_on_pool(Pool& pool, const RunOptions& options, SourceLocation where,
                   FunctionRef<Status(Connection&, Attempt&)> fn) {
  const Deadline deadline = options.deadline ? *options.deadline : Deadline::after(pool.clock(), options.timeout);
  const Connector& connector = pool.connector();
  auto classify = [&](const Error& e) { return connector.is_retryable(e); };
  auto attempt = [&](Attempt& a) { return pool_attempt(pool, options, a, where, fn); };
  return retry_loop(options, deadline, classify, attempt);
}

}  // namespace reservoir::detail
