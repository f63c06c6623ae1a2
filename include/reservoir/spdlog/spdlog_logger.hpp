// reservoir/spdlog/spdlog_logger.hpp — reservoir's log lines and pool events through spdlog.
//
//   auto log = spdlog::stdout_color_mt("db");
//   PoolOptions options;
//   options.logger = reservoir::spdlog_logger(log);
//   options.listener = reservoir::spdlog_event_listener(log);
//
// Messages are passed as text, never as format strings: a `{}` in an error from a server is
// logged as it is.
#pragma once

#include <memory>

#include <spdlog/logger.h>

#include "reservoir/logger.hpp"
#include "reservoir/pool_events.hpp"

namespace reservoir {

// Both take spdlog's default logger when given none.
// reservoir's log lines at their own level (debug, info, warn, error).
std::shared_ptr<Logger> spdlog_logger(std::shared_ptr<spdlog::logger> logger);

// Pool events as one key=value line each (to_string(PoolEvent)), at spdlog_level_of(kind).
std::shared_ptr<PoolListener> spdlog_event_listener(std::shared_ptr<spdlog::logger> logger);

// leak_suspected: error; connect_failed, acquire_slow, operation_slow: warn; check_failed:
// info; connection_created, connection_closed: debug.
spdlog::level::level_enum spdlog_level_of(PoolEventKind kind) noexcept;
spdlog::level::level_enum spdlog_level_of(LogLevel level) noexcept;

}  // namespace reservoir
