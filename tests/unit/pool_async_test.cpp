// acquire_async: callbacks instead of parked threads, on the same queue as acquire().
#include <atomic>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <vector>

#include "pool_fixture.hpp"
#include "callback_box.hpp"
#include "thread_count.hpp"

namespace reservoir::testing {
namespace {

using Box = CallbackBox<Lease>;

using PoolAsyncTest = PoolTest;

TEST_F(PoolAsyncTest, AnIdleConnectionIsDeliveredOnTheCallersThread) {
  Pool pool = make_pool(quiet_config());
  (void)pool.acquire(in(1s));  // one idle connection
  Box box;
  auto pending = pool.acquire_async(in(1s), box.callback());
  ASSERT_TRUE(pending.ok());
  ASSERT_TRUE(box.has());
  EXPECT_TRUE(box.got->ok());
  EXPECT_EQ(box.on, std::this_thread::get_id());
  EXPECT_TRUE(pending->done());
  EXPECT_FALSE(pending->cancel()) << "nothing left to cancel";
}

TEST_F(PoolAsyncTest, AnEmptyCallbackIsAClearErrorAndQueuesNothing) {
  Pool pool = make_pool(quiet_config());
  auto pending = pool.acquire_async(in(1s), AcquireCallback{});
  ASSERT_FALSE(pending.ok());
  EXPECT_EQ(pending.error().kind(), ErrorKind::invalid_argument);
  EXPECT_EQ(pool.load().waiting, 0u);
}

TEST_F(PoolAsyncTest, AReturnedConnectionGoesToTheOldestCallbackOnTheReturningThread) {
  PoolConfig c = quiet_config();
  c.max_size = 1;
  Pool pool = make_pool(c);
  auto held = pool.acquire(in(1s));
  ASSERT_TRUE(held);
  Box first, second;
  ASSERT_TRUE(pool.acquire_async(in(10s), first.callback()).ok());
  ASSERT_TRUE(pool.acquire_async(in(10s), second.callback()).ok());
  EXPECT_EQ(pool.load().waiting, 2u);
  std::thread returner([&] { held->release(); });
  const auto returner_id = returner.get_id();
  returner.join();
  ASSERT_TRUE(first.has());
  EXPECT_TRUE(first.got->ok());
  EXPECT_EQ(first.on, returner_id);
  EXPECT_FALSE(second.has());
  first.got.reset();  // its lease returns: straight to the second callback
  ASSERT_TRUE(second.has());
  EXPECT_TRUE(second.got->ok());
  EXPECT_EQ(pool.stats().created, 1u);
}

TEST_F(PoolAsyncTest, ADeadlineIsAClockTimerNotAThread) {
  PoolConfig c = quiet_config();
  c.max_size = 1;
  Pool pool = make_pool(c);
  auto held = pool.acquire(in(1s));
  Box box;
  ASSERT_TRUE(pool.acquire_async(in(300ms), box.callback()).ok());
  clock.advance(299ms);
  EXPECT_FALSE(box.has());
  clock.advance(1ms);  // the timer runs on this (the advancing) thread
  ASSERT_TRUE(box.has());
  ASSERT_FALSE(box.got->ok());
  EXPECT_EQ(box.got->error().kind(), ErrorKind::exhausted) << box.got->error().message();
  EXPECT_EQ(box.on, std::this_thread::get_id());
  EXPECT_EQ(pool.load().waiting, 0u);
  EXPECT_EQ(pool.stats().timeouts, 1u);
}

TEST_F(PoolAsyncTest, CancelWithdrawsAQueuedRequestAndNeverLosesAHandedConnection) {
  PoolConfig c = quiet_config();
  c.max_size = 1;
  Pool pool = make_pool(c);
  auto held = pool.acquire(in(1s));
  Box box;
  auto pending = pool.acquire_async(in(10s), box.callback());
  ASSERT_TRUE(pending.ok());
  EXPECT_TRUE(pending->cancel());
  ASSERT_TRUE(box.has());
  EXPECT_EQ(box.got->error().kind(), ErrorKind::cancelled);
  EXPECT_FALSE(pending->cancel()) << "a second cancel finds nothing";
  EXPECT_EQ(pool.load().waiting, 0u);
  EXPECT_EQ(clock.pending_timers(), 0u) << "the deadline's timer went with it";

  // Handed over first, cancelled after: the callback has the connection, cancel says no.
  Box late;
  auto other = pool.acquire_async(in(10s), late.callback());
  held->release();
  EXPECT_FALSE(other->cancel());
  ASSERT_TRUE(late.has());
  EXPECT_TRUE(late.got->ok()) << "a connection handed over at the cancel is never lost";
}

TEST_F(PoolAsyncTest, ShutdownAndDestructionCompleteEveryQueuedCallback) {
  PoolConfig c = quiet_config();
  c.max_size = 1;
  std::vector<std::unique_ptr<Box>> boxes;
  {
    Pool pool = make_pool(c);
    auto held = pool.acquire(in(1s));
    for (int i = 0; i < 3; ++i) {
      boxes.push_back(std::make_unique<Box>());
      ASSERT_TRUE(pool.acquire_async(in(10s), boxes.back()->callback()).ok());
    }
    held->release();  // the first callback gets it, and keeps it past the pool
  }
  ASSERT_TRUE(boxes[0]->has());
  EXPECT_TRUE(boxes[0]->got->ok());
  for (int i = 1; i < 3; ++i) {
    ASSERT_TRUE(boxes[i]->has()) << i;
    EXPECT_EQ(boxes[i]->got->error().kind(), ErrorKind::shutting_down);
  }
  boxes[0]->got.reset();  // a lease that outlived its pool returns safely
  EXPECT_EQ(connector->live(), 0u);
}

TEST_F(PoolAsyncTest, ACallbackThatThrowsIsLoggedAndItsLeaseReturns) {
  Pool pool = make_pool(quiet_config());
  auto r = pool.acquire_async(in(1s), [](Result<Lease> lease) {
    EXPECT_TRUE(lease.ok());
    throw std::runtime_error("boom");
  });
  ASSERT_TRUE(r.ok());
  // Delivered on the connect thread that opened the connection.
  EXPECT_TRUE(eventually([&] { return logger->contains("acquire_async callback threw (dropped): boom"); }));
  EXPECT_TRUE(eventually([&] { return pool.stats().in_use == 0u; }));
  EXPECT_TRUE(pool.acquire(in(1s)).ok());
}

TEST_F(PoolAsyncTest, TenThousandQueuedCallbacksCostNoThreadEach) {
  PoolConfig c = quiet_config();
  c.max_size = 4;
  Pool pool = make_pool(c);
  std::vector<Lease> held;
  for (int i = 0; i < 4; ++i) held.push_back(std::move(pool.acquire(in(1s))).value());
  EXPECT_TRUE(eventually([&] { return pool.stats().connecting == 0; }));
  const int threads_before = thread_count();
  constexpr int kWaiters = 10'000;
  std::atomic<int> served{0}, failed{0};
  for (int i = 0; i < kWaiters; ++i) {
    auto r = pool.acquire_async(in(60s), [&](Result<Lease> lease) { (lease ? served : failed).fetch_add(1); });
    ASSERT_TRUE(r.ok());
  }
  EXPECT_EQ(pool.load().waiting, static_cast<std::size_t>(kWaiters));
  EXPECT_LE(thread_count(), threads_before + 1) << "a waiter must not cost a thread";
  held.clear();  // each return serves a callback, whose lease returns at once: a chain
  EXPECT_EQ(served.load(), kWaiters);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(pool.load().waiting, 0u);
  EXPECT_EQ(pool.stats().created, 4u);
}

}  // namespace
}  // namespace reservoir::testing
