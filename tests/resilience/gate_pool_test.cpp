// The breaker as the pool's ConnectGate, with real threads: while half-open, only K probe
// connects reach the server; everyone else fails fast with circuit_open instead of queueing.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "reservoir/breaker.hpp"
#include "reservoir/typed_pool.hpp"
#include "scripted_connector.hpp"

namespace reservoir {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::Script;
using testing::ScriptedConnector;

TEST(BreakerGatePool, HalfOpenLetsExactlyOneProbeConnectThrough) {
  ManualClock clock;
  auto breaker = std::move(CircuitBreaker::create("fake:1", {.consecutive_failures = 1, .open_time = seconds(5)}, clock)).value();
  auto script = std::make_shared<Script>();
  script->down = true;
  PoolConfig config;
  config.min_idle = 0;
  config.max_size = 8;
  config.max_concurrent_connects = 8;  // only the gate limits connects here
  config.validate_on_checkout = false;
  PoolOptions options;
  options.clock = &clock;
  options.start_maintainer = false;
  options.connect_gate = breaker;
  auto pool = std::move(TypedPool<ScriptedConnector>::create(config, options, script)).value();

  EXPECT_FALSE(pool.acquire(Deadline::after(clock, seconds(1))).ok());  // trips the breaker
  ASSERT_EQ(breaker->state(), BreakerState::open);
  EXPECT_EQ(pool.acquire(Deadline::after(clock, seconds(1))).error().kind(), ErrorKind::circuit_open);
  EXPECT_EQ(script->connect_count(), 1) << "no connect while open";

  {
    std::lock_guard lock(script->mu);
    script->down = false;
    script->hold = true;  // the probe connect hangs until released
  }
  clock.advance(seconds(5));
  std::atomic<int> fast_failures{0};
  std::atomic<int> leases{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto lease = pool.acquire(Deadline::after(clock, seconds(1)));
      if (lease) {
        ++leases;
      } else if (lease.error().kind() == ErrorKind::circuit_open) {
        ++fast_failures;
      }
    });
  }
  // Seven callers are refused at once; the eighth is the probe, parked in connect.
  while (fast_failures.load() < 7) std::this_thread::yield();
  EXPECT_EQ(breaker->state(), BreakerState::half_open);
  script->release_held();
  for (auto& t : threads) t.join();
  EXPECT_EQ(leases.load(), 1);
  EXPECT_EQ(fast_failures.load(), 7);
  EXPECT_EQ(script->max_in_connect, 1) << "at most one probe connect at a time";
  EXPECT_EQ(script->connect_count(), 2);
  EXPECT_EQ(breaker->state(), BreakerState::closed);
  EXPECT_TRUE(pool.shutdown(seconds(1)).ok());
  EXPECT_EQ(script->open_now(), 0);
}


// A server that refuses connects (down, or restarting) is probed every refused_probe_interval
// (25 ms), whatever the grown open time: callers asking every 5 ms for two seconds get at most
// one connect per 25 ms through, and the first acquire 25 ms after the server is back succeeds.
TEST(BreakerGatePool, ARefusingServerIsProbedEveryIntervalAndFoundSoonAfterItIsBack) {
  ManualClock clock;
  auto breaker = std::move(CircuitBreaker::create("fake:1",
                                                  {.consecutive_failures = 3,
                                                   .open_time = seconds(5),
                                                   .open_time_multiplier = 2.0,
                                                   .max_open_time = seconds(60)},
                                                  clock))
                     .value();
  auto script = std::make_shared<Script>();
  script->down = true;
  PoolConfig config;
  config.min_idle = 0;
  config.max_size = 4;
  PoolOptions options;
  options.clock = &clock;
  options.start_maintainer = false;
  options.connect_gate = breaker;
  auto pool = std::move(TypedPool<ScriptedConnector>::create(config, options, script)).value();

  for (int ms = 0; ms < 2000; ms += 5) {
    EXPECT_FALSE(pool.acquire(Deadline::after(clock, seconds(1))).ok());
    clock.advance(milliseconds(5));
  }
  EXPECT_LE(script->connect_count(), 3 + 2000 / 25) << "three to trip, then one per 25 ms";
  EXPECT_GE(script->connect_count(), 2000 / 25 - 3) << "the probes go on at the short cadence";
  ASSERT_EQ(breaker->state(), BreakerState::open);
  EXPECT_LE(breaker->time_until_probe(), milliseconds(25));

  script->set_down(false);
  clock.advance(milliseconds(25));
  auto lease = pool.acquire(Deadline::after(clock, seconds(1)));
  ASSERT_TRUE(lease.ok()) << lease.error().message();
  EXPECT_EQ(breaker->state(), BreakerState::closed);
  lease->release();
  EXPECT_TRUE(pool.shutdown(seconds(1)).ok());
}

}  // namespace
}  // namespace reservoir
