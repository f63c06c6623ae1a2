// reservoir/clock.hpp — the injected time source.
//
// Every timeout, lifetime, backoff and breaker transition reads time through a Clock, never
// through a global, so tests drive time with a ManualClock instead of sleeping.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <unordered_map>

namespace reservoir {

using Duration = std::chrono::nanoseconds;
using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;
// Names one pending Clock::call_at(); 0 is never a valid id.
using TimerId = std::uint64_t;

// Pending calls ordered by time: what a clock needs to implement call_at(). Thread-safe; calls
// run outside its lock, so a call may add or cancel others.
class TimerQueue {
 public:
  TimerId add(TimePoint at, std::function<void()> fn);
  // False if the call already ran, is running, or never existed.
  bool cancel(TimerId id) noexcept;
  // Runs every call due at `now`, earliest first, on the calling thread. Returns how many ran.
  std::size_t run_due(TimePoint now);
  // The earliest pending time, or TimePoint::max() when none is pending.
  TimePoint next() const;
  std::size_t size() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<TimePoint, TimerId>, std::function<void()>> by_time_;
  std::unordered_map<TimerId, TimePoint> when_;
  TimerId next_id_ = 1;
};

class Clock {
 public:
  virtual ~Clock() = default;

  // Precise monotonic time.
  virtual TimePoint now() const noexcept = 0;

  // Monotonic time with millisecond-ish resolution, cheap enough for the acquire/release hot
  // path (a vDSO coarse read is ~3 ns where a precise read is ~22 ns on the reference VM).
  virtual TimePoint now_coarse() const noexcept { return now(); }

  // Blocks on `cv` (whose mutex `lock` holds) until notified or until this clock reaches
  // `until`. May wake spuriously: callers re-check their condition.
  virtual void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                          TimePoint until) const = 0;

  // Blocks the calling thread until this clock reaches `until` (no condition to wait for).
  // Virtual so a test clock can tell a pure sleep (nobody can end it) from a wait on a
  // condition another thread signals.
  virtual void sleep_until(TimePoint until) const;

  // Calls `fn` once, when this clock reaches `at`, on a thread of the clock's: SteadyClock
  // runs every process-wide timer on one thread of its own; ManualClock runs them on the
  // thread that moves time past `at`. `fn` must be short and must not block: a slow one
  // delays every other timer. Lets a pool bound thousands of waiters with no thread each.
  virtual TimerId call_at(TimePoint at, std::function<void()> fn) const = 0;
  // Cancels a pending call. False if it already ran or is running (never waits for it).
  virtual bool cancel(TimerId id) const noexcept = 0;
};

// The real clock: std::chrono::steady_clock semantics.
class SteadyClock final : public Clock {
 public:
  TimePoint now() const noexcept override;
  TimePoint now_coarse() const noexcept override;
  void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                  TimePoint until) const override;
  TimerId call_at(TimePoint at, std::function<void()> fn) const override;
  bool cancel(TimerId id) const noexcept override;

  // The process-wide instance used when no clock is injected.
  static SteadyClock& instance() noexcept;
};

// A clock that moves only when a test moves it. Threads blocked in wait_until() wake when
// advance() or set() passes their deadline.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = TimePoint{std::chrono::hours(1)}) : now_ns_(start.time_since_epoch().count()) {}

  TimePoint now() const noexcept override;
  void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                  TimePoint until) const override;
  // Runs on the thread that calls advance() or set() past `at` (or at once, on this thread,
  // when `at` is not in the future).
  TimerId call_at(TimePoint at, std::function<void()> fn) const override;
  bool cancel(TimerId id) const noexcept override;

  // Moves time, wakes waiters whose deadline passed and runs the timers now due.
  void advance(Duration d);
  void set(TimePoint t);
  // Timers not yet run.
  std::size_t pending_timers() const { return timers_.size(); }

  // Number of threads currently blocked in wait_until(); lets a test wait until the code under
  // test is parked before it moves time.
  int waiters() const noexcept;

 private:
  void notify_all_registered() const noexcept;

  std::atomic<std::int64_t> now_ns_;
  mutable std::mutex mu_;
  mutable std::condition_variable* registered_[64]{};
  mutable int registered_count_ = 0;
  mutable std::atomic<int> waiting_{0};
  mutable TimerQueue timers_;
};

}  // namespace reservoir
