// src/core/format.hpp — small formatting helpers for config and resilience messages (internal).
#pragma once

#include <charconv>
#include <cstdint>
#include <string>

#include "reservoir/clock.hpp"

namespace reservoir::detail {

// Appends `n` in decimal without going through iostreams or a temporary string.
inline void append_int(std::string& out, std::int64_t n) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, r.ptr);
}

// Whole milliseconds, rounded up so "next probe in 0 ms" never appears while time remains.
inline std::int64_t ceil_ms(Duration d) noexcept {
  const auto ns = d.count();
  // Not (ns + 999'999) / 1'000'000: that overflows when almost Duration::max() remains.
  return ns <= 0 ? 0 : ns / 1'000'000 + (ns % 1'000'000 != 0 ? 1 : 0);
}

// `1500 ms`, or `250 us` below a millisecond so a tiny bad value is not shown as 0 ms.
inline std::string duration_text(Duration d) {
  std::string s;
  if (d.count() != 0 && d > -std::chrono::milliseconds(1) && d < std::chrono::milliseconds(1)) {
    append_int(s, std::chrono::duration_cast<std::chrono::microseconds>(d).count());
    s += " us";
  } else {
    append_int(s, std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
    s += " ms";
  }
  return s;
}

inline std::string number_text(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

inline std::string number_text(std::uint64_t v) { return std::to_string(v); }

}  // namespace reservoir::detail
