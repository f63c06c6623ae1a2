// TEMPORARY: ManualClock/Clock definitions until src/core/clock.cpp lands on main; delete on
// `git merge main` (duplicate symbols otherwise).
#include <thread>

#include "reservoir/clock.hpp"

namespace reservoir {
TimePoint ManualClock::now() const noexcept { return TimePoint(Duration(now_ns_.load())); }
void ManualClock::wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, TimePoint until) {
  if (now() >= until) return;
  waiting_++;
  cv.wait_for(lock, std::chrono::microseconds(200));
  waiting_--;
}
void ManualClock::advance(Duration d) noexcept { now_ns_ += d.count(); }
void ManualClock::set(TimePoint t) noexcept { now_ns_ = t.time_since_epoch().count(); }
int ManualClock::waiters() const noexcept { return waiting_.load(); }
void Clock::sleep_until(TimePoint until) {
  std::mutex m;
  std::condition_variable cv;
  std::unique_lock lock(m);
  while (now() < until) wait_until(cv, lock, until);
}
}  // namespace reservoir

// TEMPORARY link stubs for the pool (run.cpp references it); never called by these tests.
#include <cstdlib>

#include "reservoir/pool.hpp"

namespace reservoir {
Connection& Lease::connection() const noexcept { std::abort(); }
void Lease::discard() noexcept { std::abort(); }
void Lease::release() noexcept {}
Result<Lease> Pool::acquire(Deadline, SourceLocation) { std::abort(); }
const Clock& Pool::clock() const noexcept { std::abort(); }
Connector& Pool::connector() const noexcept { std::abort(); }
}  // namespace reservoir
