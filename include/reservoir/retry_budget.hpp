// reservoir/retry_budget.hpp — RetryBudget: caps retries at a share of recent requests.
//
// Without a budget, N callers each retrying 3 times turn an overloaded server's trouble into 3×
// the load. After Finagle's RetryBudget and Envoy's retry budgets: every first attempt deposits
// `ratio` of a retry, every retry withdraws one, over a sliding window on the injected clock,
// plus a small floor of retries per second so a quiet client can still retry at all.
// Thread-safe; share one per endpoint (or per pool) across all callers.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>

#include "reservoir/clock.hpp"
#include "reservoir/error.hpp"
#include "reservoir/striped_counter.hpp"

namespace reservoir {

// Plain data; fields may be added later (always with a default).
struct RetryBudgetConfig {
  // Retries allowed per request in the window (0.0 .. 10.0); 0.2 = at most 20% extra load.
  double ratio = 0.2;
  // Retries always allowed per second of window, whatever the request count (0 .. 100000).
  std::uint32_t min_retries_per_second = 10;
  // How far back requests and retries count (100 ms .. 10 min), kept in 10 buckets.
  Duration window = std::chrono::seconds(10);

  // OK, or invalid_config naming the field, its value and the allowed range.
  Status validate() const;
};

struct RetryBudgetStats {
  std::uint64_t requests = 0;     // in the window
  std::uint64_t retries = 0;      // granted, in the window
  std::uint64_t allowed = 0;      // retries the window allows in total
  std::uint64_t rejected = 0;     // ever refused
};

class RetryBudget {
 public:
  static constexpr std::size_t kBuckets = 10;

  // Errors: invalid_config. `clock` must outlive the budget.
  static Result<std::shared_ptr<RetryBudget>> create(const Clock& clock, RetryBudgetConfig config = {});

  // Counts one request (a first attempt, never a retry).
  void record_request() noexcept;
  // Spends one retry if the window allows it; false means: do not retry.
  [[nodiscard]] bool try_spend_retry() noexcept;

  RetryBudgetStats stats() const;
  const RetryBudgetConfig& config() const noexcept { return config_; }

  struct Key {};  // create() is the only way in; make_shared needs a public constructor.
  RetryBudget(Key, const Clock& clock, const RetryBudgetConfig& config) noexcept;

 private:
  // Requests are counted without the lock (every call records one; a retry is rare): a
  // bucket's epoch only moves forward, under the lock, and a count landing in a bucket just
  // recycled needs a thread stalled for a whole window, a miscount of one.
  struct Bucket {
    std::atomic<std::int64_t> epoch{-1};  // which window slice this bucket holds
    StripedCounter requests;  // added to by every run()
    std::atomic<std::uint64_t> retries{0};  // changed under the lock
  };
  Bucket& bucket_of(std::int64_t epoch) noexcept { return buckets_[static_cast<std::size_t>(epoch) % kBuckets]; }
  Bucket& current(std::int64_t epoch) noexcept;
  void recycle_locked(Bucket& b, std::int64_t epoch) noexcept;
  void totals_locked(std::int64_t epoch, std::uint64_t& requests, std::uint64_t& retries) const noexcept;
  std::uint64_t allowed_locked(std::uint64_t requests) const noexcept;
  std::int64_t epoch_of(TimePoint t) const noexcept;

  const Clock& clock_;
  const RetryBudgetConfig config_;
  const std::int64_t bucket_ns_;
  mutable std::mutex mu_;
  std::array<Bucket, kBuckets> buckets_{};
  std::uint64_t rejected_ = 0;
};

}  // namespace reservoir
