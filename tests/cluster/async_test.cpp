// Cluster::acquire_async on fake endpoints: the contract of Pool::acquire_async (never blocks,
// deadline as a clock timer, cancellation, shutting_down at destruction, no thread per
// waiter) over the walk of acquire() (a refused endpoint moves the request on).
#include <atomic>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "cluster_fake.hpp"
#include "fake_roles.hpp"
#include "callback_box.hpp"
#include "thread_count.hpp"

namespace reservoir::cluster::testing {
namespace {

// One callback's outcome; what() names the endpoint or the error.
struct Box : reservoir::testing::CallbackBox<ClusterLease> {
  std::string what() {
    std::lock_guard g(mu);
    if (!got) return "nothing";
    return *got ? (*got)->endpoint() : got->error().message();
  }
};

class ClusterAsyncTest : public ClusterTest {
 protected:
  ClusterConfig small() {
    ClusterConfig c = quiet_config();
    c.policy = Policy::round_robin;
    c.pool.max_size = 1;
    return c;
  }
  // Takes every connection of `c` (one per endpoint), opened beforehand.
  std::vector<ClusterLease> hold_all(Cluster& c, int n) {
    std::vector<ClusterLease> held;
    for (int i = 0; i < n; ++i) held.push_back(std::move(c.acquire(in(1s))).value());
    return held;
  }
};

TEST_F(ClusterAsyncTest, AnIdleConnectionIsDeliveredOnTheCallersThread) {
  Cluster c = make(small(), {"x", "y"});
  { auto warm = hold_all(c, 2); }
  Box box;
  auto pending = c.acquire_async(in(1s), box.callback());
  ASSERT_TRUE(pending) << pending.error().message();
  ASSERT_TRUE(box.has());
  EXPECT_EQ(box.on, std::this_thread::get_id());
  EXPECT_TRUE(pending->done());
  EXPECT_FALSE(pending->cancel());
  EXPECT_TRUE(box.what() == "x" || box.what() == "y") << box.what();
}

TEST_F(ClusterAsyncTest, AnEndpointThatRefusesMovesTheRequestOnAndFeedsTheDetector) {
  ClusterConfig config = small();
  Cluster c = make(config, {"x", "y"});
  fakes["x"]->down = true;
  Box box;
  ASSERT_TRUE(c.acquire_async(in(1s), box.callback()));
  ASSERT_TRUE(eventually([&] { return box.has(); }));
  EXPECT_EQ(box.what(), "y");
  const auto s = c.stats();
  EXPECT_EQ(stats_of(s, "x").failures, 1u);
  EXPECT_EQ(s.failovers, 1u);
}

TEST_F(ClusterAsyncTest, AReturnedConnectionServesTheQueuedCallback) {
  Cluster c = make(small(), {"x", "y"});
  auto held = hold_all(c, 2);
  Box box;
  ASSERT_TRUE(c.acquire_async(in(10s), box.callback()));
  EXPECT_FALSE(box.has());
  std::thread returner([&] { held.clear(); });
  returner.join();
  ASSERT_TRUE(box.has());
  EXPECT_TRUE(box.what() == "x" || box.what() == "y") << box.what();
}

TEST_F(ClusterAsyncTest, TheDeadlineIsAClockTimer) {
  Cluster c = make(small(), {"x"});
  auto held = hold_all(c, 1);
  Box box;
  ASSERT_TRUE(c.acquire_async(in(50ms), box.callback()));
  clock.advance(49ms);
  EXPECT_FALSE(box.has());
  clock.advance(1ms);  // the timer runs on this (the advancing) thread
  ASSERT_TRUE(box.has());
  EXPECT_EQ(box.on, std::this_thread::get_id());
  EXPECT_EQ(box.got->error().kind(), ErrorKind::exhausted) << box.what();
}

TEST_F(ClusterAsyncTest, CancelWithdrawsAQueuedRequestOnThisThread) {
  Cluster c = make(small(), {"x", "y"});
  auto held = hold_all(c, 2);
  Box box;
  auto pending = c.acquire_async(in(10s), box.callback());
  ASSERT_TRUE(pending);
  EXPECT_FALSE(pending->done());
  EXPECT_TRUE(pending->cancel());
  ASSERT_TRUE(box.has());
  EXPECT_EQ(box.on, std::this_thread::get_id());
  EXPECT_EQ(box.got->error().kind(), ErrorKind::cancelled);
  EXPECT_FALSE(pending->cancel());
  held.clear();  // nobody waits: the connections go back idle
  EXPECT_EQ(c.stats().endpoints[0].load.waiting, 0u);
}

TEST_F(ClusterAsyncTest, DestroyingTheClusterCompletesQueuedCallbacksWithShuttingDown) {
  Box box;
  std::vector<ClusterLease> held;
  {
    Cluster c = make(small(), {"x", "y"});
    held = hold_all(c, 2);
    ASSERT_TRUE(c.acquire_async(in(10s), box.callback()));
    EXPECT_FALSE(box.has());
  }
  ASSERT_TRUE(box.has());
  EXPECT_EQ(box.got->error().kind(), ErrorKind::shutting_down) << box.what();
  held.clear();
}

TEST_F(ClusterAsyncTest, AWriteGoesToThePrimaryAndAReadIsRefusedAtTheCall) {
  auto roles = std::make_shared<FakeRoles>();
  roles->set("p", {EndpointRole::primary});
  roles->set("r", {EndpointRole::replica});
  ClusterConfig config = small();
  config.routing.roles = roles;
  Cluster c = make(config, {"p", "r"});
  { auto warm = hold_all(c, 2); }  // roles seen at checkout
  for (int i = 0; i < 3; ++i) {
    Box box;
    ASSERT_TRUE(c.acquire_async(in(1s), box.callback(), Intent::write()));
    ASSERT_TRUE(eventually([&] { return box.has(); }));
    EXPECT_EQ(box.what(), "p");
  }
  Box box;
  auto read = c.acquire_async(in(1s), box.callback(), Intent::read());
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().kind(), ErrorKind::invalid_argument);
  EXPECT_FALSE(box.has());
  EXPECT_FALSE(c.acquire_async(in(1s), nullptr));
}

TEST_F(ClusterAsyncTest, AThousandQueuedCallbacksCostNoThreadEach) {
  ClusterConfig config = small();
  config.pool.max_size = 2;
  Cluster c = make(config, {"x", "y"});
  auto held = hold_all(c, 4);
  const int threads_before = reservoir::testing::thread_count();
  constexpr int kWaiters = 1000;
  std::atomic<int> served{0}, failed{0};
  for (int i = 0; i < kWaiters; ++i) {
    auto r = c.acquire_async(in(60s), [&](Result<ClusterLease> lease) { (lease ? served : failed).fetch_add(1); });
    ASSERT_TRUE(r);
  }
  const auto s = c.stats();
  EXPECT_EQ(s.endpoints[0].load.waiting + s.endpoints[1].load.waiting, static_cast<std::size_t>(kWaiters));
  EXPECT_LE(reservoir::testing::thread_count(), threads_before + 1) << "a waiter must not cost a thread";
  held.clear();  // each return serves a callback, whose lease returns at once: a chain per endpoint
  EXPECT_EQ(served.load(), kWaiters);
  EXPECT_EQ(failed.load(), 0);
}

}  // namespace
}  // namespace reservoir::cluster::testing
