// Shared set-up for pool unit tests: a ManualClock, a FakeConnector, a CaptureLogger, and the
// invariant every case must end with.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "capture_logger.hpp"
#include "fake_connector.hpp"
#include "reservoir/pool.hpp"

namespace reservoir::testing {

using namespace std::chrono_literals;

class PoolTest : public ::testing::Test {
 protected:
  // A config with every background feature off, so each test turns on only what it tests.
  static PoolConfig quiet_config() {
    PoolConfig c;
    c.min_idle = 0;
    c.max_size = 4;
    c.max_lifetime = 0ms;
    c.idle_timeout = 0ms;
    c.keepalive_interval = 0ms;
    c.validate_on_checkout = false;
    c.acquire_timeout = 1000ms;
    c.connect_backoff_initial = 100ms;
    c.connect_backoff_max = 1000ms;
    return c;
  }

  // Logs to `logger` unless `log` is given.
  Pool make_pool(PoolConfig config, bool maintainer = false, std::shared_ptr<Logger> log = nullptr) {
    PoolOptions o;
    o.clock = &clock;
    o.logger = log ? std::move(log) : logger;
    o.start_maintainer = maintainer;
    o.seed = 42;
    auto r = Pool::create(connector, std::move(config), o);
    if (!r) ADD_FAILURE() << r.error().message();
    return std::move(r).value();
  }

  // Go's strict close: each test's pool is gone by now, and so must be every connection it opened.
  void TearDown() override { EXPECT_EQ(connector->live(), 0u) << "a connection was neither closed nor abandoned"; }

  Deadline in(Duration d) const { return Deadline::after(clock, d); }

  // Blocks (real time, bounded) until `n` threads wait on the manual clock.
  void wait_for_waiters(int n) {
    for (int i = 0; i < 5000 && clock.waiters() < n; ++i) std::this_thread::sleep_for(1ms);
    ASSERT_GE(clock.waiters(), n);
  }

  // Blocks (real time, bounded) until `done()`: for work the pool does on its own threads
  // (connects), whose timing no clock decides.
  template <class Pred>
  static bool eventually(Pred done) {
    for (int i = 0; i < 5000; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(1ms);
    }
    return done();
  }

  // open = idle + in_use + connecting <= max_size, and the fake agrees on what is open.
  static void expect_consistent(const Pool& pool, const FakeConnector& fake) {
    const PoolStats s = pool.stats();
    EXPECT_EQ(s.size, s.idle + s.in_use + s.connecting);
    EXPECT_LE(s.size, s.max_size);
    EXPECT_EQ(s.size, fake.live());
  }

  ManualClock clock;
  std::shared_ptr<FakeConnector> connector = std::make_shared<FakeConnector>();
  std::shared_ptr<CaptureLogger> logger = std::make_shared<CaptureLogger>();
};

inline FakeConnection& fake(Lease& lease) { return static_cast<FakeConnection&>(lease.connection()); }

}  // namespace reservoir::testing
