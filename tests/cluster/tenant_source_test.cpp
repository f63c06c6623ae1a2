// Tenants over a cluster (tenant_source.hpp) on fake endpoints: quotas and fair shares hold
// over several endpoints, the tenant leases still feed the outlier detector, and a tenant
// acquire's routing intent reaches the cluster.
#include "reservoir/cluster/tenant_source.hpp"

#include <map>
#include <thread>
#include <vector>

#include "cluster_fake.hpp"
#include "fake_roles.hpp"

namespace reservoir::cluster::testing {
namespace {

class TenantSourceTest : public ClusterTest {
 protected:
  // Two endpoints of pool size 2 in turn: a capacity of 4.
  ClusterConfig two_by_two() {
    ClusterConfig c = quiet_config();
    c.policy = Policy::round_robin;
    c.pool.max_size = 2;
    return c;
  }

  tenant::Tenants tenants_over(Cluster& c, tenant::TenantsConfig config) {
    auto t = tenant::Tenants::create(tenant_source(c), std::move(config));
    if (!t) ADD_FAILURE() << t.error().message();
    return std::move(t).value();
  }

  // Endpoint "p" a primary, "r" a replica, as a fake role source says.
  ClusterConfig primary_and_replica() {
    roles->set("p", {EndpointRole::primary});
    roles->set("r", {EndpointRole::replica});
    ClusterConfig config = two_by_two();
    config.routing.roles = roles;
    return config;
  }

  static std::string endpoint_of(tenant::TenantLease& lease) {
    ClusterLease* cl = cluster_lease(lease);
    return cl != nullptr ? cl->endpoint() : "not a cluster lease";
  }

  std::shared_ptr<FakeRoles> roles = std::make_shared<FakeRoles>();
};

TEST_F(TenantSourceTest, CapacityIsEveryEndpointsPoolAndQuotasHoldAcrossEndpoints) {
  Cluster c = make(two_by_two(), {"x", "y"});
  tenant::TenantsConfig config;
  config.tenants["flood"] = {.max_leases = 2};
  config.tenants["quiet"] = {.guarantee = 2};
  tenant::Tenants t = tenants_over(c, config);
  EXPECT_EQ(t.totals().capacity, 4u);

  std::vector<tenant::TenantLease> held;
  std::map<std::string, int> where;
  for (const char* id : {"flood", "quiet", "flood", "quiet"}) {
    auto lease = t.acquire(id, in(1s));
    ASSERT_TRUE(lease) << id << ": " << lease.error().message();
    ++where[endpoint_of(*lease)];
    held.push_back(std::move(lease).value());
  }
  EXPECT_EQ(where, (std::map<std::string, int>{{"x", 2}, {"y", 2}}));
  auto over = t.acquire("flood", in(1s));
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().kind(), ErrorKind::quota_exceeded);
  EXPECT_NE(over.error().message().find("tenant \"flood\": max_leases=2 reached"), std::string::npos)
      << over.error().message();
  // Every permit out: a new tenant waits, and gets the first one returned.
  auto late = t.acquire("late", in(0ms));
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().kind(), ErrorKind::exhausted);
  held.clear();
  EXPECT_EQ(c.stats().endpoints[0].load.in_use + c.stats().endpoints[1].load.in_use, 0u);
  EXPECT_EQ(t.totals().active, 0u);
}

// While every permit is out, the flooding tenant's queued callers and a quiet tenant's one
// are served in turn (weighted deficit round robin), not in arrival order.
TEST_F(TenantSourceTest, AFloodingTenantCannotStarveAQuietOneAcrossEndpoints) {
  Cluster c = make(two_by_two(), {"x", "y"});
  tenant::Tenants t = tenants_over(c, {});
  std::vector<tenant::TenantLease> held;
  for (const char* id : {"flood", "flood", "flood", "other"}) held.push_back(std::move(t.acquire(id, in(1s))).value());

  std::mutex mu;
  std::vector<std::string> order;
  std::vector<std::thread> threads;
  auto queue = [&](const std::string& id, std::size_t queued) {
    threads.emplace_back([&, id] {
      auto lease = t.acquire(id, Deadline::never(clock));
      std::lock_guard g(mu);
      order.push_back(lease ? id : id + "!" + lease.error().message());
    });
    EXPECT_TRUE(eventually([&] { return t.totals().waiting >= queued; }));
  };
  for (std::size_t i = 1; i <= 3; ++i) queue("flood", i);
  queue("quiet", 4);
  // One permit back, passed on by each waiter as it returns its lease at once: the flood's
  // first waiter, then the quiet tenant's turn, ahead of two older flood callers.
  held.erase(held.begin());
  EXPECT_TRUE(eventually([&] { std::lock_guard g(mu); return order.size() == 4; }));
  held.clear();
  for (auto& th : threads) th.join();
  EXPECT_EQ(order, (std::vector<std::string>{"flood", "quiet", "flood", "flood"}));
}

TEST_F(TenantSourceTest, TenantLeasesFeedTheOutlierDetector) {
  ClusterConfig config = two_by_two();
  config.outlier.consecutive_failures = 2;
  Cluster c = make(config, {"x", "y"});
  tenant::Tenants t = tenants_over(c, {});
  int failed_on_x = 0;
  for (int i = 0; i < 4 && failed_on_x < 2; ++i) {
    auto lease = t.acquire("a", in(1s));
    ASSERT_TRUE(lease) << lease.error().message();
    if (endpoint_of(*lease) == "x") {
      lease->discard();  // what a caller does with a connection that broke
      ++failed_on_x;
    }
  }
  ASSERT_EQ(failed_on_x, 2);
  const auto s = c.stats();
  EXPECT_EQ(stats_of(s, "x").failures, 2u);
  EXPECT_EQ(stats_of(s, "x").state, EndpointState::ejected);
  EXPECT_GE(stats_of(s, "y").successes, 1u);
  for (int i = 0; i < 3; ++i) {
    auto lease = t.acquire("a", in(1s));
    ASSERT_TRUE(lease);
    EXPECT_EQ(endpoint_of(*lease), "y");
  }
}

TEST_F(TenantSourceTest, TheIntentIsRoutedAndWithoutOneTheClusterBalances) {
  Cluster c = make(primary_and_replica(), {"p", "r"});
  tenant::Tenants t = tenants_over(c, {});
  for (int i = 0; i < 3; ++i) {
    auto w = acquire(t, "a", in(1s), Intent::write());
    ASSERT_TRUE(w) << w.error().message();
    EXPECT_EQ(endpoint_of(*w), "p");
    EXPECT_TRUE(cluster_lease(*w)->write_token(in(1s)));
    auto r = acquire(t, "a", in(1s), Intent::read());
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(endpoint_of(*r), "r");
  }
  std::map<std::string, int> any;
  for (int i = 0; i < 4; ++i) {
    auto lease = t.acquire("a", in(1s));
    ASSERT_TRUE(lease);
    ++any[endpoint_of(*lease)];
  }
  EXPECT_EQ(any, (std::map<std::string, int>{{"p", 2}, {"r", 2}}));
  EXPECT_EQ(t.stats("a")->operations, 10u);
}

}  // namespace
}  // namespace reservoir::cluster::testing

namespace reservoir::cluster::testing {
namespace {

// Without blocking: the tenant's permit, then the cluster's own acquire_async (routed write).
TEST_F(TenantSourceTest, AnAsyncTenantWriteWaitsForAPermitThenGoesToThePrimary) {
  Cluster c = make(primary_and_replica(), {"p", "r"});
  tenant::TenantsConfig tc;
  tc.tenants["a"] = {.max_leases = 1};
  tenant::Tenants t = tenants_over(c, tc);
  auto held = acquire(t, "a", in(1s), Intent::write());
  ASSERT_TRUE(held);
  std::mutex mu;
  std::optional<Result<tenant::TenantLease>> got;
  auto pending = acquire_async(t, "a", in(10s), Intent::write(), [&](Result<tenant::TenantLease> r) {
    std::lock_guard g(mu);
    got.emplace(std::move(r));
  });
  ASSERT_TRUE(pending);  // a's cap: refused at once, on this thread
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->error().kind(), ErrorKind::quota_exceeded);
  got.reset();

  tc.tenants["a"] = {.max_leases = 0};
  ASSERT_TRUE(t.reconfigure(tc));
  std::vector<tenant::TenantLease> more;  // every permit out: the next request waits
  for (int i = 0; i < 3; ++i) more.push_back(std::move(t.acquire("b", in(1s))).value());
  pending = acquire_async(t, "a", in(10s), Intent::write(), [&](Result<tenant::TenantLease> r) {
    std::lock_guard g(mu);
    got.emplace(std::move(r));
  });
  ASSERT_TRUE(pending);
  EXPECT_FALSE(got.has_value());
  more.clear();  // a permit back; the primary's pool (2) has one connection free
  ASSERT_TRUE(eventually([&] { std::lock_guard g(mu); return got.has_value(); }));
  ASSERT_TRUE(*got) << got->error().message();
  EXPECT_EQ(endpoint_of(**got), "p");
  got.reset();
  held->release();
  EXPECT_EQ(stats_of(c.stats(), "p").failures, 0u);
}

}  // namespace
}  // namespace reservoir::cluster::testing
