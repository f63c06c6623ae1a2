// reservoir/deadline.hpp — a point in time on an injected clock that bounds a blocking call.
//
// Every blocking entry point in reservoir takes a Deadline; the deadline carries its clock so a
// backend deep inside a call can still ask how much time is left.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "reservoir/clock.hpp"
#include "reservoir/duration.hpp"

namespace reservoir {

class Deadline {
 public:
  // A deadline `d` from now on `clock`.
  // Saturates: a huge `d` (Duration::max() for "no limit") means never, not a wrapped-around
  // time in the past that expires at once.
  static Deadline after(const Clock& clock, Duration d) noexcept { return Deadline(clock, saturating_add(clock.now(), d)); }
  static Deadline at(const Clock& clock, TimePoint t) noexcept { return Deadline(clock, t); }
  // Far in the future; only for code paths that are bounded by other means (tests, shutdown).
  static Deadline never(const Clock& clock) noexcept { return Deadline(clock, TimePoint::max()); }

  TimePoint when() const noexcept { return at_; }
  const Clock& clock() const noexcept { return *clock_; }

  bool expired() const noexcept { return clock_->now() >= at_; }

  // Time left, never negative.
  Duration remaining() const noexcept {
    const TimePoint now = clock_->now();
    return now >= at_ ? Duration::zero() : at_ - now;
  }

  // Time left in whole milliseconds, rounded up so a poll() never spins with 0 ms left while
  // time remains; capped at `cap_ms` so it fits an int timeout argument.
  int remaining_ms(int cap_ms = 1 << 30) const noexcept {
    return static_cast<int>(std::min<std::int64_t>(ceil_ms(remaining()), cap_ms));
  }

  // The earlier of this deadline and `d` from now.
  Deadline capped(Duration d) const noexcept {
    const TimePoint now = clock_->now();
    // at_ <= now first: at_ - now would overflow for a deadline at TimePoint::min().
    const TimePoint limit = at_ <= now || (at_ - now) <= d ? at_ : saturating_add(now, d);
    return Deadline(*clock_, limit);
  }

  friend Deadline earliest(const Deadline& a, const Deadline& b) noexcept { return a.at_ <= b.at_ ? a : b; }

 private:
  Deadline(const Clock& clock, TimePoint t) noexcept : clock_(&clock), at_(t) {}


  const Clock* clock_;
  TimePoint at_;
};

}  // namespace reservoir
