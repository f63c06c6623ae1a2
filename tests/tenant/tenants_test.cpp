// Tenants over a pool on a ManualClock and the scripted connector: quotas, the weighted
// deficit round robin, lending above guarantees, early refusal, deadlines, eviction, setup.
#include <gtest/gtest.h>

#include "tenant_fixture.hpp"

namespace reservoir::testing {
namespace {

using tenant::TenantConfig;
using tenant::TenantsConfig;

TenantsConfig with(std::map<std::string, TenantConfig> tenants) {
  TenantsConfig c;
  c.tenants = std::move(tenants);
  return c;
}

TEST_F(TenantTest, MaxLeasesIsRefusedAtOnceNamingTheTenantAndTheLimit) {
  make(4, with({{"a", TenantConfig{.max_leases = 2}}}));
  auto l1 = tenants->acquire("a", in(1s));
  auto l2 = tenants->acquire("a", in(1s));
  ASSERT_TRUE(l1 && l2);
  auto l3 = tenants->acquire("a", in(1s));
  ASSERT_FALSE(l3);
  EXPECT_EQ(l3.error().kind(), ErrorKind::quota_exceeded);
  EXPECT_EQ(l3.error().message(), "quota_exceeded: tenant \"a\": max_leases=2 reached (2 held)");
  EXPECT_EQ(l3.error().code(), "max_leases");
  EXPECT_FALSE(l3.error().retryable());
  EXPECT_EQ(clock.waiters(), 0);  // refused without waiting
  EXPECT_EQ(stats("a").quota_rejections, 1u);
  EXPECT_EQ(stats("a").active, 2u);
  // Another tenant is not held back by a's cap.
  EXPECT_TRUE(tenants->acquire("b", in(1s)));
}

TEST_F(TenantTest, OperationsPerWindowAreCappedAndRenew) {
  make(4, with({{"a", TenantConfig{.max_operations = 3, .operations_window = 1000ms}}}));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(tenants->acquire("a", in(1s)));
  clock.advance(400ms);
  auto refused = tenants->acquire("a", in(1s));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message(),
            "quota_exceeded: tenant \"a\": max_operations=3 per 1s reached (3 used in this window; it renews in 600ms)");
  EXPECT_EQ(refused.error().code(), "max_operations");
  clock.advance(600ms);
  EXPECT_TRUE(tenants->acquire("a", in(1s)));
  EXPECT_EQ(stats("a").operations, 4u);
  EXPECT_EQ(stats("a").window_operations, 1u);
}

TEST_F(TenantTest, OperationsInTotalAreCapped) {
  make(4, with({{"a", TenantConfig{.max_operations = 2}}}));
  ASSERT_TRUE(tenants->acquire("a", in(1s)));
  ASSERT_TRUE(tenants->acquire("a", in(1s)));
  clock.advance(24h);
  auto refused = tenants->acquire("a", in(1s));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message(), "quota_exceeded: tenant \"a\": max_operations=2 reached (2 used in total)");
}

// Queued requests count against max_operations, so a burst of waiters cannot pass the cap
// when permits come back.
TEST_F(TenantTest, QueuedRequestsCountAgainstTheOperationsCap) {
  make(2, with({{"a", TenantConfig{.max_operations = 3}}}));
  auto other = tenants->acquire("h", in(1s));
  auto held = tenants->acquire("a", in(1s));
  ASSERT_TRUE(other && held);
  queue_one("a", "a1");
  queue_one("a", "a2");
  auto refused = tenants->acquire("a", in(1s));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message(),
            "quota_exceeded: tenant \"a\": max_operations=3 reached (1 used in total, 2 queued)");
  held->release();
  join_all();
  EXPECT_EQ(order, (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(stats("a").operations, 3u);
}

// Weighted deficit round robin: a (weight 2) gets two turns per round, b and c one each, and
// each tenant's own requests go in arrival order.
TEST_F(TenantTest, WaitersAreServedByWeightedDeficitRoundRobin) {
  make(1, with({{"a", TenantConfig{.weight = 2}}}));
  auto held = tenants->acquire("h", in(1s));
  ASSERT_TRUE(held);
  for (int i = 0; i < 4; ++i) queue_one("a", "a" + std::to_string(i));
  queue_one("b", "b0");
  queue_one("b", "b1");
  queue_one("c", "c0");
  EXPECT_EQ(stats("a").waiting, 4u);
  held->release();
  join_all();
  EXPECT_EQ(order, (std::vector<std::string>{"a0", "a1", "b0", "c0", "a2", "a3", "b1"}));
}

// One tenant's flood of waiters costs a quiet tenant one turn per round, not a place at the
// end of one long line.
TEST_F(TenantTest, AFloodDoesNotStarveAQuietTenant) {
  make(1);
  auto held = tenants->acquire("h", in(1s));
  ASSERT_TRUE(held);
  for (int i = 0; i < 12; ++i) queue_one("flood", "f" + std::to_string(i));
  queue_one("quiet", "q0");
  queue_one("quiet", "q1");
  held->release();
  join_all();
  ASSERT_EQ(order.size(), 14u);
  const auto pos = [&](const std::string& label) { return std::find(order.begin(), order.end(), label) - order.begin(); };
  EXPECT_EQ(pos("q0"), 1);  // after the flood's current turn
  EXPECT_EQ(pos("q1"), 3);
}

// Guaranteed permits are never lent: a borrower can take what is above the guarantees, and
// the guaranteed tenant still gets its share at once while the borrower holds everything it
// may.
TEST_F(TenantTest, CapacityAboveGuaranteesIsLentAndGuaranteesAreKept) {
  make(4, with({{"g", TenantConfig{.guarantee = 2}}}));
  auto x1 = tenants->acquire("x", in(1s));
  auto x2 = tenants->acquire("x", in(1s));
  ASSERT_TRUE(x1 && x2);  // lent: g is idle
  EXPECT_EQ(tenants->totals().reserved_unused, 2u);
  // x's third waits: only g's guaranteed permits are free.
  std::optional<Result<tenant::TenantLease>> x3;
  std::thread t([&] { x3.emplace(tenants->acquire("x", in(100ms))); });
  wait_for_queued(1);
  auto g1 = tenants->acquire("g", in(1s));
  auto g2 = tenants->acquire("g", in(1s));
  EXPECT_TRUE(g1 && g2);  // at once, while x waits
  EXPECT_EQ(tenants->totals().active, 4u);
  clock.advance(100ms);
  t.join();
  ASSERT_TRUE(x3.has_value());
  ASSERT_FALSE(*x3);
  EXPECT_EQ(x3->error().kind(), ErrorKind::exhausted);
  EXPECT_EQ(stats("x").timeouts, 1u);
}

// When the guaranteed tenant is busy above nothing, its idle guarantee is not lent, but
// returned permits go to the waiting borrower as soon as they are above the guarantees.
TEST_F(TenantTest, AReturnedPermitIsLentToAWaitingBorrower) {
  make(3, with({{"g", TenantConfig{.guarantee = 1}}}));
  auto x1 = tenants->acquire("x", in(1s));
  auto y1 = tenants->acquire("y", in(1s));
  ASSERT_TRUE(x1 && y1);
  queue_one("x", "x2");  // the last permit is g's
  y1->release();         // frees one above the guarantee
  join_all();
  EXPECT_EQ(order, (std::vector<std::string>{"x2"}));
}

TEST_F(TenantTest, ACallerWhoseDeadlineCannotBeMetIsRefusedEarlyWithTheEstimate) {
  TenantsConfig config;
  config.min_hold_samples = 2;
  make(1, config);
  for (int i = 0; i < 2; ++i) {
    auto l = tenants->acquire("a", in(1s));
    ASSERT_TRUE(l);
    clock.advance(100ms);
  }
  auto held = tenants->acquire("a", in(1s));
  ASSERT_TRUE(held);
  auto refused = tenants->acquire("b", in(50ms));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind(), ErrorKind::exhausted);
  EXPECT_EQ(refused.error().message(),
            "exhausted: tenant \"b\": refused early: expected wait ~100ms (0 of its requests ahead, leases held "
            "~100ms on average, its share ~1 of 1 leases) exceeds the 50ms left");
  EXPECT_EQ(stats("b").early_refusals, 1u);
  EXPECT_EQ(clock.waiters(), 0);
  // A deadline the estimate fits waits and is served.
  queue_one("b", "b");
  held->release();
  join_all();
  EXPECT_EQ(order, (std::vector<std::string>{"b"}));
}

TEST_F(TenantTest, EveryWaitEndsAtTheCallersDeadline) {
  make(1);
  auto held = tenants->acquire("a", in(1s));
  ASSERT_TRUE(held);
  std::optional<Result<tenant::TenantLease>> r;
  std::thread t([&] { r.emplace(tenants->acquire("b", in(50ms))); });
  wait_for_queued(1);
  clock.advance(20ms);
  EXPECT_EQ(stats("b").oldest_waiter_age, Duration(20ms));
  EXPECT_EQ(stats("b").waiting, 1u);
  clock.advance(30ms);
  t.join();
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().message(),
            "exhausted: tenant \"b\": no lease within 50ms (0 held, 0 more of its requests waiting; 1/1 leases out, 0 "
            "waiting in all)");
  EXPECT_EQ(stats("b").timeouts, 1u);
  EXPECT_EQ(tenants->totals().waiting, 0u);
}

// The source's own wait (a pool also used outside the registry) is bounded by the same
// deadline, and its failure gives the permit back.
TEST_F(TenantTest, TheSourcesWaitEndsAtTheSameDeadline) {
  make(1);
  auto outside = pool->acquire(in(1s));  // not through the registry
  ASSERT_TRUE(outside);
  std::optional<Result<tenant::TenantLease>> r;
  std::thread t([&] { r.emplace(tenants->acquire("a", in(50ms))); });
  wait_for_waiters(1);
  EXPECT_EQ(tenants->totals().active, 1u);  // its permit, while the pool makes it wait
  clock.advance(50ms);
  t.join();
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().kind(), ErrorKind::exhausted);
  EXPECT_EQ(stats("a").failures, 1u);
  EXPECT_EQ(tenants->totals().active, 0u);
}

TEST_F(TenantTest, MaxWaitingIsRefusedAtOnce) {
  make(1, with({{"a", TenantConfig{.max_waiting = 1}}}));
  auto held = tenants->acquire("h", in(1s));
  ASSERT_TRUE(held);
  queue_one("a", "a0");
  auto refused = tenants->acquire("a", in(1s));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message(), "quota_exceeded: tenant \"a\": max_waiting=1 reached (1 queued, 0 held)");
  held->release();
  join_all();
}

TEST_F(TenantTest, IdleTenantsCreatedOnFirstUseAreEvicted) {
  TenantsConfig config = with({{"pinned", TenantConfig{}}});
  config.idle_ttl = 1000ms;
  make(2, config);
  constexpr int kIds = 20000;
  for (int i = 0; i < kIds; ++i) ASSERT_TRUE(tenants->acquire("agent-" + std::to_string(i), in(1s)));
  EXPECT_EQ(tenants->tenant_count(), kIds + 1u);
  // One still holding a lease, one still waiting: neither is idle.
  auto busy = tenants->acquire("busy", in(1s));
  auto other = tenants->acquire("other", in(1s));
  ASSERT_TRUE(busy && other);
  queue_one("waiter", "w");
  clock.advance(999ms);
  EXPECT_EQ(tenants->evict_idle(), 0u);
  clock.advance(1ms);
  EXPECT_EQ(tenants->evict_idle(), static_cast<std::size_t>(kIds));
  EXPECT_EQ(tenants->tenant_count(), 4u);  // pinned, busy, other, waiter
  EXPECT_EQ(tenants->totals().evicted, static_cast<std::uint64_t>(kIds));
  busy->release();
  join_all();
  // acquire() itself sweeps once the ttl passed: the created-and-returned ones go too.
  other->release();
  clock.advance(1000ms);
  ASSERT_TRUE(tenants->acquire("new", in(1s)));
  EXPECT_EQ(tenants->tenant_count(), 2u);  // pinned, new
}

TEST_F(TenantTest, SetupRunsOnCheckoutAndIsUndoneOnReturn) {
  tenant::TenantsOptions options;
  std::atomic<int> undone{0};
  options.setup = [](Connection& c, std::string_view id, Deadline) -> Status {
    auto& fc = static_cast<FakeConnection&>(c);
    if (!fc.session_state.empty()) return Error::make(ErrorKind::internal, "leaked: " + fc.session_state);
    fc.session_state = "role=" + std::string(id);
    return {};
  };
  options.undo = [&undone](Connection& c, std::string_view, Deadline) -> Status {
    static_cast<FakeConnection&>(c).session_state.clear();
    ++undone;
    return {};
  };
  make(1, {}, options);
  connector->set_reset_fails(false);
  {
    auto a = tenants->acquire("a", in(1s));
    ASSERT_TRUE(a) << a.error().message();
    EXPECT_EQ(static_cast<FakeConnection&>(a->connection()).session_state, "role=a");
    EXPECT_EQ(a->tenant(), "a");
  }
  EXPECT_EQ(undone.load(), 1);
  auto b = tenants->acquire("b", in(1s));
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(static_cast<FakeConnection&>(b->connection()).session_state, "role=b");
}

TEST_F(TenantTest, AFailedSetupDiscardsTheConnectionAndGivesThePermitBack) {
  tenant::TenantsOptions options;
  options.setup = [](Connection&, std::string_view id, Deadline) -> Status {
    if (id == "bad") return Error::make(ErrorKind::backend, "role \"bad\" does not exist");
    return {};
  };
  make(1, {}, options);
  auto bad = tenants->acquire("bad", in(1s));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "backend: role \"bad\" does not exist");
  EXPECT_EQ(stats("bad").failures, 1u);
  EXPECT_EQ(stats("bad").active, 0u);
  EXPECT_EQ(connector->closes.load(), 1);  // not returned to the pool with half a setup
  EXPECT_TRUE(tenants->acquire("good", in(1s)));
}

TEST_F(TenantTest, AFailedUndoClosesTheConnection) {
  tenant::TenantsOptions options;
  options.undo = [](Connection&, std::string_view, Deadline) -> Status {
    return Error::unavailable("fake:1", "RESET ROLE failed");
  };
  make(1, {}, options);
  ASSERT_TRUE(tenants->acquire("a", in(1s)));
  EXPECT_EQ(connector->closes.load(), 1);
  EXPECT_EQ(tenants->totals().active, 0u);
}

TEST_F(TenantTest, TransactionsAreCountedPerTenant) {
  make(2);
  auto a = tenants->acquire("a", in(1s));
  ASSERT_TRUE(a);
  a->count_transaction(true);
  a->count_transaction(true);
  a->count_transaction(false);
  EXPECT_EQ(stats("a").committed, 2u);
  EXPECT_EQ(stats("a").aborted, 1u);
  EXPECT_EQ(stats("a").operations, 1u);
}

TEST_F(TenantTest, BadConfigurationIsRefusedNamingFieldValueAndAllowed) {
  make(10);
  const auto refused = [&](TenantsConfig c) { return tenants->reconfigure(std::move(c)).error().message(); };
  EXPECT_EQ(refused(with({{"a", TenantConfig{.weight = 0}}})),
            "invalid_config: tenants[\"a\"].weight=0: allowed 1..1000");
  EXPECT_EQ(refused(with({{"a", TenantConfig{.guarantee = 6}}, {"b", TenantConfig{.guarantee = 5}}})),
            "invalid_config: tenants.guarantee_sum=11: allowed 0..10 (the source's capacity)");
  EXPECT_EQ(refused(with({{"a", TenantConfig{.guarantee = 3, .max_leases = 2}}})),
            "invalid_config: tenants[\"a\"].max_leases=2: allowed 0 (the source's capacity) or 3..10 (at least the "
            "guarantee, at most the capacity)");
  EXPECT_EQ(refused(with({{"a", TenantConfig{.max_leases = 11}}})),
            "invalid_config: tenants[\"a\"].max_leases=11: allowed 0 (the source's capacity) or 1..10 (at least the "
            "guarantee, at most the capacity)");
  EXPECT_EQ(refused(with({{"a", TenantConfig{.guarantee = 11}}})),
            "invalid_config: tenants[\"a\"].guarantee=11: allowed 0..10");
  TenantsConfig lazy;
  lazy.defaults.guarantee = 1;
  EXPECT_EQ(refused(lazy), "invalid_config: defaults.guarantee=1: allowed 0 (tenants created on first use reserve nothing)");
  TenantsConfig ttl;
  ttl.idle_ttl = 0ms;
  EXPECT_EQ(refused(ttl), "invalid_config: idle_ttl=0: allowed 1ms..24h");
  EXPECT_EQ(refused(with({{"", TenantConfig{}}})), "invalid_config: tenants=\"\": allowed non-empty tenant ids");
  EXPECT_EQ(refused(with({{"a", TenantConfig{.operations_window = 25h}}})),
            "invalid_config: tenants[\"a\"].operations_window=25h: allowed 0 (off) or 1ms..24h");
  auto created = tenant::Tenants::create(tenant::pool_source(*pool), with({{"a", TenantConfig{.weight = 0}}}));
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code(), "tenants[\"a\"].weight");
}

// A runtime change that is invalid anywhere is refused whole: the running caps stay.
TEST_F(TenantTest, AnInvalidRuntimeChangeLeavesTheRunningConfiguration) {
  make(4, with({{"a", TenantConfig{.max_leases = 1}}}));
  auto bad = with({{"a", TenantConfig{.max_leases = 3}}, {"b", TenantConfig{.weight = 0}}});
  ASSERT_FALSE(tenants->reconfigure(bad));
  auto a1 = tenants->acquire("a", in(1s));
  ASSERT_TRUE(a1);
  EXPECT_EQ(tenants->acquire("a", in(1s)).error().kind(), ErrorKind::quota_exceeded);  // still 1
  EXPECT_FALSE(tenants->stats("b").has_value());
  // A valid one applies at once.
  ASSERT_TRUE(tenants->reconfigure(with({{"a", TenantConfig{.max_leases = 2}}})));
  EXPECT_TRUE(tenants->acquire("a", in(1s)));
}

// A valid change applies to the waiters too: a guarantee given up is lent at once.
TEST_F(TenantTest, AReleasedGuaranteeIsLentToWaitersAtTheChange) {
  make(2, with({{"g", TenantConfig{.guarantee = 1}}}));
  auto x1 = tenants->acquire("x", in(1s));
  ASSERT_TRUE(x1);
  queue_one("x", "x2");  // the free permit is g's
  EXPECT_EQ(stats("x").waiting, 1u);
  ASSERT_TRUE(tenants->reconfigure(with({{"g", TenantConfig{.guarantee = 0}}})));
  join_all();
  EXPECT_EQ(order, (std::vector<std::string>{"x2"}));
}

TEST_F(TenantTest, AnEmptyTenantIdIsRefused) {
  make(1);
  EXPECT_EQ(tenants->acquire("", in(1s)).error().kind(), ErrorKind::invalid_argument);
}

}  // namespace
}  // namespace reservoir::testing
