// Tenants::acquire_async over a pool (ManualClock, scripted connector): the admission, quotas
// and fair order of acquire(), with Pool::acquire_async's contract (decided at once on the
// caller's thread, deadline as a clock timer, cancel, shutting_down at destruction, no
// thread per waiter).
#include <atomic>
#include <optional>

#include "tenant_fixture.hpp"
#include "callback_box.hpp"
#include "thread_count.hpp"

namespace reservoir::testing {
namespace {

using tenant::TenantConfig;
using tenant::TenantLease;

// One callback's outcome; kind() its error's kind (internal when it has none).
struct TenantBox : CallbackBox<TenantLease> {
  ErrorKind kind() {
    std::lock_guard g(mu);
    return got && !*got ? got->error().kind() : ErrorKind::internal;
  }
};

using TenantAsyncTest = TenantTest;

TEST_F(TenantAsyncTest, AFreePermitAndConnectionAreDeliveredOnTheCallersThread) {
  make(2);
  { auto warm = tenants->acquire("a", in(1s)); }  // an idle connection
  TenantBox box;
  auto pending = tenants->acquire_async("a", in(1s), box.callback());
  ASSERT_TRUE(pending) << pending.error().message();
  ASSERT_TRUE(box.has());
  EXPECT_EQ(box.on, std::this_thread::get_id());
  ASSERT_TRUE(*box.got);
  EXPECT_EQ((*box.got)->tenant(), "a");
  EXPECT_TRUE(pending->done());
  EXPECT_EQ(stats("a").active, 1u);
  box.got.reset();
  EXPECT_EQ(stats("a").active, 0u);
}

TEST_F(TenantAsyncTest, AQuotaIsRefusedAtOnceOnTheCallersThread) {
  tenant::TenantsConfig config;
  config.tenants["a"] = TenantConfig{.max_leases = 1};
  make(4, config);
  auto held = tenants->acquire("a", in(1s));
  ASSERT_TRUE(held);
  TenantBox box;
  ASSERT_TRUE(tenants->acquire_async("a", in(1s), box.callback()));
  ASSERT_TRUE(box.has());
  EXPECT_EQ(box.kind(), ErrorKind::quota_exceeded);
  EXPECT_EQ(stats("a").quota_rejections, 1u);
}

// Async waiters take their turns in the weighted deficit round robin like blocked callers.
TEST_F(TenantAsyncTest, QueuedCallbacksAreServedInFairOrder) {
  make(1);
  auto held = tenants->acquire("h", in(1s));
  ASSERT_TRUE(held);
  std::vector<std::string> got;
  auto note = [&](const std::string& label) {
    return [&got, label](Result<TenantLease> r) { got.push_back(r ? label : label + "!" + r.error().message()); };
  };
  for (const char* label : {"f0", "f1", "f2"}) ASSERT_TRUE(tenants->acquire_async("flood", in(10s), note(label)));
  ASSERT_TRUE(tenants->acquire_async("quiet", in(10s), note("q0")));
  EXPECT_EQ(tenants->totals().waiting, 4u);
  EXPECT_TRUE(got.empty());
  held->release();  // each callback drops its lease at once: the permit goes on, in turn
  EXPECT_EQ(got, (std::vector<std::string>{"f0", "q0", "f1", "f2"}));
  EXPECT_EQ(tenants->totals().active, 0u);
}

TEST_F(TenantAsyncTest, TheDeadlineIsAClockTimer) {
  make(1);
  auto held = tenants->acquire("h", in(1s));
  TenantBox box;
  ASSERT_TRUE(tenants->acquire_async("a", in(50ms), box.callback()));
  clock.advance(49ms);
  EXPECT_FALSE(box.has());
  clock.advance(1ms);  // the timer runs on this (the advancing) thread
  ASSERT_TRUE(box.has());
  EXPECT_EQ(box.on, std::this_thread::get_id());
  EXPECT_EQ(box.kind(), ErrorKind::exhausted);
  EXPECT_EQ(stats("a").timeouts, 1u);
  EXPECT_EQ(tenants->totals().waiting, 0u);
}

TEST_F(TenantAsyncTest, CancelWithdrawsAWaitingRequestOnThisThread) {
  make(1);
  auto held = tenants->acquire("h", in(1s));
  TenantBox box;
  auto pending = tenants->acquire_async("a", in(10s), box.callback());
  ASSERT_TRUE(pending);
  EXPECT_TRUE(pending->cancel());
  ASSERT_TRUE(box.has());
  EXPECT_EQ(box.on, std::this_thread::get_id());
  EXPECT_EQ(box.kind(), ErrorKind::cancelled);
  EXPECT_FALSE(pending->cancel());
  EXPECT_EQ(tenants->totals().waiting, 0u);
  held->release();
  EXPECT_EQ(tenants->totals().active, 0u);
}

TEST_F(TenantAsyncTest, DestroyingTheRegistryCompletesWaitingCallbacksWithShuttingDown) {
  make(1);
  TenantBox box;
  {
    auto held = tenants->acquire("h", in(1s));
    ASSERT_TRUE(tenants->acquire_async("a", in(10s), box.callback()));
    tenants.reset();
    ASSERT_TRUE(box.has());
    EXPECT_EQ(box.kind(), ErrorKind::shutting_down);
  }
}

TEST_F(TenantAsyncTest, ASetupOrAnEmptyCallbackIsRefusedAtTheCall) {
  tenant::TenantsOptions options;
  options.setup = [](Connection&, std::string_view, Deadline) -> Status { return {}; };
  make(1, {}, options);
  auto r = tenants->acquire_async("a", in(1s), [](Result<TenantLease>) {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
  EXPECT_NE(r.error().message().find("setup"), std::string::npos) << r.error().message();
  EXPECT_FALSE(tenants->acquire_async("a", in(1s), nullptr));
}

TEST_F(TenantAsyncTest, AThousandWaitingCallbacksCostNoThreadEach) {
  make(2);
  auto h1 = tenants->acquire("h", in(1s));
  auto h2 = tenants->acquire("h", in(1s));
  const int threads_before = thread_count();
  constexpr int kWaiters = 1000;
  std::atomic<int> served{0}, failed{0};
  for (int i = 0; i < kWaiters; ++i) {
    auto r = tenants->acquire_async("t" + std::to_string(i % 10), in(60s),
                                    [&](Result<TenantLease> lease) { (lease ? served : failed).fetch_add(1); });
    ASSERT_TRUE(r);
  }
  EXPECT_EQ(tenants->totals().waiting, static_cast<std::size_t>(kWaiters));
  EXPECT_LE(thread_count(), threads_before + 1) << "a waiter must not cost a thread";
  h1->release();
  h2->release();
  EXPECT_EQ(served.load(), kWaiters);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(tenants->totals().active, 0u);
}

}  // namespace
}  // namespace reservoir::testing
