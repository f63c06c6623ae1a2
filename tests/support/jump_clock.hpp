// tests/support/jump_clock.hpp — a test clock whose waits end quickly by moving time to
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
  // A wait on a condition may be ended by another thread (a pool's connect thread handing over
  // a connection): it waits for that notify in real time, bounded; if none comes, time jumps
  // to its target. A pure sleep (a backoff) jumps at once.
  void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lk, TimePoint until) const override {
    if (until > now() && cv.wait_for(lk, std::chrono::seconds(2)) == std::cv_status::no_timeout) return;
    jump_to(until);
  }
  void sleep_until(TimePoint until) const override { jump_to(until); }
  void jump_to(TimePoint until) const {
    const TimePoint t = now();
    std::lock_guard lock(mu_);
    waits_.push_back(until - t);
    if (until > t) ns_.store(until.time_since_epoch().count());
  }
  TimerId call_at(TimePoint at, std::function<void()> fn) const override { return timers_.add(at, std::move(fn)); }
  bool cancel(TimerId id) const noexcept override { return timers_.cancel(id); }
  void advance(Duration d) {
    ns_ += d.count();
    timers_.run_due(now());
  }
  std::vector<Duration> waits() const {
    std::lock_guard lock(mu_);
    return waits_;
  }

 private:
  mutable std::atomic<std::int64_t> ns_{std::chrono::nanoseconds(std::chrono::hours(1)).count()};
  mutable std::mutex mu_;
  mutable std::vector<Duration> waits_;
  mutable TimerQueue timers_;
};

}  // namespace reservoir::testing
