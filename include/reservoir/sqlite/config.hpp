// reservoir/sqlite/config.hpp — sqlite::Config: how the SQLite connector opens a store file.
//
// A plain aggregate with a comment per field; validate() names the field, the value and what
// is allowed. Fields may be added later (always with a default).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "reservoir/error.hpp"
#include "reservoir/logger.hpp"

namespace reservoir::sqlite {

// PRAGMA synchronous. In WAL mode `normal` is durable against application crashes and loses
// at most the last transactions on power loss; `full` also survives power loss.
enum class Synchronous { off, normal, full, extra };

std::string_view to_string(Synchronous level) noexcept;

struct Config {
  // The database file. Its directory must exist. `:memory:` and URIs are refused: a pool of
  // connections must share one store, and the store lock needs a real path.
  std::string path = "reservoir.db";
  // Create the file if it does not exist (otherwise connect fails with `unavailable`).
  bool create_if_missing = true;
  Synchronous synchronous = Synchronous::normal;
  // Longest single sleep between attempts while another writer holds the database lock. Busy
  // waits as a whole are bounded by each call's deadline, never by a fixed busy_timeout
  // (1 us..100 ms).
  std::chrono::microseconds busy_sleep_max{2000};
  // The statement a `deep` check runs. A `PRAGMA ..._check` must answer `ok`; any other
  // statement passes when it runs without error.
  std::string deep_check_sql = "PRAGMA quick_check";
  // How long connect() waits for another process to release the store (0 = fail at once with
  // `busy`), further bounded by the connect deadline (0 ms..1 h).
  std::chrono::milliseconds store_lock_wait{0};
  // Receives store-lock recoveries; null = stderr_logger(warn).
  std::shared_ptr<Logger> logger{};
  // Name shown to other processes in the store's owner record; empty = this program's name.
  std::string program{};

  // OK, or `invalid_config` naming the field.
  Status validate() const;
};

}  // namespace reservoir::sqlite
