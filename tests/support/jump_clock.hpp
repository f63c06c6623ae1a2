// tests/support/jump_clock.hpp — a test clock whose waits end at once by moving time to
// their target, and which records every wait. Single-threaded retry tests use it so that a
// backoff is observed (its length recorded) without any real sleep.
#pragma once

#include <atomic>
#include <mutex>
#include <vector>

#include "reservoir/clock.hpp"

namespace reservoir::testing {

class JumpClock final : public Clock {
 public:
  TimePoint now() const noexcept override { return TimePoint(Duration(ns_.load())); }
  void wait_until(std::condition_variable&, std::unique_lock<std::mutex>&, TimePoint until) const override {
    const TimePoint t = now();
    std::lock_guard lock(mu_);
    waits_.push_back(until - t);
    if (until > t) ns_.store(until.time_since_epoch().count());
  }
  void advance(Duration d) noexcept { ns_ += d.count(); }
  std::vector<Duration> waits() const {
    std::lock_guard lock(mu_);
    return waits_;
  }

 private:
  mutable std::atomic<std::int64_t> ns_{std::chrono::nanoseconds(std::chrono::hours(1)).count()};
  mutable std::mutex mu_;
  mutable std::vector<Duration> waits_;
};

}  // namespace reservoir::testing
