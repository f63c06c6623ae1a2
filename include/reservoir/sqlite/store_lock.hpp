// reservoir/sqlite/store_lock.hpp — StoreLock: one owning process per file-based store.
//
// Part of reservoir::sqlite, its only user: a store file needs an owner, a server does not.
//
// Embedded stores (SQLite files, QdrantLocal-style directories) must not be written by two
// processes that each believe they own them. A StoreLock is an OS lock (flock) on a lock file
// beside the store, `<store>.lock`, plus an owner record in that file (pid, host, program,
// since) so the next process is told who holds the store instead of getting a bare "already
// accessed". Three properties the seed failure lacked:
//   - Inside one process, every open of the same store SHARES the ownership (a refcounted,
//     process-wide registry keyed by the canonical path): two pools on one file both work.
//   - A lock left by a dead process is recovered automatically: the kernel dropped its flock,
//     so the stale owner record is replaced, and the recovery is logged.
//   - An owner whose flock is still held (a live process) is never stolen from, whatever its
//     record says.
// The lock file is removed by the last releaser (while still holding the flock; acquirers
// detect an unlinked file by its inode and retry), so a clean shutdown leaves no stray file.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "reservoir/deadline.hpp"
#include "reservoir/error.hpp"
#include "reservoir/logger.hpp"

namespace reservoir::sqlite {

struct StoreLockOptions {
  // How long to wait for another process to release the store (0 = fail at once). Further
  // bounded by the caller's deadline; polled on the deadline's clock.
  std::chrono::milliseconds wait{0};
  // Time between attempts while waiting (>= 1 ms).
  std::chrono::milliseconds poll_interval{20};
  // Shown to other processes in the owner record; empty = this program's short name.
  std::string program{};
  // Receives the warning when a dead owner's lock is recovered; null = stderr_logger(warn).
  std::shared_ptr<Logger> logger{};
};

// The owner record written into the lock file.
struct StoreOwner {
  pid_t pid = 0;
  std::string host{};
  std::string program{};
  std::int64_t since_unix = 0;  // wall-clock seconds when the lock was taken

  // `pid 4242 (program, since 2026-11-23T21:30:00Z)`, with ` on host h` when not this host.
  std::string describe() const;
};

namespace detail {
struct StoreLockHolder;
// The store's path with symlinks and `..` resolved (the file itself need not exist).
// Errors: invalid_argument (empty, a directory), unavailable (the directory is missing).
Result<std::string> canonical_store_path(std::string_view path);
}  // namespace detail

// A share of this process's ownership of one store. Move-only; the process's OS lock is
// released when the last share in the process is destroyed or released.
class StoreLock {
 public:
  // Takes (or shares) ownership of `store_path`. The store file itself need not exist; its
  // directory must.
  // Errors:
  //   invalid_argument — empty path, or the path names a directory;
  //   unavailable      — `<path>: <cause>`: the directory is missing, the lock file cannot be
  //                      created or locked (permissions, read-only file system);
  //   busy             — `store /x.db is in use by pid 4242 (program, since ...)`: another
  //                      process holds it past options.wait or the deadline;
  //   timeout          — the deadline passed while another thread of this process was taking
  //                      the same lock.
  static Result<StoreLock> acquire(std::string_view store_path, Deadline deadline,
                                   StoreLockOptions options = {});

  // The owner recorded in `<store_path>.lock`, if the file exists and holds a record. Says
  // nothing about whether that owner is alive; only the OS lock does.
  static std::optional<StoreOwner> read_owner(std::string_view store_path);

  StoreLock() noexcept = default;
  StoreLock(StoreLock&&) noexcept = default;
  StoreLock& operator=(StoreLock&&) noexcept = default;
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;
  ~StoreLock();

  bool held() const noexcept { return holder_ != nullptr; }
  // The canonical store path and its lock file.
  const std::string& path() const noexcept;
  const std::string& lock_path() const noexcept;
  // Shares of this process's ownership alive now (including this one).
  long shares() const noexcept;
  // True if this share took the OS lock (no other share in this process existed).
  bool first_share() const noexcept { return first_; }
  // True if taking the OS lock replaced a record left by a process that died holding it.
  bool recovered() const noexcept;

  // Gives up this share now (the destructor does otherwise).
  void release() noexcept;

 private:
  StoreLock(std::shared_ptr<detail::StoreLockHolder> holder, bool first) noexcept
      : holder_(std::move(holder)), first_(first) {}

  std::shared_ptr<detail::StoreLockHolder> holder_;
  bool first_ = false;
};

}  // namespace reservoir::sqlite
