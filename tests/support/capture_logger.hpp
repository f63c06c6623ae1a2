// A Logger that keeps what it was told, for assertions.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "reservoir/logger.hpp"

namespace reservoir::testing {

class CaptureLogger final : public Logger {
 public:
  void log(LogLevel, std::string_view message) noexcept override {
    std::lock_guard g(mu_);
    lines_.emplace_back(message);
  }
  std::vector<std::string> lines() const {
    std::lock_guard g(mu_);
    return lines_;
  }
  bool contains(std::string_view needle) const {
    std::lock_guard g(mu_);
    for (const auto& l : lines_) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

}  // namespace reservoir::testing
