// reservoir/duration.hpp — the one duration arithmetic: sums and conversions that clamp instead
// of wrapping, whole milliseconds rounded up, and a readable form for messages.
//
// A configured `milliseconds::max()` or a deadline `Duration::max()` away means "never"; plain
// chrono arithmetic would wrap it into the past, so every sum and unit change on a caller's
// value goes through here.
#pragma once

#include <charconv>
#include <chrono>
#include <cstdint>
#include <limits>
#include <ratio>
#include <string>
#include <type_traits>

#include "reservoir/clock.hpp"

namespace reservoir {

// a + b, clamped to [Duration::min(), Duration::max()].
constexpr Duration saturating_add(Duration a, Duration b) noexcept {
  Duration::rep sum = 0;
  if (__builtin_add_overflow(a.count(), b.count(), &sum)) return b.count() > 0 ? Duration::max() : Duration::min();
  return Duration(sum);
}

// t + d, clamped to [TimePoint::min(), TimePoint::max()].
constexpr TimePoint saturating_add(TimePoint t, Duration d) noexcept {
  return TimePoint(saturating_add(t.time_since_epoch(), d));
}

// `d` as a Duration (nanoseconds), clamped: milliseconds::max() becomes Duration::max().
template <class Rep, class Period>
constexpr Duration saturating_cast(std::chrono::duration<Rep, Period> d) noexcept {
  static_assert(std::is_integral_v<Rep>, "integral durations only");
  using Ratio = std::ratio_divide<Period, Duration::period>;  // nanoseconds per tick
  static_assert(Ratio::den == 1, "units of a nanosecond or coarser");
  if constexpr (std::is_unsigned_v<Rep>) {
    if (d.count() > static_cast<std::make_unsigned_t<Duration::rep>>(Duration::max().count())) return Duration::max();
  }
  Duration::rep ns = 0;
  if (__builtin_mul_overflow(static_cast<Duration::rep>(d.count()), static_cast<Duration::rep>(Ratio::num), &ns)) {
    return d.count() > 0 ? Duration::max() : Duration::min();
  }
  return Duration(ns);
}

// Whole milliseconds, rounded up (so a poll never spins with 0 ms while time remains, and "in
// 0 ms" never appears while time remains); 0 for a negative `d`. No overflow near Duration::max().
constexpr std::int64_t ceil_ms(Duration d) noexcept {
  const auto ns = d.count();
  // Not (ns + 999'999) / 1'000'000: that overflows when almost Duration::max() remains.
  return ns <= 0 ? 0 : ns / 1'000'000 + (ns % 1'000'000 != 0 ? 1 : 0);
}

namespace detail {

// Appends `d` in `Unit` with `suffix` if it is a whole number of them.
template <class Unit, class Rep, class Period>
bool append_whole(std::string& out, std::chrono::duration<Rep, Period> d, const char* suffix) {
  using Ticks = std::ratio_divide<typename Unit::period, Period>;  // ticks of `d` per Unit
  if constexpr (Ticks::den != 1) {
    return false;  // finer than d's own unit: d is already whole in a coarser one
  } else {
    if (d.count() % static_cast<Rep>(Ticks::num) != 0) return false;
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, d.count() / static_cast<Rep>(Ticks::num));
    out.append(buf, r.ptr).append(suffix);
    return true;
  }
}

}  // namespace detail

// `d` in the largest unit it is a whole number of, without a space: `0`, `999ms`, `1s`,
// `1500ms`, `30min`, `1h`, `250us`. The exact value, never rounded.
template <class Rep, class Period>
std::string format_duration(std::chrono::duration<Rep, Period> d) {
  using namespace std::chrono;
  static_assert(std::is_integral_v<Rep>, "integral durations only");
  if (d.count() == 0) return "0";
  std::string out;
  (void)(detail::append_whole<hours>(out, d, "h") || detail::append_whole<minutes>(out, d, "min") ||
         detail::append_whole<seconds>(out, d, "s") || detail::append_whole<milliseconds>(out, d, "ms") ||
         detail::append_whole<microseconds>(out, d, "us") || detail::append_whole<nanoseconds>(out, d, "ns"));
  return out;
}

}  // namespace reservoir
