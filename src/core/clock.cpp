#include "reservoir/clock.hpp"

#include <time.h>

#include <algorithm>
#include <thread>

#include "process_registry.hpp"

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

// ---- TimerQueue ----------------------------------------------------------------------------

TimerId TimerQueue::add(TimePoint at, std::function<void()> fn) {
  std::lock_guard g(mu_);
  const TimerId id = next_id_++;
  by_time_.emplace(std::make_pair(at, id), std::move(fn));
  when_.emplace(id, at);
  return id;
}

bool TimerQueue::cancel(TimerId id) noexcept {
  std::lock_guard g(mu_);
  auto it = when_.find(id);
  if (it == when_.end()) return false;
  by_time_.erase(std::make_pair(it->second, id));
  when_.erase(it);
  return true;
}

std::size_t TimerQueue::run_due(TimePoint now) {
  std::size_t ran = 0;
  for (;;) {
    std::function<void()> fn;
    {
      std::lock_guard g(mu_);
      auto it = by_time_.begin();
      if (it == by_time_.end() || it->first.first > now) return ran;
      fn = std::move(it->second);
      when_.erase(it->first.second);
      by_time_.erase(it);
    }
    fn();
    ++ran;
  }
}

TimePoint TimerQueue::next() const {
  std::lock_guard g(mu_);
  return by_time_.empty() ? TimePoint::max() : by_time_.begin()->first.first;
}

std::size_t TimerQueue::size() const {
  std::lock_guard g(mu_);
  return when_.size();
}

// ---- SteadyClock's timer thread -----------------------------------------------------------

namespace {
// One thread runs every SteadyClock timer in the process; made on first use. In a forked child
// the thread is gone: the queue (whose lock a parent thread may have held) starts afresh and
// the next call_at starts a new thread. The parent's timers belonged to its waiters, which the
// child's pools forget anyway.
struct SteadyTimers {
  TimerQueue queue;
  std::condition_variable cv;
  bool running = false;

  void after_fork_in_child_locked() {
    new (&queue) TimerQueue();
    new (&cv) std::condition_variable();
    running = false;
  }
};
using TimerRegistry = detail::ProcessRegistry<SteadyTimers>;

void timer_loop() {
  TimerRegistry& r = TimerRegistry::instance();
  const SteadyClock& clock = SteadyClock::instance();
  for (;;) {
    r.state().queue.run_due(clock.now());
    std::unique_lock lk(r.mutex());
    const TimePoint next = r.state().queue.next();
    if (clock.now() < next) clock.wait_until(r.state().cv, lk, next);
  }
}

void arm_timer_thread(TimePoint at) {
  TimerRegistry& r = TimerRegistry::instance();
  std::lock_guard g(r.mutex());
  if (!r.state().running) {
    r.state().running = true;
    std::thread(timer_loop).detach();
  }
  if (at <= r.state().queue.next()) r.state().cv.notify_one();
}
}  // namespace

TimerId SteadyClock::call_at(TimePoint at, std::function<void()> fn) const {
  const TimerId id = TimerRegistry::instance().state().queue.add(at, std::move(fn));
  arm_timer_thread(at);
  return id;
}

bool SteadyClock::cancel(TimerId id) const noexcept { return TimerRegistry::instance().state().queue.cancel(id); }

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

TimerId ManualClock::call_at(TimePoint at, std::function<void()> fn) const {
  const TimerId id = timers_.add(at, std::move(fn));
  if (at <= now()) timers_.run_due(now());
  return id;
}

bool ManualClock::cancel(TimerId id) const noexcept { return timers_.cancel(id); }

void ManualClock::advance(Duration d) {
  now_ns_.fetch_add(d.count(), std::memory_order_acq_rel);
  notify_all_registered();
  timers_.run_due(now());
}

void ManualClock::set(TimePoint t) {
  now_ns_.store(t.time_since_epoch().count(), std::memory_order_release);
  notify_all_registered();
  timers_.run_due(now());
}

int ManualClock::waiters() const noexcept { return waiting_.load(); }

void ManualClock::notify_all_registered() const noexcept {
  std::lock_guard g(mu_);
  for (int i = 0; i < registered_count_; ++i) registered_[i]->notify_all();
}

}  // namespace reservoir
