#include "reservoir/logger.hpp"

#include <cstdio>
#include <mutex>
#include <string>

namespace reservoir {

std::string_view to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "unknown";
}

namespace {
class StderrLogger final : public Logger {
 public:
  explicit StderrLogger(LogLevel min) : min_(min) {}
  void log(LogLevel level, std::string_view message) noexcept override {
    if (level < min_) return;
    std::lock_guard g(mu_);  // one line at a time from concurrent threads
    std::fprintf(stderr, "reservoir %.*s: %.*s\n", static_cast<int>(to_string(level).size()),
                 to_string(level).data(), static_cast<int>(message.size()), message.data());
  }

 private:
  LogLevel min_;
  std::mutex mu_;
};
}  // namespace

std::shared_ptr<Logger> stderr_logger(LogLevel min_level) { return std::make_shared<StderrLogger>(min_level); }

}  // namespace reservoir
