// Internal: the background checkpointer of one store (sqlite::Checkpoint::background).
//
// SQLite's own checkpoint runs inside the commit that fills the WAL past wal_autocheckpoint:
// that write copies ~1000 pages back into the store file and syncs it, while every other
// writer of the process waits at the writer gate and, in a closed loop, soon every reader
// behind them too. Measured at clients-10 (tools/reservoir-bench/README.md): the writers' turn
// was held ~40% longer on average because of it. Here a thread of the process, with its own
// connection, copies the WAL back (PASSIVE: it never blocks a reader or a writer) while the
// writers go on. SQLite's docs name this deployment ("disable automatic checkpoints and run
// them in a separate thread").
//
// A passive checkpoint only finishes (and so lets the next writer restart the WAL from its
// start) in a moment with no new commit. Under sustained writes that moment may not come: once
// the WAL holds kCompleteFactor times the threshold, the checkpointer takes the writer gate for
// one more round, which copies only what was committed during the last one.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>

#include "reservoir/logger.hpp"
#include "reservoir/sqlite/config.hpp"
#include "writer_gate.hpp"

namespace reservoir::sqlite::detail {

class Checkpointer {
 public:
  struct Settings {
    std::string path;   // canonical store path
    const char* vfs;    // the connections' VFS (vfs_name(Locking)); null = SQLite's default
    int pages;          // a commit that leaves the WAL at least this long asks for a round
    std::string synchronous;  // the store's PRAGMA synchronous (a checkpoint syncs by it)
    std::shared_ptr<WriterGate> gate;
    std::shared_ptr<Logger> logger;
  };
  // Rounds under the writer gate start once the WAL holds this many times `pages`.
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

  // Called from a connection's WAL hook after each commit, inside the writer's turn: asks for
  // a round when the WAL holds `wal_pages` and that is past the trigger. Never waits for I/O.
  void on_commit(int wal_pages) noexcept;
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
