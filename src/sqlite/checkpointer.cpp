#include "checkpointer.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>

#include "core/process_registry.hpp"

namespace reservoir::sqlite::detail {

namespace {

// A process registry (never destroyed: connections may outlive statics).
struct Checkpointers {
  std::map<std::string, std::weak_ptr<Checkpointer>> by_key;
  // A forked child has none of the parent's threads: it makes its own if it opens the store.
  void after_fork_in_child_locked() { by_key.clear(); }
};
using Registry = reservoir::detail::ProcessRegistry<Checkpointers>;

std::string key_of(const Checkpointer::Settings& s) {
  std::string key = s.path;
  for (const std::string& part : {std::string(s.vfs ? s.vfs : ""), std::to_string(s.pages), s.synchronous}) {
    key.push_back('\0');
    key += part;
  }
  return key;
}

}  // namespace

struct Checkpointer::Worker {
  explicit Worker(Settings s) : s_(std::move(s)), complete_at_(kCompleteFactor * s_.pages) {}
  ~Worker() {
    if (db_) sqlite3_close_v2(db_);  // the last connection to the store checkpoints as it closes
  }
  void run();
  void stop();
  void on_commit(sqlite3* db, int wal_pages) noexcept;
  void complete(sqlite3* db) noexcept;
  CheckpointStats stats() const;
  void round();
  bool open_connection();
  void report(int rc, const char* what);

  Settings s_;
  sqlite3* db_ = nullptr;
  // A commit asks for a round once the WAL is s_.pages longer than at the last round (0 once
  // it started over): a round per s_.pages written, as SQLite's own checkpoint, also while a
  // reader's old snapshot keeps rounds from copying (another could do no better).
  std::atomic<int> round_base_{0};
  // The WAL's length at the last commit: a shorter one means it started over. Only commits
  // touch this and complete_at_, one at a time (the writers' turn orders them).
  std::atomic<int> last_commit_pages_{0};
  // A commit copies the rest once the WAL is this long: kCompleteFactor * s_.pages, or longer
  // after a reader's old snapshot kept such a round from copying everything.
  std::atomic<int> complete_at_;
  std::atomic<bool> requested_{false};
  std::string last_error_;
  mutable std::mutex mu_;  // guards stop_, stats_ and the wait; never held across I/O
  std::condition_variable cv_;
  bool stop_ = false;
  CheckpointStats stats_;  // busy: a round is running (requested_ is the other half)
};

std::shared_ptr<Checkpointer> Checkpointer::find(const Settings& s) {
  Registry& registry = Registry::instance();
  std::lock_guard g(registry.mutex());
  auto& all = registry.state().by_key;
  auto it = all.find(key_of(s));
  return it == all.end() ? nullptr : it->second.lock();
}

std::shared_ptr<Checkpointer> Checkpointer::for_store(Settings s) {
  const std::string key = key_of(s);
  Registry& registry = Registry::instance();
  std::lock_guard g(registry.mutex());
  return reservoir::detail::shared_by_key(registry.state().by_key, key,
                                          [&] { return std::make_shared<Checkpointer>(std::move(s)); });
}

Checkpointer::Checkpointer(Settings s) : pid_(::getpid()), worker_(new Worker(std::move(s))) {
  thread_ = std::thread([w = worker_] { w->run(); });
}

Checkpointer::~Checkpointer() {
  if (::getpid() != pid_) {
    // A forked child dropping what it inherited: the thread is not in this process, and
    // closing the parent's handle could checkpoint the parent's WAL. All of it is left alone.
    new std::thread(std::move(thread_));
    return;
  }
  worker_->stop();
  thread_.join();
  delete worker_;
}

void Checkpointer::on_commit(sqlite3* db, int wal_pages) noexcept { worker_->on_commit(db, wal_pages); }

CheckpointStats Checkpointer::stats() const { return worker_->stats(); }

void Checkpointer::Worker::stop() {
  {
    std::lock_guard g(mu_);
    stop_ = true;
  }
  cv_.notify_one();
}

void Checkpointer::Worker::on_commit(sqlite3* db, int wal_pages) noexcept {
  if (wal_pages < last_commit_pages_.exchange(wal_pages, std::memory_order_relaxed)) {  // started over
    round_base_.store(0, std::memory_order_relaxed);
    complete_at_.store(kCompleteFactor * s_.pages, std::memory_order_relaxed);
    std::lock_guard g(mu_);
    ++stats_.restarts;
  }
  if (wal_pages >= complete_at_.load(std::memory_order_relaxed)) return complete(db);
  if (wal_pages < round_base_.load(std::memory_order_relaxed) + s_.pages) return;
  if (requested_.exchange(true, std::memory_order_acq_rel)) return;  // one is pending already
  { std::lock_guard g(mu_); }  // the thread is either before its check or asleep
  cv_.notify_one();
}

void Checkpointer::Worker::complete(sqlite3* db) noexcept {
  int log = -1, copied = -1;
  const int rc = sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
  if (rc == SQLITE_OK && log >= 0) {
    // The next writer starts the WAL over, which resets this; if a reader's old snapshot
    // keeps it from doing so, not again before the WAL grew by s_.pages.
    complete_at_.store(log + s_.pages, std::memory_order_relaxed);
  }
  if ((rc & 0xff) == SQLITE_BUSY) return;  // the thread's round is running: the next commit tries
  std::lock_guard g(mu_);
  if (rc == SQLITE_OK) ++stats_.in_commit;
  else ++stats_.failed;  // the commit itself succeeded; its caller is not told
}

CheckpointStats Checkpointer::Worker::stats() const {
  std::lock_guard g(mu_);
  CheckpointStats out = stats_;
  out.busy = out.busy || requested_.load(std::memory_order_acquire);
  return out;
}

void Checkpointer::Worker::run() {
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stop_ || requested_.load(std::memory_order_acquire); });
    if (stop_) return;
    stats_.busy = true;
    requested_.store(false, std::memory_order_release);  // commits from now on ask again
    lk.unlock();
    round();
    lk.lock();
    stats_.busy = false;
  }
}

bool Checkpointer::Worker::open_connection() {
  int rc = sqlite3_open_v2(s_.path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, s_.vfs);
  if (rc == SQLITE_OK) {
    sqlite3_busy_timeout(db_, 100);  // only its first read may wait (a passive checkpoint never does)
    // SQLite opens a connection's WAL at its first read: a checkpoint before that copies nothing.
    const std::string sync = "PRAGMA synchronous=" + s_.synchronous;
    for (const std::string& sql : {sync, std::string("SELECT 1 FROM sqlite_schema LIMIT 1")}) {
      if ((rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr)) != SQLITE_OK) break;
    }
  }
  if (rc == SQLITE_OK) return true;
  report(rc, "opening its connection");
  sqlite3_close_v2(db_);
  db_ = nullptr;
  return false;
}

void Checkpointer::Worker::round() {
  if (!db_ && !open_connection()) return;
  int log = -1, copied = -1;
  const int rc = sqlite3_wal_checkpoint_v2(db_, "main", SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
  if ((rc & 0xff) == SQLITE_BUSY) return;  // a commit is copying the rest: nothing to add
  if (rc != SQLITE_OK || log < 0) {
    {
      std::lock_guard g(mu_);
      ++stats_.failed;
    }
    report(rc, "checkpoint");
    return;
  }
  round_base_.store(log, std::memory_order_relaxed);
  std::lock_guard g(mu_);
  ++stats_.rounds;
  if (copied == log) ++stats_.finished;
  stats_.wal_pages = log;
  stats_.copied_pages = copied;
}

void Checkpointer::Worker::report(int rc, const char* what) {
  std::string message = s_.path + ": background checkpoint: " + what + ": " +
                        (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
  if (message == last_error_) return;  // once per distinct error, not per round
  last_error_ = message;
  if (s_.logger) s_.logger->log(LogLevel::warn, message);
}

}  // namespace reservoir::sqlite::detail
