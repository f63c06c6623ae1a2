#include "reservoir/spdlog/spdlog_logger.hpp"

#include <spdlog/spdlog.h>

#include <string>
#include <utility>

namespace reservoir {

namespace {

void write(spdlog::logger& logger, spdlog::level::level_enum level, std::string_view text) noexcept {
  if (!logger.should_log(level)) return;
  try {
    // The text overload: no format-string parsing of what a server or a caller wrote.
    logger.log(level, spdlog::string_view_t(text.data(), text.size()));
  } catch (...) {
    // A logging failure (a full disk, a closed sink) must not break a pool thread.
  }
}

class SpdlogLogger final : public Logger {
 public:
  explicit SpdlogLogger(std::shared_ptr<spdlog::logger> logger) : logger_(std::move(logger)) {}
  void log(LogLevel level, std::string_view message) noexcept override {
    write(*logger_, spdlog_level_of(level), message);
  }

 private:
  std::shared_ptr<spdlog::logger> logger_;
};

class SpdlogEventListener final : public PoolListener {
 public:
  explicit SpdlogEventListener(std::shared_ptr<spdlog::logger> logger) : logger_(std::move(logger)) {}
  void on_event(const PoolEvent& event) noexcept override {
    const auto level = spdlog_level_of(event.kind);
    if (!logger_->should_log(level)) return;  // no line built for a level nobody reads
    try {
      write(*logger_, level, to_string(event));
    } catch (...) {
      // Building the line can only fail on allocation; the event is dropped, not the pool.
    }
  }

 private:
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace

spdlog::level::level_enum spdlog_level_of(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::debug: return spdlog::level::debug;
    case LogLevel::info: return spdlog::level::info;
    case LogLevel::warn: return spdlog::level::warn;
    case LogLevel::error: return spdlog::level::err;
  }
  return spdlog::level::err;
}

spdlog::level::level_enum spdlog_level_of(PoolEventKind kind) noexcept {
  switch (kind) {
    case PoolEventKind::leak_suspected: return spdlog::level::err;
    case PoolEventKind::connect_failed:
    case PoolEventKind::acquire_slow:
    case PoolEventKind::operation_slow: return spdlog::level::warn;
    case PoolEventKind::check_failed: return spdlog::level::info;
    case PoolEventKind::connection_created:
    case PoolEventKind::connection_closed: return spdlog::level::debug;
  }
  return spdlog::level::warn;
}

std::shared_ptr<Logger> spdlog_logger(std::shared_ptr<spdlog::logger> logger) {
  return std::make_shared<SpdlogLogger>(logger ? std::move(logger) : spdlog::default_logger());
}

std::shared_ptr<PoolListener> spdlog_event_listener(std::shared_ptr<spdlog::logger> logger) {
  return std::make_shared<SpdlogEventListener>(logger ? std::move(logger) : spdlog::default_logger());
}

}  // namespace reservoir
