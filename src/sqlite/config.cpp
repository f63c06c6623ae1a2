#include "reservoir/sqlite/config.hpp"

#include <string>

namespace reservoir::sqlite {

std::string_view to_string(Synchronous level) noexcept {
  switch (level) {
    case Synchronous::off: return "OFF";
    case Synchronous::normal: return "NORMAL";
    case Synchronous::full: return "FULL";
    case Synchronous::extra: return "EXTRA";
  }
  return "NORMAL";
}

Status Config::validate() const {
  if (path.empty()) return Error::invalid_config("path", "", "a database file path");
  if (path == ":memory:" || path.rfind("file:", 0) == 0) {
    return Error::invalid_config("path", path, "a plain file path (no :memory: or URI: the pool's connections share one store file)");
  }
  if (busy_sleep_max < std::chrono::microseconds(1) || busy_sleep_max > std::chrono::microseconds(100'000)) {
    return Error::invalid_config("busy_sleep_max", std::to_string(busy_sleep_max.count()) + "us", "1us..100ms");
  }
  if (store_lock_wait < std::chrono::milliseconds(0) || store_lock_wait > std::chrono::hours(1)) {
    return Error::invalid_config("store_lock_wait", std::to_string(store_lock_wait.count()) + "ms", "0ms..1h");
  }
  if (deep_check_sql.empty()) return Error::invalid_config("deep_check_sql", "", "a statement, e.g. PRAGMA quick_check");
  return {};
}

}  // namespace reservoir::sqlite
