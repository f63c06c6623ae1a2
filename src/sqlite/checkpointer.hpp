// Internal: the background checkpointer of one store (sqlite::Checkpoint::background).
//
// SQLite's own checkpoint runs inside the commit that fills the WAL past wal_autocheckpoint:
// that write copies ~1000 pages back into the store file and syncs it, while every other
// writer of the process waits at the writer gate and, in a closed loop, soon every reader
// behind them too. Measured at clients-10 (tools/reservoir-bench/README.md): the writers' turn
// was held 19-20 us per write on average, against 11 us with no checkpoints at all. Here a
// thread of the process, with its own connection, copies the WAL back (PASSIVE: it never
// blocks a reader or a writer) while the writers go on; the connections' WAL hook replaces
// SQLite's automatic checkpoint and tells it how long the WAL is.
//
// A writer starts the WAL over only if it begins after everything in it was copied. Under
// sustained writes no such moment may come between the thread's rounds, and the WAL grows on
// however much they copy. So once it holds kCompleteFactor times the threshold, the commit
// that finds it so copies the rest itself, as SQLite's own checkpoint would, still inside the
// writers' turn: no other writer can begin before it is done, and the next one starts the WAL
// over. The thread has already copied most of it, so that round is short. (The thread taking
// the writer gate instead starved: writers that never pause keep retaking a gate it sleeps on.)
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>

#include "reservoir/logger.hpp"
#include "reservoir/sqlite/config.hpp"

struct sqlite3;

namespace reservoir::sqlite::detail {

class Checkpointer {
 public:
  struct Settings {
    std::string path;   // canonical store path
    const char* vfs;    // the connections' VFS (vfs_name(Locking)); null = SQLite's default
    int pages;          // a commit that leaves the WAL at least this long asks for a round
    std::string synchronous;  // the store's PRAGMA synchronous (a checkpoint syncs by it)
    std::shared_ptr<Logger> logger;
  };
  // A commit copies the rest itself once the WAL holds this many times `pages`.
  static constexpr int kCompleteFactor = 4;

  // The checkpointer this process's connections to `s.path` (with the same VFS and threshold)
  // share; made, and its thread started, by the first.
  static std::shared_ptr<Checkpointer> for_store(Settings s);
  // The running one for those settings, if any.
  static std::shared_ptr<Checkpointer> find(const Settings& s);

  explicit Checkpointer(Settings s);
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // Called from connection `db`'s WAL hook after each commit, inside the writer's turn, with
  // the WAL `wal_pages` long: asks the thread for a round once it grew by `pages` since the
  // last, and copies the rest on `db` once it is kCompleteFactor times `pages` long.
  void on_commit(sqlite3* db, int wal_pages) noexcept;
  CheckpointStats stats() const;

 private:
  // What the thread uses, on the heap apart from the handle: a forked child must leave it
  // untouched (its condition variable may have the parent's thread as a waiter, and
  // destroying it would wait for that thread forever).
  struct Worker;

  pid_t pid_;
  Worker* worker_;
  std::thread thread_;
};

}  // namespace reservoir::sqlite::detail
