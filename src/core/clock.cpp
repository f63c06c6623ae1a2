#include "reservoir/clock.hpp"

#include <time.h>

#include <algorithm>

namespace reservoir {

namespace {
// A lost wake-up between ManualClock::advance() and a waiter going to sleep costs at most this
// much real time; it never makes a test wait for simulated time.
constexpr auto kManualRecheck = std::chrono::milliseconds(2);
}  // namespace

void Clock::sleep_until(TimePoint until) const {
  std::mutex mu;
  std::condition_variable cv;
  std::unique_lock lock(mu);
  while (now() < until) wait_until(cv, lock, until);
}

TimePoint SteadyClock::now() const noexcept {
  return TimePoint(std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now().time_since_epoch()));
}

TimePoint SteadyClock::now_coarse() const noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return TimePoint(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
}

void SteadyClock::wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, TimePoint until) const {
  if (until == TimePoint::max()) {
    cv.wait(lock);
    return;
  }
  cv.wait_until(lock, std::chrono::steady_clock::time_point(
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(until.time_since_epoch())));
}

SteadyClock& SteadyClock::instance() noexcept {
  static SteadyClock clock;
  return clock;
}

TimePoint ManualClock::now() const noexcept { return TimePoint(Duration(now_ns_.load(std::memory_order_acquire))); }

void ManualClock::wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, TimePoint until) const {
  if (now() >= until) return;
  bool registered = false;
  {
    std::lock_guard g(mu_);
    if (registered_count_ < static_cast<int>(std::size(registered_))) {
      registered_[registered_count_++] = &cv;
      registered = true;
    }
  }
  waiting_.fetch_add(1);
  if (now() < until) cv.wait_for(lock, kManualRecheck);
  waiting_.fetch_sub(1);
  if (registered) {
    std::lock_guard g(mu_);
    auto* end = registered_ + registered_count_;
    auto* it = std::find(registered_, end, &cv);
    if (it != end) {
      *it = registered_[--registered_count_];
    }
  }
}

void ManualClock::advance(Duration d) noexcept {
  now_ns_.fetch_add(d.count(), std::memory_order_acq_rel);
  notify_all_registered();
}

void ManualClock::set(TimePoint t) noexcept {
  now_ns_.store(t.time_since_epoch().count(), std::memory_order_release);
  notify_all_registered();
}

int ManualClock::waiters() const noexcept { return waiting_.load(); }

void ManualClock::notify_all_registered() const noexcept {
  std::lock_guard g(mu_);
  for (int i = 0; i < registered_count_; ++i) registered_[i]->notify_all();
}

}  // namespace reservoir
