// tests/resilience/scripted_connector.hpp — a PoolConnector whose every outcome a test
// scripts: connects that fail (one by one or while "down"), connections that break, and
// counts of every open and close so a test can check that nothing leaked. One per test (its
// Script is shared with the test), never global.
#pragma once

#include <chrono>
#include <condition_variable>
#include <algorithm>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "reservoir/connector.hpp"

namespace reservoir::testing {

struct ScriptedConnection {
  int id = 0;
  bool broken = false;  // the test's operation sets this to simulate a dropped socket
};

struct Script {
  std::mutex mu;
  std::deque<Error> connect_failures;  // consumed one per connect, before `down` is looked at
  bool down = false;                   // while true every connect fails: connection refused
  std::string retryable_code;          // a backend code the connector classifies as retryable
  bool hold = false;                   // while true connects block (a slow server) until released
  std::condition_variable released;
  int connects = 0;                    // attempts, successful or not
  int in_connect = 0;                  // connects running now
  int max_in_connect = 0;              // the most that ever ran at once
  int opened = 0;
  int closed = 0;

  void release_held() {
    {
      std::lock_guard lock(mu);
      hold = false;
    }
    released.notify_all();
  }

  int open_now() {
    std::lock_guard lock(mu);
    return opened - closed;
  }
  int connect_count() {
    std::lock_guard lock(mu);
    return connects;
  }
  void set_down(bool d) {
    std::lock_guard lock(mu);
    down = d;
  }
};

class ScriptedConnector {
 public:
  using connection = ScriptedConnection;

  explicit ScriptedConnector(std::shared_ptr<Script> script) : script_(std::move(script)) {}

  Result<std::unique_ptr<ScriptedConnection>> connect(Deadline) {
    std::unique_lock lock(script_->mu);
    ++script_->connects;
    script_->max_in_connect = std::max(script_->max_in_connect, ++script_->in_connect);
    // Real time, bounded: only a test that forgets release_held() waits, and then only 10 s.
    script_->released.wait_for(lock, std::chrono::seconds(10), [&] { return !script_->hold; });
    --script_->in_connect;
    if (!script_->connect_failures.empty()) {
      Error e = script_->connect_failures.front();
      script_->connect_failures.pop_front();
      return e;
    }
    if (script_->down) return Error::unavailable("fake:1", "connection refused");
    auto c = std::make_unique<ScriptedConnection>();
    c->id = ++script_->opened;
    return c;
  }
  Status check(ScriptedConnection& c, CheckDepth, Deadline) {
    if (c.broken) return Error::unavailable("fake:1", "connection reset by peer");
    return {};
  }
  Status reset(ScriptedConnection&, Deadline) { return {}; }
  void close(std::unique_ptr<ScriptedConnection>, Deadline) noexcept {
    std::lock_guard lock(script_->mu);
    ++script_->closed;
  }
  bool is_broken(const ScriptedConnection& c) const noexcept { return c.broken; }
  // Go's ErrBadConn idea: the driver knows more than the kind, e.g. a serialization failure.
  bool is_retryable(const Error& e) const noexcept {
    return e.retryable() || (!script_->retryable_code.empty() && e.code() == script_->retryable_code);
  }
  std::string endpoint() const { return "fake:1"; }

 private:
  std::shared_ptr<Script> script_;
};

static_assert(PoolConnector<ScriptedConnector>);

}  // namespace reservoir::testing
