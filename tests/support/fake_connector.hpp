// A scripted connector for the pool's own tests (after Go's fakedb_test.go): each test builds
// its own, scripts connect outcomes, breaks connections, fails checks or resets, and at
// teardown checks that every connection opened was closed or abandoned.
#pragma once

#include <atomic>
#include <deque>
#include <mutex>
#include <set>
#include <string>

#include "reservoir/connector.hpp"

namespace reservoir::testing {

struct FakeConnection final : Connection {
  explicit FakeConnection(int id) : id(id) {}
  int id;
  std::atomic<bool> broken{false};   // is_broken() reports it
  std::atomic<bool> sick{false};     // check() fails
  std::string session_state;         // what a borrower "SET"; reset() clears it
};

enum class ConnectOutcome { ok, refuse, hang };

class FakeConnector final : public Connector {
 public:
  // Outcomes for the next connects, in order; after the script runs out, `fallback`.
  void script(std::initializer_list<ConnectOutcome> outcomes) {
    std::lock_guard g(mu_);
    script_.insert(script_.end(), outcomes);
  }
  void set_fallback(ConnectOutcome o) { fallback_.store(o); }
  void set_checks_fail(bool fail) { checks_fail_.store(fail); }
  void set_reset_fails(bool fail) { reset_fails_.store(fail); }
  // Releases every connect parked in `hang` (they then fail with a timeout).
  void release_hangs() {
    std::lock_guard g(mu_);
    hang_released_ = true;
    cv_.notify_all();
  }

  Result<std::unique_ptr<Connection>> connect(Deadline deadline) override {
    ConnectOutcome o = next_outcome();
    connects.fetch_add(1);
    const int now_in_flight = in_flight.fetch_add(1) + 1;
    int seen = max_in_flight.load();
    while (now_in_flight > seen && !max_in_flight.compare_exchange_weak(seen, now_in_flight)) {
    }
    struct Leave { std::atomic<int>& n; ~Leave() { n.fetch_sub(1); } } leave{in_flight};
    if (o == ConnectOutcome::refuse) return Error::unavailable(endpoint(), "connection refused");
    if (o == ConnectOutcome::hang) {
      std::unique_lock lk(mu_);
      while (!hang_released_ && !deadline.expired()) {
        deadline.clock().wait_until(cv_, lk, deadline.when());
      }
      return Error::timeout(endpoint() + ": connect timed out");
    }
    auto conn = std::make_unique<FakeConnection>(next_id_.fetch_add(1));
    std::lock_guard g(mu_);
    live_.insert(conn->id);
    return std::unique_ptr<Connection>(std::move(conn));
  }

  Status check(Connection& c, CheckDepth depth, Deadline) override {
    checks.fetch_add(1);
    last_check_depth.store(depth);
    auto& fc = static_cast<FakeConnection&>(c);
    if (checks_fail_.load() || fc.sick.load()) return Error::unavailable(endpoint(), "check failed");
    return {};
  }

  Status reset(Connection& c, Deadline) override {
    resets.fetch_add(1);
    static_cast<FakeConnection&>(c).session_state.clear();
    if (reset_fails_.load()) return Error::unavailable(endpoint(), "reset failed");
    return {};
  }

  void close(std::unique_ptr<Connection> c, Deadline) noexcept override {
    closes.fetch_add(1);
    std::lock_guard g(mu_);
    live_.erase(static_cast<FakeConnection&>(*c).id);
  }

  void abandon(std::unique_ptr<Connection> c) noexcept override {
    abandons.fetch_add(1);
    std::lock_guard g(mu_);
    live_.erase(static_cast<FakeConnection&>(*c).id);
  }

  bool is_broken(const Connection& c) const noexcept override {
    return static_cast<const FakeConnection&>(c).broken.load();
  }

  std::string endpoint() const override { return "fake:1"; }
  // What backend_counters() reports (set before the pool is shared with other threads).
  std::vector<BackendCounter> counters;
  std::vector<BackendCounter> backend_counters() const override { return counters; }

  std::size_t live() const {
    std::lock_guard g(mu_);
    return live_.size();
  }

  std::atomic<int> connects{0}, closes{0}, abandons{0}, checks{0}, resets{0};
  std::atomic<int> in_flight{0}, max_in_flight{0};
  std::atomic<CheckDepth> last_check_depth{CheckDepth::fast};

 private:
  ConnectOutcome next_outcome() {
    std::lock_guard g(mu_);
    if (script_.empty()) return fallback_.load();
    ConnectOutcome o = script_.front();
    script_.pop_front();
    return o;
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ConnectOutcome> script_;
  std::atomic<ConnectOutcome> fallback_{ConnectOutcome::ok};
  std::atomic<bool> checks_fail_{false}, reset_fails_{false};
  bool hang_released_ = false;
  std::atomic<int> next_id_{1};
  std::set<int> live_;
};

}  // namespace reservoir::testing
