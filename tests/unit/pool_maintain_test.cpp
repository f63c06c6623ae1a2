// The maintainer's jobs, driven by the manual clock: lifetimes, idle retirement, uses,
// keepalive, checkout validation, leak reports, min_idle refill.
#include <thread>

#include "pool_fixture.hpp"

namespace reservoir::testing {
namespace {

std::uint64_t closed(const Pool& pool, CloseReason r) { return pool.stats().closed_by[static_cast<std::size_t>(r)]; }

TEST_F(PoolTest, MaxLifetimeRetiresWithJitterWithinBounds) {
  PoolConfig c = quiet_config();
  c.max_lifetime = 100s;
  c.lifetime_jitter = 0.1;  // each connection lives 90..100 s
  c.min_idle = 4;
  c.init_mode = InitMode::wait;
  Pool pool = make_pool(c);
  ASSERT_EQ(pool.stats().idle, 4u);
  clock.advance(89s);
  pool.run_maintenance();
  EXPECT_EQ(closed(pool, CloseReason::lifetime), 0u);
  clock.advance(11s);  // 100 s: every connection is past its jittered lifetime
  pool.run_maintenance();
  EXPECT_EQ(closed(pool, CloseReason::lifetime), 4u);
  // Refilled on connect threads, never more than max_concurrent_connects at once.
  EXPECT_TRUE(eventually([&] { return pool.stats().idle == 4u; })) << pool.stats().to_string();
  EXPECT_LE(connector->max_in_flight.load(), 2);
  expect_consistent(pool, *connector);
}

TEST_F(PoolTest, JitterSpreadsExpiries) {
  PoolConfig c = quiet_config();
  c.max_lifetime = 1000s;
  c.lifetime_jitter = 0.5;
  c.max_size = 8;
  c.min_idle = 8;
  c.init_mode = InitMode::wait;
  Pool pool = make_pool(c);
  // Halfway through the jitter window some, but not all, have expired.
  clock.advance(750s);
  pool.run_maintenance();
  const auto retired = closed(pool, CloseReason::lifetime);
  EXPECT_GT(retired, 0u);
  EXPECT_LT(retired, 8u);
}

TEST_F(PoolTest, LeasedConnectionPastLifetimeRetiresOnReturnNeverWhileInUse) {
  PoolConfig c = quiet_config();
  c.max_lifetime = 10s;
  c.lifetime_jitter = 0.0;
  Pool pool = make_pool(c);
  auto lease = pool.acquire();
  clock.advance(11s);
  pool.run_maintenance();
  EXPECT_EQ(connector->closes.load(), 0) << "never close a connection in use";
  lease->release();
  EXPECT_EQ(closed(pool, CloseReason::lifetime), 1u);
}

TEST_F(PoolTest, ExpiredIdleConnectionIsNotHandedOut) {
  PoolConfig c = quiet_config();
  c.max_lifetime = 10s;
  c.lifetime_jitter = 0.0;
  Pool pool = make_pool(c);
  int id = 0;
  {
    auto lease = pool.acquire();
    id = fake(*lease).id;
  }
  clock.advance(10s);
  auto lease = pool.acquire();
  ASSERT_TRUE(lease);
  EXPECT_NE(fake(*lease).id, id);
}

TEST_F(PoolTest, IdleTimeoutKeepsMinIdle) {
  PoolConfig c = quiet_config();
  c.idle_timeout = 60s;
  c.min_idle = 1;
  Pool pool = make_pool(c);
  {
    auto a = pool.acquire(), b = pool.acquire(), d = pool.acquire();
  }
  // Three for the callers, maybe one more: a connect thread tops idle up to min_idle too.
  ASSERT_TRUE(eventually([&] { return pool.stats().connecting == 0; }));
  const std::uint64_t opened = pool.stats().idle;
  ASSERT_GE(opened, 3u);
  clock.advance(59s);
  pool.run_maintenance();
  EXPECT_EQ(pool.stats().idle, opened);
  clock.advance(1s);
  pool.run_maintenance();
  EXPECT_EQ(pool.stats().idle, 1u);
  EXPECT_EQ(closed(pool, CloseReason::idle), opened - 1);
}

TEST_F(PoolTest, MaxUsesRecycles) {
  PoolConfig c = quiet_config();
  c.max_uses = 3;
  Pool pool = make_pool(c);
  for (int i = 0; i < 3; ++i) (void)pool.acquire();
  EXPECT_EQ(closed(pool, CloseReason::uses), 1u);
  EXPECT_EQ(pool.stats().created, 1u);
  (void)pool.acquire();
  EXPECT_EQ(pool.stats().created, 2u);
  EXPECT_EQ(pool.stats().recycled(), 1u);
}

TEST_F(PoolTest, CheckoutValidationHonoursTheBypassWindow) {
  PoolConfig c = quiet_config();
  c.validate_on_checkout = true;
  c.validation_bypass = 500ms;
  c.checkout_check = CheckDepth::ping;
  Pool pool = make_pool(c);
  (void)pool.acquire();  // fresh connections are not checked
  (void)pool.acquire();  // used just now: bypassed
  EXPECT_EQ(connector->checks.load(), 0);
  clock.advance(500ms);
  (void)pool.acquire();
  EXPECT_EQ(connector->checks.load(), 1);
  EXPECT_EQ(connector->last_check_depth.load(), CheckDepth::ping);
}

// A failed connect says the server went away: sessions it had may be dead although used a
// moment ago. After a restart the bypass handed such connections out unchecked, their queries
// failed and tripped the breaker after the pool had recovered (PgDatabaseDown, 2 of 6 runs).
TEST_F(PoolTest, AfterAFailedConnectEvenRecentlyUsedConnectionsAreChecked) {
  PoolConfig c = quiet_config();
  c.validate_on_checkout = true;
  c.validation_bypass = 500ms;
  Pool pool = make_pool(c);
  auto first = pool.acquire(in(1s));
  ASSERT_TRUE(first);
  connector->script({ConnectOutcome::refuse});
  EXPECT_FALSE(pool.acquire(in(1s)));  // the server is down
  first->release();                     // used just now, inside the bypass window
  clock.advance(1ms);
  auto again = pool.acquire(in(1s));
  ASSERT_TRUE(again);
  EXPECT_EQ(connector->checks.load(), 1) << "checked despite the bypass: its session may have died";
  again->release();
  clock.advance(1ms);
  (void)pool.acquire(in(1s));
  EXPECT_EQ(connector->checks.load(), 1) << "once checked after the failure, the bypass applies again";
}

TEST_F(PoolTest, FailedCheckoutCheckIsReplacedTransparently) {
  PoolConfig c = quiet_config();
  c.validate_on_checkout = true;
  c.validation_bypass = 0ms;
  Pool pool = make_pool(c);
  int id = 0;
  {
    auto lease = pool.acquire();
    id = fake(*lease).id;
    fake(*lease).sick = true;  // e.g. the server closed it while idle
  }
  auto lease = pool.acquire();
  ASSERT_TRUE(lease) << "the caller never sees the dead connection";
  EXPECT_NE(fake(*lease).id, id);
  const PoolStats s = pool.stats();
  EXPECT_EQ(s.health_failures, 1u);
  EXPECT_EQ(s.closed_by[static_cast<std::size_t>(CloseReason::health)], 1u);
  EXPECT_DOUBLE_EQ(s.health_pass_rate(), 0.0);
}

TEST_F(PoolTest, KeepaliveChecksIdleConnectionsAndReplacesDeadOnes) {
  PoolConfig c = quiet_config();
  c.keepalive_interval = 30s;
  c.keepalive_check = CheckDepth::deep;
  c.min_idle = 2;
  c.init_mode = InitMode::wait;
  Pool pool = make_pool(c);
  clock.advance(29s);
  pool.run_maintenance();
  EXPECT_EQ(connector->checks.load(), 0);
  clock.advance(1s);
  pool.run_maintenance();
  EXPECT_EQ(connector->checks.load(), 2);
  EXPECT_EQ(connector->last_check_depth.load(), CheckDepth::deep);
  connector->set_checks_fail(true);
  clock.advance(30s);
  pool.run_maintenance();
  EXPECT_EQ(pool.stats().health_failures, 2u);
  EXPECT_EQ(closed(pool, CloseReason::health), 2u);
  EXPECT_TRUE(eventually([&] { return pool.stats().idle == 2u; })) << "replaced at once, on connect threads";
}

TEST_F(PoolTest, LeakReportNamesWhereTheLeaseWasTaken) {
  PoolConfig c = quiet_config();
  c.leak_detection_threshold = 5s;
  Pool pool = make_pool(c);
  auto lease = pool.acquire();  // this line is in the report
  const unsigned line = __LINE__ - 1;
  clock.advance(4s);
  pool.run_maintenance();
  EXPECT_EQ(pool.stats().leaks_reported, 0u);
  clock.advance(1s);
  pool.run_maintenance();
  pool.run_maintenance();
  EXPECT_EQ(pool.stats().leaks_reported, 1u) << "reported once per lease";
  EXPECT_TRUE(logger->contains("pool_maintain_test.cpp:" + std::to_string(line))) << logger->lines().size();
  EXPECT_TRUE(logger->contains("possible connection leak: lease held 5000 ms"));
}

TEST_F(PoolTest, MaintainerThreadRefillsMinIdleOnTheInjectedClock) {
  PoolConfig c = quiet_config();
  c.min_idle = 2;
  c.idle_timeout = 10s;
  Pool pool = make_pool(c, /*maintainer=*/true);
  for (int i = 0; i < 2000 && pool.stats().idle < 2; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(pool.stats().idle, 2u);
  {
    auto a = pool.acquire(), b = pool.acquire(), d = pool.acquire();
  }
  // The maintainer computes its next wake-up (the idle timeout) and sleeps on the clock.
  clock.advance(10s);
  for (int i = 0; i < 2000 && pool.stats().idle > 2; ++i) {
    std::this_thread::sleep_for(1ms);
    // A maintainer that was between two passes at the advance computes its wake-up from the
    // advanced time (failed once on a loaded machine): time keeps moving, as it would.
    if (i % 100 == 99) clock.advance(1s);
  }
  EXPECT_EQ(pool.stats().idle, 2u);
  EXPECT_GE(closed(pool, CloseReason::idle), 1u);
}

}  // namespace
}  // namespace reservoir::testing

namespace reservoir::testing {
namespace {

TEST_F(PoolTest, MaintainerSeesConnectionsOpenedAfterItWentToSleep) {
  PoolConfig c = quiet_config();
  c.keepalive_interval = 30s;
  Pool pool = make_pool(c, /*maintainer=*/true);
  wait_for_waiters(1);  // the maintainer sleeps, with no connection to keep alive yet
  { auto lease = pool.acquire(); }  // a borrower opens one
  clock.advance(30s);
  for (int i = 0; i < 2000 && connector->checks.load() == 0; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(connector->checks.load(), 1);
}

}  // namespace
}  // namespace reservoir::testing
