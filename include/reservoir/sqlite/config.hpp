// reservoir/sqlite/config.hpp — sqlite::Config: how the SQLite connector opens a store file.
//
// A plain aggregate with a comment per field; validate() names the field, the value and what
// is allowed. Fields may be added later (always with a default).
#pragma once

#include <chrono>
#include <cstdint>
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

// How SQLite locks the store file between the connections that share it.
//   process          The connections of the process that owns the store (its StoreLock) take
//                    SQLite's file lock once, exclusively, and coordinate in memory: SQLite's
//                    `unix-excl` VFS, its WAL index on the heap. No lock system call per
//                    transaction: a point read costs about half as much. No other process
//                    can read the file while one of them is open, not even one that ignores
//                    the store lock (a sqlite3 shell is told "database is locked").
//   per_transaction  SQLite's default: file locks (fcntl) for every transaction, so another
//                    process may read alongside (a backup, a sqlite3 shell), at two lock
//                    system calls per read.
enum class Locking { process, per_transaction };

std::string_view to_string(Locking locking) noexcept;
// The SQLite VFS a connection opens with under `locking`; null is SQLite's default.
const char* vfs_name(Locking locking) noexcept;

// Who copies the WAL back into the store file (a checkpoint) each time it grew by
// checkpoint_pages.
//   automatic   background with synchronous off or normal, on_commit with full or extra.
//   background  A thread of this process, one per store, with its own connection, copies it
//               while writers go on (a PASSIVE checkpoint: it never blocks a reader or a
//               writer). A writer starts the WAL over only if it begins after everything was
//               copied, which under sustained writes may not happen: once the WAL holds four
//               times checkpoint_pages, the commit that finds it so copies the rest (little:
//               the thread copied most), as on_commit would. Borrowers may not set PRAGMA
//               wal_autocheckpoint. With full or extra, where every commit syncs the WAL, the
//               thread's syncs beside theirs slowed the commits (by ~13% at 10 clients).
//   on_commit   SQLite's default (wal_autocheckpoint): the commit that fills the WAL copies it
//               back and syncs the file, and every other writer of the process waits meanwhile
//               (milliseconds, every ~1000 pages).
enum class Checkpoint { automatic, background, on_commit };

std::string_view to_string(Checkpoint checkpoint) noexcept;

// What a store's background checkpointer did (Connector::checkpoint_stats()).
struct CheckpointStats {
  std::uint64_t rounds = 0;    // passive checkpoints the thread ran
  std::uint64_t finished = 0;  // rounds that left nothing to copy (the next write restarts the WAL)
  std::uint64_t in_commit = 0;  // rounds a commit ran, the WAL four thresholds long: no moment
                                // came between the thread's rounds in which it could start over
  std::uint64_t failed = 0;    // rounds that failed (the thread's: each distinct error logged once)
  std::uint64_t restarts = 0;  // times a writer started the WAL over from its beginning
  int wal_pages = 0;           // the WAL's length at the last round
  int copied_pages = 0;        // the pages of it in the store file after that round
  bool busy = false;           // a round is running or asked for
};

struct Config {
  // The database file. Its directory must exist. `:memory:` and URIs are refused: a pool of
  // connections must share one store, and the store lock needs a real path.
  std::string path = "reservoir.db";
  // Create the file if it does not exist (otherwise connect fails with `unavailable`).
  bool create_if_missing = true;
  Synchronous synchronous = Synchronous::normal;
  // See Locking. The store lock already keeps other reservoir processes out, so `process`
  // only also shuts out programs that ignore it.
  Locking locking = Locking::process;
  // See Checkpoint; checkpoint_in_effect() resolves `automatic`.
  Checkpoint checkpoint = Checkpoint::automatic;
  // WAL length, in pages, at which a checkpoint starts (SQLite's wal_autocheckpoint default;
  // 1..1,000,000).
  int checkpoint_pages = 1000;
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

// background or on_commit: what `config.checkpoint` means with its synchronous level.
Checkpoint checkpoint_in_effect(const Config& config) noexcept;

}  // namespace reservoir::sqlite
