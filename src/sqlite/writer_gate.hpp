// Internal: the in-process writer gate of one store.
//
// SQLite allows one writer at a time; a writer that finds the lock taken can only sleep and
// retry (the busy handler), which puts milliseconds of tail latency on every contended write.
// Writers of this process instead queue on the gate and one is woken the moment the previous
// one commits. The busy handler still covers writers SQLite sees from elsewhere (a sqlite3
// shell that ignores the store lock, a checkpoint).
//
// The gate is a futex word with glibc's mutex protocol (0 free, 1 held, 2 held and maybe
// slept on): entering and leaving without contention is one atomic operation each, a queued
// writer sleeps once, and a running writer may take the gate ahead of a woken one. It is not
// a std::mutex because it has no owner: a transaction may end on another thread than the one
// that began it (a lease handed on, a connection closed by the pool). Measured, same sitting,
// pooled/raw at clients-5 (tools/reservoir-bench/README.md): a mutex and a condition variable,
// the first gate, 61-69% (two to three context switches per contended write, on the mutex as
// much as on the condition); a POSIX semaphore 58-73%; this protocol 83-88%.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "reservoir/deadline.hpp"

namespace reservoir::sqlite::detail {

class WriterGate {
 public:
  // The gate shared by every connection of this process on `canonical_path`.
  static std::shared_ptr<WriterGate> for_store(const std::string& canonical_path);

  // Waits for the gate until `deadline`; true once entered.
  bool enter(const Deadline& deadline);
  void leave() noexcept;

 private:
  bool try_enter() noexcept;
  bool wait_on_steady_clock(const Deadline& deadline);
  bool wait_on_injected_clock(const Deadline& deadline);

  std::atomic<int> state_{0};  // 0 free, 1 held, 2 held and a writer may sleep on it
  // Writers whose deadline runs on an injected clock (a test's ManualClock) cannot sleep on
  // the futex, whose timeout is real time: they wait on the clock, and leave() wakes them.
  std::atomic<int> clock_waiters_{0};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace reservoir::sqlite::detail
