// reservoir/retry.hpp — RetryPolicy and Retrier: whether, and after how long, to retry.
//
// A failed attempt is retried only if all hold: the error is retryable (the connector's
// classification, adjusted by the policy's kind lists), the operation is idempotent or its
// request never ran (Attempt::set_request_sent, Error::not_executed), attempts remain, the backoff ends before the
// deadline (no attempt starts that could not finish), and the retry budget has a token. The
// order matters: the budget is spent last, only for a retry that really happens.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>

#include "reservoir/backoff.hpp"
#include "reservoir/deadline.hpp"
#include "reservoir/error.hpp"
#include "reservoir/random.hpp"
#include "reservoir/retry_budget.hpp"

namespace reservoir {

// A set of ErrorKinds, as one word (ErrorKind has fewer than 32 values).
class ErrorKindSet {
 public:
  constexpr ErrorKindSet() noexcept = default;
  constexpr ErrorKindSet(std::initializer_list<ErrorKind> kinds) noexcept {
    for (ErrorKind k : kinds) bits_ |= bit(k);
  }
  constexpr bool contains(ErrorKind k) const noexcept { return (bits_ & bit(k)) != 0; }
  constexpr ErrorKindSet& add(ErrorKind k) noexcept { bits_ |= bit(k); return *this; }
  constexpr ErrorKindSet& remove(ErrorKind k) noexcept { bits_ &= ~bit(k); return *this; }
  constexpr bool empty() const noexcept { return bits_ == 0; }
  // Holds only kinds of the ErrorKind enum.
  constexpr bool known() const noexcept { return (bits_ & kUnknown) == 0; }

 private:
  // A kind outside the enum is not shifted past the width (undefined behaviour): it sets the
  // top bit, which RetryPolicy::validate() refuses.
  static constexpr std::uint32_t kUnknown = std::uint32_t{1} << 31;
  static constexpr std::uint32_t bit(ErrorKind k) noexcept {
    const auto n = static_cast<unsigned>(k);
    return n <= static_cast<unsigned>(ErrorKind::internal) ? std::uint32_t{1} << n : kUnknown;
  }
  std::uint32_t bits_ = 0;
};

// Plain data; fields may be added later (always with a default).
struct RetryPolicy {
  // Attempts in total, the first included (1 .. 100; 1 = never retry).
  std::uint32_t max_attempts = 3;
  BackoffConfig backoff{};
  // Retried even when the connector's is_retryable() says no.
  ErrorKindSet also_retry{};
  // Never retried, whatever the connector says: fail-fast and caller-bug kinds. A quota is
  // refused at once by design; retrying would only spend the caller's deadline against it.
  ErrorKindSet never_retry{ErrorKind::circuit_open, ErrorKind::shutting_down, ErrorKind::invalid_config,
                           ErrorKind::invalid_argument, ErrorKind::internal, ErrorKind::cancelled,
                           ErrorKind::quota_exceeded};

  // OK, or invalid_config naming the field (`retry.max_attempts`, `backoff.*`), value and range.
  Status validate() const;
};

// What one attempt knows about itself; handed to the operation.
class Attempt {
 public:
  Attempt(std::uint32_t number, Deadline deadline) noexcept : number_(number), deadline_(deadline) {}

  // 1 for the first attempt.
  std::uint32_t number() const noexcept { return number_; }
  // The whole call's deadline; an operation passes it to every blocking call it makes.
  Deadline deadline() const noexcept { return deadline_; }

  // Whether this attempt's request may have reached the server. run() sets it to true just
  // before calling the operation (the safe assumption); an operation that fails before any
  // byte left (e.g. a broken socket found before the write) sets it back to false, so that
  // even a non-idempotent operation may be retried.
  void set_request_sent(bool sent) noexcept { sent_ = sent; }
  bool request_sent() const noexcept { return sent_; }

 private:
  std::uint32_t number_;
  Deadline deadline_;
  bool sent_ = false;
};

// Why a failed attempt was (not) retried.
enum class RetryVerdict {
  retry,
  not_retryable,       // the error's kind / the connector says retrying cannot help
  not_idempotent,      // the request may have reached the server; the operation is not idempotent
  attempts_exhausted,  // max_attempts reached
  past_deadline,       // the backoff would end at or after the deadline
  budget_exhausted,    // the retry budget refused
};

std::string_view to_string(RetryVerdict verdict) noexcept;

// The retry state of one call. Not thread-safe (one per call).
class Retrier {
 public:
  // `policy` should have passed validate() and must outlive the Retrier. `budget` may be null.
  // `seed` 0 = from the OS, drawn only if a retry happens (the success path costs no entropy).
  Retrier(const RetryPolicy& policy, Deadline deadline, RetryBudget* budget, std::uint64_t seed = 0) noexcept;

  // Call before each attempt; the first one counts as a request in the budget.
  Attempt start_attempt() noexcept;

  struct Decision {
    RetryVerdict verdict;
    Duration delay;  // how long to wait before the next attempt, when verdict == retry
  };
  // After attempt `attempt` failed with `error`. `classified_retryable` is the connector's
  // is_retryable(error).
  Decision on_failure(const Error& error, bool classified_retryable, bool idempotent, const Attempt& attempt);

  std::uint32_t attempts() const noexcept { return attempts_; }

  // `error` with why it was not retried appended to its detail, kind and code kept, e.g.
  // `unavailable: db:5432: connection refused (not retried after 3 attempts: attempts_exhausted)`.
  // not_retryable errors come back unchanged.
  static Error explain(Error error, RetryVerdict verdict, std::uint32_t attempts);

 private:
  const RetryPolicy& policy_;
  Deadline deadline_;
  RetryBudget* budget_;
  std::uint64_t seed_;
  Backoff backoff_;
  std::optional<Random> random_;
  std::uint32_t attempts_ = 0;
};

}  // namespace reservoir
