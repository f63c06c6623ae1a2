#include "reservoir/retry_budget.hpp"

#include <cmath>

#include "core/format.hpp"
#include "reservoir/config_check.hpp"

namespace reservoir {

using std::chrono::milliseconds;
using std::chrono::minutes;

Status RetryBudgetConfig::validate() const {
  for (Status s : {config_check::number("retry_budget.ratio", ratio, 0.0, 10.0),
                   config_check::count("retry_budget.min_retries_per_second", min_retries_per_second, 0, 100000),
                   config_check::duration("retry_budget.window", window, milliseconds(100), minutes(10))}) {
    if (!s) return s;
  }
  return {};
}

Result<std::shared_ptr<RetryBudget>> RetryBudget::create(const Clock& clock, RetryBudgetConfig config) {
  if (auto s = config.validate(); !s) return std::move(s).error();
  return std::make_shared<RetryBudget>(Key{}, clock, config);
}

RetryBudget::RetryBudget(Key, const Clock& clock, const RetryBudgetConfig& config) noexcept
    : clock_(clock), config_(config), bucket_ns_(config.window.count() / static_cast<std::int64_t>(kBuckets)) {}

std::int64_t RetryBudget::epoch_of(TimePoint t) const noexcept { return t.time_since_epoch().count() / bucket_ns_; }

RetryBudget::Bucket& RetryBudget::current(std::int64_t epoch) noexcept {
  Bucket& b = bucket_of(epoch);
  if (b.epoch.load(std::memory_order_acquire) != epoch) {
    std::lock_guard lock(mu_);
    recycle_locked(b, epoch);
  }
  return b;
}

void RetryBudget::recycle_locked(Bucket& b, std::int64_t epoch) noexcept {
  if (b.epoch.load(std::memory_order_relaxed) >= epoch) return;  // another thread did
  b.requests.reset();  // a slice that fell out of the window
  b.retries.store(0, std::memory_order_relaxed);
  b.epoch.store(epoch, std::memory_order_release);
}

void RetryBudget::totals_locked(std::int64_t epoch, std::uint64_t& requests, std::uint64_t& retries) const noexcept {
  requests = 0;
  retries = 0;
  for (const Bucket& b : buckets_) {
    const std::int64_t e = b.epoch.load(std::memory_order_acquire);
    if (e > epoch - static_cast<std::int64_t>(kBuckets) && e <= epoch) {
      requests += b.requests.sum();
      retries += b.retries.load(std::memory_order_relaxed);
    }
  }
}

std::uint64_t RetryBudget::allowed_locked(std::uint64_t requests) const noexcept {
  const double seconds = std::chrono::duration<double>(config_.window).count();
  const double floor = config_.min_retries_per_second * seconds;
  return static_cast<std::uint64_t>(std::floor(floor + config_.ratio * static_cast<double>(requests)));
}

void RetryBudget::record_request() noexcept {
  // The coarse clock (1-4 ms) is fine for slices of window/10, at least 10 ms.
  current(epoch_of(clock_.now_coarse())).requests.add();
}

bool RetryBudget::try_spend_retry() noexcept {
  const auto epoch = epoch_of(clock_.now());
  std::lock_guard lock(mu_);
  std::uint64_t requests = 0;
  std::uint64_t retries = 0;
  totals_locked(epoch, requests, retries);
  if (retries >= allowed_locked(requests)) {
    ++rejected_;
    return false;
  }
  Bucket& b = bucket_of(epoch);
  recycle_locked(b, epoch);
  b.retries.fetch_add(1, std::memory_order_relaxed);
  return true;
}

RetryBudgetStats RetryBudget::stats() const {
  const auto epoch = epoch_of(clock_.now());
  std::lock_guard lock(mu_);
  RetryBudgetStats s;
  totals_locked(epoch, s.requests, s.retries);
  s.allowed = allowed_locked(s.requests);
  s.rejected = rejected_;
  return s;
}

}  // namespace reservoir
