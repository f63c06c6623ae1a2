// Internal: the in-process writer gate of one store.
//
// SQLite allows one writer at a time; a writer that finds the lock taken can only sleep and
// retry (the busy handler), which puts milliseconds of tail latency on every contended write.
// Writers of this process instead queue on a condition variable and are woken the moment the
// previous one commits. The busy handler still covers writers SQLite sees from elsewhere (a
// sqlite3 shell that ignores the store lock, a checkpoint).
#pragma once

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
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false;
  int waiting_ = 0;  // writers blocked in enter()
};

}  // namespace reservoir::sqlite::detail
