// tests/cluster/cluster_fake.hpp — a named fake endpoint for cluster tests: connects that fail
// while it is "down", connections that remember their endpoint and the password they were
// opened with, counts of opens and closes. Plus the fixture: a test clock and quiet pools.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "capture_logger.hpp"
#include "jump_clock.hpp"
#include "reservoir/cluster/cluster.hpp"
#include "reservoir/cluster/run.hpp"

namespace reservoir::cluster::testing {

using namespace std::chrono_literals;

struct FakeConn final : Connection {
  std::string endpoint;
  std::string password;
  bool broken = false;
};

class FakeEndpoint final : public Connector {
 public:
  explicit FakeEndpoint(std::string name, std::string password = "pw1")
      : name_(std::move(name)), password_(std::move(password)) {}

  Result<std::unique_ptr<Connection>> connect(Deadline) override {
    if (on_connect) on_connect();
    if (down.load()) return Error::unavailable(name_, "connection refused");
    opened.fetch_add(1);
    auto c = std::make_unique<FakeConn>();
    c->endpoint = name_;
    c->password = password_;
    return std::unique_ptr<Connection>(std::move(c));
  }
  // A server that is down has lost every session too.
  Status check(Connection& c, CheckDepth, Deadline) override {
    if (down.load() || static_cast<FakeConn&>(c).broken) return Error::unavailable(name_, "connection reset");
    return {};
  }
  Status reset(Connection&, Deadline) override { return {}; }
  void close(std::unique_ptr<Connection> c, Deadline) noexcept override {
    closed.fetch_add(1);
    if (static_cast<FakeConn&>(*c).password != password_) closed_other_password.fetch_add(1);
  }
  bool is_broken(const Connection& c) const noexcept override { return static_cast<const FakeConn&>(c).broken; }
  std::string endpoint() const override { return name_; }

  int live() const { return opened.load() - closed.load(); }

  std::function<void()> on_connect;  // runs inside each connect (set before any connect)
  std::atomic<bool> down{false};
  std::atomic<int> opened{0}, closed{0}, closed_other_password{0};

 private:
  std::string name_;
  std::string password_;
};

inline FakeConn& fake(ClusterLease& lease) { return static_cast<FakeConn&>(lease.connection()); }

class ClusterTest : public ::testing::Test {
 protected:
  // Every background feature of the pools off; the breaker and the detector as each test says.
  static ClusterConfig quiet_config() {
    ClusterConfig c;
    c.name = "test";
    c.pool.min_idle = 0;
    c.pool.max_size = 8;
    c.pool.max_lifetime = 0ms;
    c.pool.idle_timeout = 0ms;
    c.pool.keepalive_interval = 0ms;
    c.pool.validate_on_checkout = false;
    c.pool.acquire_timeout = 1000ms;
    c.pool.slow_acquire_threshold = 0ms;
    c.breaker.consecutive_failures = 100000;  // a breaker cannot be off: never trips here
    c.breaker.failure_rate = 0;
    c.outlier.consecutive_failures = 0;
    c.outlier.failure_rate_min = 0;
    c.outlier.latency_factor = 0;
    return c;
  }

  std::shared_ptr<FakeEndpoint> endpoint(const std::string& name) {
    auto e = std::make_shared<FakeEndpoint>(name);
    fakes[name] = e;
    return e;
  }

  // A cluster over fresh fake endpoints `names` (each priority 0, weight 1 unless changed).
  Cluster make(ClusterConfig config, const std::vector<std::string>& names) {
    if (config.endpoints.empty()) {
      for (const auto& n : names) config.endpoints.push_back({.name = n, .connector = endpoint(n)});
    }
    auto r = Cluster::create(std::move(config), options());
    if (!r) ADD_FAILURE() << r.error().message();
    return std::move(r).value();
  }

  ClusterOptions options() {
    return {.clock = &clock, .logger = logger, .start_maintainers = false, .seed = 7};
  }

  Deadline in(Duration d) const { return Deadline::after(clock, d); }

  // Acquires and releases `n` times; how many went to each endpoint.
  std::map<std::string, int> spread(Cluster& c, int n) {
    std::map<std::string, int> count;
    for (int i = 0; i < n; ++i) {
      auto lease = c.acquire(in(1s));
      if (!lease) {
        ADD_FAILURE() << lease.error().message();
        continue;
      }
      ++count[lease->endpoint()];
    }
    return count;
  }

  static const EndpointStats& stats_of(const ClusterStats& s, const std::string& name) {
    for (const auto& e : s.endpoints) {
      if (e.name == name) return e;
    }
    static EndpointStats none;
    ADD_FAILURE() << "no endpoint " << name;
    return none;
  }

  // Blocks (real time, bounded) until `done()`: for work on another thread.
  template <class Pred>
  static bool eventually(Pred done) {
    for (int i = 0; i < 5000; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return done();
  }

  // Every fake's connections are closed once the cluster is gone.
  void TearDown() override {
    for (const auto& [name, f] : fakes) EXPECT_EQ(f->live(), 0) << name << " leaked a connection";
  }

  // Backoff sleeps jump; everything else moves only when a test advances it.
  reservoir::testing::JumpClock clock;
  std::shared_ptr<reservoir::testing::CaptureLogger> logger = std::make_shared<reservoir::testing::CaptureLogger>();
  std::map<std::string, std::shared_ptr<FakeEndpoint>> fakes;
};

}  // namespace reservoir::cluster::testing
