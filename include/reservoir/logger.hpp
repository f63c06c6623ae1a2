// reservoir/logger.hpp — the pluggable logger reservoir reports background events through
// (leaks, failed keepalives, recovered store locks).
#pragma once

#include <memory>
#include <string_view>

namespace reservoir {

enum class LogLevel { debug, info, warn, error };

std::string_view to_string(LogLevel level) noexcept;

class Logger {
 public:
  virtual ~Logger() = default;
  // Called from any thread, possibly concurrently. Must not call back into the pool.
  virtual void log(LogLevel level, std::string_view message) noexcept = 0;
};

// Writes `reservoir <level>: <message>` lines at or above `min_level` to stderr.
std::shared_ptr<Logger> stderr_logger(LogLevel min_level = LogLevel::warn);

}  // namespace reservoir
