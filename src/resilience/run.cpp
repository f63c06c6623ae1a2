#include "reservoir/run.hpp"

#include <utility>

#include "reservoir/config_check.hpp"

namespace reservoir::detail {

namespace {

// Hands a breaker permit back exactly once, even when fn throws: a probe permit never handed
// back would hold the breaker half-open, refusing everyone, for good.
class PermitGuard {
 public:
  PermitGuard(CircuitBreaker* breaker, CircuitBreaker::Permit permit) noexcept : breaker_(breaker), permit_(permit) {}
  PermitGuard(const PermitGuard&) = delete;
  PermitGuard& operator=(const PermitGuard&) = delete;
  ~PermitGuard() {
    if (breaker_ != nullptr) breaker_->record_ignored(permit_);
  }
  void outcome(bool failed) noexcept {
    failed ? breaker_->record_failure(permit_) : breaker_->record_success(permit_);
    breaker_ = nullptr;
  }

 private:
  CircuitBreaker* breaker_;
  CircuitBreaker::Permit permit_;
};

}  // namespace

Status retry_loop(const RunOptions& options, Deadline deadline, FunctionRef<bool(const Error&)> classify,
                  FunctionRef<Status(Attempt&)> attempt) {
  if (auto s = options.retry.validate(); !s) return s;
  for (const auto& [field, set] : {std::pair<const char*, const ErrorKindSet*>{"run.breaker_failures", &options.breaker_failures},
                                   {"run.discard_on", &options.discard_on}}) {
    if (!set->known()) return config_check::invalid(field, "(a set holding an unknown ErrorKind)", "the kinds timeout..internal");
  }
  if (deadline.expired()) return Error::timeout("deadline passed before the first attempt");
  Retrier retrier(options.retry, deadline, options.budget.get(), options.seed);
  RunReport report;
  Status result;
  for (;;) {
    // Fail fast before spending an acquire on a call the breaker would refuse anyway.
    if (options.breaker) {
      if (Status open = options.breaker->check(); !open) {
        result = std::move(open);
        report.last_verdict = RetryVerdict::not_retryable;
        break;
      }
    }
    Attempt current = retrier.start_attempt();
    Status s = attempt(current);
    if (s) break;
    const auto decision = retrier.on_failure(s.error(), classify(s.error()), options.idempotent, current);
    report.last_verdict = decision.verdict;
    if (decision.verdict != RetryVerdict::retry) {
      result = Retrier::explain(std::move(s).error(), decision.verdict, retrier.attempts());
      break;
    }
    report.backoff += decision.delay;
    // On the injected clock: a ManualClock test moves time instead of sleeping.
    deadline.clock().sleep_until(deadline.clock().now() + decision.delay);
  }
  report.attempts = retrier.attempts();
  if (options.report != nullptr) *options.report = report;
  return result;
}

Status pool_attempt(Pool& pool, const RunOptions& options, Attempt& attempt, SourceLocation where,
                    FunctionRef<Status(Connection&, Attempt&)> fn) {
  // Nothing has been sent while acquiring: an acquire failure is always safe to retry.
  auto lease = pool.acquire(attempt.deadline(), where);
  if (!lease) {
    if (options.breaker && options.breaker_counts_acquire_failures &&
        options.breaker_failures.contains(lease.error().kind())) {
      if (auto p = options.breaker->allow()) options.breaker->record_failure(*p);
    }
    return std::move(lease).error();
  }
  std::optional<PermitGuard> permit;
  if (options.breaker) {
    auto admitted = options.breaker->allow();
    if (!admitted) return std::move(admitted).error();  // the unused lease goes back as is
    permit.emplace(options.breaker.get(), *admitted);
  }
  attempt.set_request_sent(true);
  Status s = fn(lease->connection(), attempt);
  // Only faults of the endpoint count against it; a backend error means it answered.
  if (permit) permit->outcome(!s && options.breaker_failures.contains(s.error().kind()));
  if (!s && options.discard_on.contains(s.error().kind())) lease->discard();
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
