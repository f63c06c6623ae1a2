// reservoir/source_location.hpp — where a lease was taken, for leak reports.
//
// std::source_location needs __builtin_source_location, which clang 14 lacks; the
// __builtin_FILE/__builtin_LINE pair works in both g++ 12 and clang 14.
#pragma once

namespace reservoir {

struct SourceLocation {
  const char* file = "";
  unsigned line = 0;

  static constexpr SourceLocation current(const char* file = __builtin_FILE(),
                                          unsigned line = __builtin_LINE()) noexcept {
    return SourceLocation{file, line};
  }
};

}  // namespace reservoir
