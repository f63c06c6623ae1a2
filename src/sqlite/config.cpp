#include "reservoir/sqlite/config.hpp"

#include <string>
#include <utility>

#include "reservoir/config_check.hpp"

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

std::string_view to_string(Locking locking) noexcept {
  return locking == Locking::per_transaction ? "per_transaction" : "process";
}

std::string_view to_string(Checkpoint checkpoint) noexcept {
  switch (checkpoint) {
    case Checkpoint::automatic: return "automatic";
    case Checkpoint::background: return "background";
    case Checkpoint::on_commit: return "on_commit";
  }
  return "automatic";
}

Checkpoint checkpoint_in_effect(const Config& config) noexcept {
  if (config.checkpoint != Checkpoint::automatic) return config.checkpoint;
  const bool syncs_every_commit = config.synchronous == Synchronous::full || config.synchronous == Synchronous::extra;
  return syncs_every_commit ? Checkpoint::on_commit : Checkpoint::background;
}

const char* vfs_name(Locking locking) noexcept { return locking == Locking::process ? "unix-excl" : nullptr; }

Status Config::validate() const {
  using config_check::quoted;
  if (path.empty()) return config_check::invalid("path", quoted(path), "a database file path");
  if (path == ":memory:" || path.rfind("file:", 0) == 0) {
    return config_check::invalid("path", quoted(path),
                                 "a plain file path (no :memory: or URI: the pool's connections share one store file)");
  }
  constexpr std::pair<std::string_view, Synchronous> kLevels[] = {
      {"off", Synchronous::off}, {"normal", Synchronous::normal}, {"full", Synchronous::full}, {"extra", Synchronous::extra}};
  constexpr std::pair<std::string_view, Locking> kLockings[] = {{"process", Locking::process},
                                                                {"per_transaction", Locking::per_transaction}};
  constexpr std::pair<std::string_view, Checkpoint> kCheckpoints[] = {
      {"automatic", Checkpoint::automatic}, {"background", Checkpoint::background}, {"on_commit", Checkpoint::on_commit}};
  for (Status s : {config_check::choice("synchronous", synchronous, kLevels), config_check::choice("locking", locking, kLockings),
                   config_check::choice("checkpoint", checkpoint, kCheckpoints),
                   config_check::duration("busy_sleep_max", busy_sleep_max, std::chrono::microseconds(1),
                                          std::chrono::milliseconds(100)),
                   config_check::duration("store_lock_wait", store_lock_wait, std::chrono::milliseconds(0),
                                          std::chrono::hours(1))}) {
    if (!s) return s;
  }
  if (checkpoint_pages < 1 || checkpoint_pages > 1'000'000) {
    return config_check::invalid("checkpoint_pages", std::to_string(checkpoint_pages), "1..1000000 (WAL pages)");
  }
  if (deep_check_sql.empty()) {
    return config_check::invalid("deep_check_sql", quoted(deep_check_sql), "a statement, e.g. PRAGMA quick_check");
  }
  return {};
}

}  // namespace reservoir::sqlite
