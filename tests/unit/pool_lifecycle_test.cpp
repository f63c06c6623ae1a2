// Shutdown, destruction with leases out, resize at runtime, fork safety.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <future>
#include <optional>
#include <thread>

#include "pool_fixture.hpp"
#include "thread_count.hpp"

namespace reservoir::testing {
namespace {

// init_mode=wait opened min_idle connections one after another: 4 × a slow connect before
// create() returned (750 ms in the spike shape). They open max_concurrent_connects at a time.
TEST_F(PoolTest, WaitModeOpensItsConnectionsConcurrently) {
  struct PairingConnector final : Connector {
    Result<std::unique_ptr<Connection>> connect(Deadline) override {
      std::unique_lock lk(mu);
      ++in_flight;
      most = std::max(most, in_flight);
      cv.notify_all();
      // Each connect waits (in real time, bounded) for a second one to be in flight with it:
      // one at a time, the first waits out the bound and `most` stays 1.
      cv.wait_for(lk, std::chrono::seconds(10), [&] { return most >= 2; });
      --in_flight;
      return std::unique_ptr<Connection>(std::make_unique<FakeConnection>(++made));
    }
    Status check(Connection&, CheckDepth, Deadline) override { return {}; }
    Status reset(Connection&, Deadline) override { return {}; }
    void close(std::unique_ptr<Connection>, Deadline) noexcept override {}
    std::string endpoint() const override { return "pair:1"; }
    std::mutex mu;
    std::condition_variable cv;
    int in_flight = 0, most = 0, made = 0;
  };
  auto pairing = std::make_shared<PairingConnector>();
  PoolConfig c = quiet_config();
  c.min_idle = 4;
  c.max_size = 4;
  c.max_concurrent_connects = 2;
  c.init_mode = InitMode::wait;
  PoolOptions o;
  o.clock = &clock;
  o.logger = logger;
  o.start_maintainer = false;
  auto pool = Pool::create(pairing, c, o);
  ASSERT_TRUE(pool) << pool.error().message();
  EXPECT_EQ(pool->stats().idle, 4u);
  std::lock_guard g(pairing->mu);
  EXPECT_EQ(pairing->most, 2) << "never more than max_concurrent_connects at once, and that many";
  EXPECT_EQ(pairing->made, 4);
}

// The first failure is create()'s error; the connections that did open are closed with the pool.
TEST_F(PoolTest, WaitModeFailsWithTheFirstConnectError) {
  PoolConfig c = quiet_config();
  c.min_idle = 4;
  c.max_size = 4;
  c.init_mode = InitMode::wait;
  connector->script({ConnectOutcome::ok, ConnectOutcome::refuse});
  auto pool = Pool::create(connector, c, PoolOptions{.clock = &clock, .logger = logger, .start_maintainer = false});
  ASSERT_FALSE(pool);
  EXPECT_EQ(pool.error().kind(), ErrorKind::unavailable) << pool.error().message();
  EXPECT_EQ(connector->live(), 0u);
}

TEST_F(PoolTest, ShutdownRefusesNewAcquisitions) {
  Pool pool = make_pool(quiet_config());
  EXPECT_TRUE(pool.shutdown(0s));
  auto r = pool.acquire();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::shutting_down);
  EXPECT_FALSE(r.error().retryable());
}

TEST_F(PoolTest, ShutdownWakesWaitersWithShuttingDown) {
  PoolConfig c = quiet_config();
  c.max_size = 1;
  Pool pool = make_pool(c);
  auto held = pool.acquire();
  auto fut = std::async(std::launch::async, [&] { return pool.acquire(in(100s)); });
  wait_for_waiters(1);
  auto done = std::async(std::launch::async, [&] { return pool.shutdown(10s); });
  auto r = fut.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::shutting_down);
  held->release();
  EXPECT_TRUE(done.get());
}

TEST_F(PoolTest, ShutdownWaitsForLeasesWithinGrace) {
  Pool pool = make_pool(quiet_config());
  auto lease = pool.acquire();
  (void)pool.acquire();  // returned at once: idle
  auto done = std::async(std::launch::async, [&] { return pool.shutdown(5s); });
  wait_for_waiters(1);
  EXPECT_EQ(connector->closes.load(), 1) << "idle connections close at once";
  lease->release();
  Status s = done.get();
  EXPECT_TRUE(s) << s.error().message();
  EXPECT_EQ(connector->live(), 0u);
  EXPECT_EQ(pool.stats().closed_by[static_cast<std::size_t>(CloseReason::shutdown)], 2u);
}

TEST_F(PoolTest, ShutdownReportsLeasesStillOutAfterGrace) {
  Pool pool = make_pool(quiet_config());
  auto lease = pool.acquire();
  const unsigned line = __LINE__ - 1;
  auto done = std::async(std::launch::async, [&] { return pool.shutdown(2s); });
  wait_for_waiters(1);
  clock.advance(2s);
  Status s = done.get();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().kind(), ErrorKind::timeout);
  EXPECT_NE(s.error().message().find("1 connection(s) still out"), std::string::npos);
  EXPECT_NE(s.error().message().find("pool_lifecycle_test.cpp:" + std::to_string(line)), std::string::npos);
  EXPECT_EQ(connector->closes.load(), 0) << "a connection in use is never closed under its borrower";
  lease->release();
  EXPECT_EQ(connector->closes.load(), 1) << "closed when it comes back";
}

TEST_F(PoolTest, LeaseOutlivingItsPoolIsSafe) {
  std::optional<Lease> survivor;
  {
    Pool pool = make_pool(quiet_config());
    auto lease = pool.acquire();
    ASSERT_TRUE(lease);
    survivor.emplace(std::move(*lease));
  }  // pool destroyed with a lease out
  ASSERT_TRUE(survivor->valid());
  fake(*survivor).session_state = "still usable";
  survivor->release();  // ASan would flag a use-after-free here
  EXPECT_EQ(connector->closes.load(), 1);
  EXPECT_EQ(connector->live(), 0u);
}

// The returning thread makes its slot idle and then still reads the core; a ~Pool running at
// that moment can retire the slot, find nothing open and free the core under it. The window is
// a few instructions wide, so this races many times; ASan (the asan preset in CI) reports the
// use-after-free the moment one iteration hits it.
TEST_F(PoolTest, LeaseReturnedWhileItsPoolIsDestroyedIsSafe) {
  constexpr int kRounds = 3000;
  for (int i = 0; i < kRounds; ++i) {
    std::optional<Pool> pool(make_pool(quiet_config()));
    auto lease = pool->acquire();
    ASSERT_TRUE(lease) << lease.error().message();
    std::atomic<int> ready{0};
    std::thread releaser([&] {
      ready.fetch_add(1);
      while (ready.load() < 2) {
      }
      lease->release();
    });
    ready.fetch_add(1);
    while (ready.load() < 2) {
    }
    pool.reset();
    releaser.join();
  }
  EXPECT_EQ(connector->connects.load(), kRounds);
  EXPECT_EQ(connector->live(), 0u);
}

std::optional<Lease>& this_threads_cached_lease() {
  thread_local std::optional<Lease> cached;  // declared in a function: constructed per thread
  return cached;
}

// The return path's per-thread bookkeeping must still work from thread_local destructors,
// where a thread caching its lease gives it back.
TEST_F(PoolTest, LeaseCachedInAThreadLocalIsReturnedAtThreadExit) {
  Pool pool = make_pool(quiet_config());
  for (int i = 0; i < 3; ++i) {
    std::thread([&] {
      std::optional<Lease>& cache = this_threads_cached_lease();  // constructed first, destroyed last
      ASSERT_TRUE(pool.acquire());  // an ordinary return first: the thread's bookkeeping exists
      auto lease = pool.acquire();
      ASSERT_TRUE(lease) << lease.error().message();
      cache.emplace(std::move(*lease));
    }).join();
    EXPECT_EQ(pool.stats().in_use, 0u);
    EXPECT_EQ(pool.stats().idle, 1u);
  }
  EXPECT_EQ(connector->connects.load(), 1);
}

TEST_F(PoolTest, MovedPoolKeepsWorking) {
  Pool a = make_pool(quiet_config());
  Pool b = std::move(a);
  EXPECT_TRUE(b.acquire());
  Pool c = make_pool(quiet_config());
  c = std::move(b);
  EXPECT_TRUE(c.acquire());
}

TEST_F(PoolTest, GrowingLetsWaitersThrough) {
  PoolConfig c = quiet_config();
  c.max_size = 1;
  Pool pool = make_pool(c);
  auto held = pool.acquire();
  auto fut = std::async(std::launch::async, [&] { return pool.acquire(in(100s)); });
  wait_for_waiters(1);
  ASSERT_TRUE(pool.set_max_size(2));
  auto r = fut.get();
  ASSERT_TRUE(r);
  EXPECT_EQ(pool.stats().size, 2u);
  EXPECT_EQ(pool.stats().max_size, 2u);
}

TEST_F(PoolTest, ShrinkingRetiresIdleFirstThenLeasedAsTheyReturn) {
  PoolConfig c = quiet_config();
  c.max_size = 4;
  Pool pool = make_pool(c);
  std::vector<Lease> leases;
  for (int i = 0; i < 4; ++i) leases.push_back(std::move(pool.acquire().value()));
  leases.pop_back();  // one idle, three leased
  ASSERT_TRUE(pool.set_max_size(1));
  EXPECT_EQ(pool.stats().closed_by[static_cast<std::size_t>(CloseReason::shrink)], 1u);
  EXPECT_EQ(pool.stats().size, 3u) << "in-use connections are never taken away";
  leases.pop_back();
  leases.pop_back();
  EXPECT_EQ(pool.stats().size, 1u);
  EXPECT_EQ(pool.load().in_use, 1u);  // returns retired by the shrink ended their leases
  leases.pop_back();
  EXPECT_EQ(pool.load().in_use, 0u);
  EXPECT_EQ(pool.stats().size, 1u);
  EXPECT_EQ(pool.stats().idle, 1u);
  EXPECT_EQ(pool.stats().closed_by[static_cast<std::size_t>(CloseReason::shrink)], 3u);
  expect_consistent(pool, *connector);
}

TEST_F(PoolTest, ResizeRejectsBadValues) {
  PoolConfig c = quiet_config();
  c.min_idle = 2;
  Pool pool = make_pool(c);
  Status s = pool.set_max_size(0);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message(), "invalid_config: max_size=0: must be in 1..4096");
  s = pool.set_max_size(1);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message(), "invalid_config: max_size=1: must be >= min_idle (2)");
}

TEST_F(PoolTest, ChildAfterForkNeverUsesOrClosesTheParentsConnections) {
  std::thread([] {}).join();  // ThreadSanitizer starts a thread of its own at the first one
  const int threads_before = thread_count();
  Pool pool = make_pool(quiet_config());
  int parent_id = 0;
  {
    auto lease = pool.acquire();
    parent_id = fake(*lease).id;
  }
  auto held = pool.acquire();  // one leased across the fork as well
  ASSERT_TRUE(pool.acquire());
  // The connect threads have exited (a lease is handed over before its thread ends): the child
  // starts threads, which ThreadSanitizer refuses after a multi-threaded fork.
  ASSERT_TRUE(eventually([&] { return thread_count() == threads_before; }));
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Child: exit codes report what went wrong (gtest assertions don't cross fork).
    const int closes_before = connector->closes.load();
    auto lease = pool.acquire(in(1s));
    if (!lease) _exit(10);
    if (fake(*lease).id == parent_id) _exit(11);
    if (connector->abandons.load() < 1) _exit(12);
    if (pool.load().in_use != 1) _exit(15);  // the inherited lease left the count at fork
    held->release();  // the parent's leased connection comes back in the child
    if (connector->closes.load() != closes_before) _exit(13);
    if (pool.stats().size != 1) _exit(14);
    if (pool.load().in_use != 1) _exit(16);
    // Its connect threads are joined by ~Pool: a process that ends with a live pool leaves the
    // last one unjoined, which ThreadSanitizer reports as a leak.
    { Pool dying = std::move(pool); }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  // The parent's pool is untouched.
  auto again = pool.acquire();
  ASSERT_TRUE(again);
  EXPECT_EQ(connector->closes.load(), 0);
}

// Two threads shutting one pool down at once (a signal handler thread and main, say) both
// joined the maintainer thread; the second join waited forever on a thread already gone.
// Real clock and maintainer: the race is between two real joins.
TEST_F(PoolTest, ConcurrentShutdownsBothReturn) {
  for (int i = 0; i < 300; ++i) {
    PoolOptions o;
    o.logger = logger;
    o.start_maintainer = true;
    o.seed = 42;
    auto created = Pool::create(connector, quiet_config(), o);
    ASSERT_TRUE(created) << created.error().message();
    Pool pool = std::move(created).value();
    std::atomic<int> ready{0};
    auto stop = [&] {
      ready.fetch_add(1);
      while (ready.load() < 2) std::this_thread::yield();
      return pool.shutdown(Duration::zero());
    };
    auto a = std::async(std::launch::async, stop);
    auto b = std::async(std::launch::async, stop);
    // Bounded, so a regression fails here instead of hanging the run.
    if (a.wait_for(30s) != std::future_status::ready || b.wait_for(30s) != std::future_status::ready) {
      ADD_FAILURE() << "a concurrent shutdown() never returned (iteration " << i << ")";
      std::_Exit(1);
    }
    EXPECT_TRUE(a.get().ok());
    EXPECT_TRUE(b.get().ok());
  }
}

}  // namespace
}  // namespace reservoir::testing
