// src/core/format.hpp — small formatting helpers for config and resilience messages (internal).
#pragma once

#include <charconv>
#include <cstdint>
#include <string>

namespace reservoir::detail {

// Appends `n` in decimal without going through iostreams or a temporary string.
inline void append_int(std::string& out, std::int64_t n) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, r.ptr);
}

}  // namespace reservoir::detail
