#include "reservoir/retry.hpp"

#include "core/format.hpp"
#include "reservoir/config_check.hpp"

namespace reservoir {

std::string_view to_string(RetryVerdict verdict) noexcept {
  switch (verdict) {
    case RetryVerdict::retry: return "retry";
    case RetryVerdict::not_retryable: return "not_retryable";
    case RetryVerdict::not_idempotent: return "not_idempotent";
    case RetryVerdict::attempts_exhausted: return "attempts_exhausted";
    case RetryVerdict::past_deadline: return "past_deadline";
    case RetryVerdict::budget_exhausted: return "budget_exhausted";
  }
  return "unknown";
}

Status RetryPolicy::validate() const {
  // run() validates its policy on every call: the common, valid case costs a few comparisons.
  if (max_attempts >= 1 && max_attempts <= 100 && also_retry.known() && never_retry.known()) return backoff.validate();
  if (Status s = config_check::count("retry.max_attempts", max_attempts, 1, 100); !s) return s;
  for (const auto& [field, set] : {std::pair<const char*, const ErrorKindSet*>{"retry.also_retry", &also_retry},
                                   {"retry.never_retry", &never_retry}}) {
    if (!set->known()) {
      return config_check::invalid(field, "(a set holding an unknown ErrorKind)", "the kinds timeout..internal");
    }
  }
  return backoff.validate();
}

Retrier::Retrier(const RetryPolicy& policy, Deadline deadline, RetryBudget* budget, std::uint64_t seed) noexcept
    : policy_(policy), deadline_(deadline), budget_(budget), seed_(seed), backoff_(policy.backoff) {}

Attempt Retrier::start_attempt() noexcept {
  ++attempts_;
  if (attempts_ == 1 && budget_ != nullptr) budget_->record_request();
  return Attempt(attempts_, deadline_);
}

Retrier::Decision Retrier::on_failure(const Error& error, bool classified_retryable, bool idempotent,
                                      const Attempt& attempt) {
  const ErrorKind kind = error.kind();
  const bool retryable = !policy_.never_retry.contains(kind) &&
                         (classified_retryable || policy_.also_retry.contains(kind));
  if (!retryable) return {RetryVerdict::not_retryable, Duration::zero()};
  // A request that never ran (the attempt says it never left, or the error knows the server
  // skipped it) cannot run twice: retried even when not idempotent.
  const bool may_have_run = attempt.request_sent() && !error.not_executed();
  if (!idempotent && may_have_run) return {RetryVerdict::not_idempotent, Duration::zero()};
  if (attempts_ >= policy_.max_attempts) return {RetryVerdict::attempts_exhausted, Duration::zero()};
  if (!random_) random_.emplace(seed_ != 0 ? Random(seed_) : Random::from_os());
  const Duration delay = backoff_.next(*random_);
  // The next attempt needs time of its own: one that could only start at the deadline would
  // fail with a timeout anyway, after having cost the server a request.
  if (delay >= deadline_.remaining()) return {RetryVerdict::past_deadline, delay};
  if (budget_ != nullptr && !budget_->try_spend_retry()) return {RetryVerdict::budget_exhausted, delay};
  return {RetryVerdict::retry, delay};
}

Error Retrier::explain(Error error, RetryVerdict verdict, std::uint32_t attempts) {
  if (verdict == RetryVerdict::not_retryable || verdict == RetryVerdict::retry) return error;
  std::string detail = error.detail();
  detail += " (not retried after ";
  detail::append_int(detail, attempts);
  detail += attempts == 1 ? " attempt: " : " attempts: ";
  detail += to_string(verdict);
  detail += ')';
  Error explained(error.kind(), std::move(detail), error.retryable(), error.code());
  return error.not_executed() ? std::move(explained).mark_not_executed() : explained;
}

}  // namespace reservoir
