// Clusters and tenant registries in the Prometheus exposition: exact text, an ejected
// endpoint, weak registration, the bound on lazily created tenants' series, promtool.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "capture_logger.hpp"
#include "fake_connector.hpp"
#include "orders_cluster.hpp"
#include "reservoir/cluster/cluster.hpp"
#include "reservoir/cluster/run.hpp"
#include "reservoir/metrics/registry.hpp"
#include "reservoir/tenant/tenants.hpp"

namespace reservoir::metrics {
namespace {

using namespace std::chrono_literals;
using reservoir::testing::FakeConnector;

// The lines of `text` (samples, HELP and TYPE) of the families whose name starts with `prefix`.
std::string family_lines(const std::string& text, std::string_view prefix) {
  std::string out;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + at, end - at);
    std::string_view name = line;
    if (name.starts_with("# HELP ") || name.starts_with("# TYPE ")) name.remove_prefix(7);
    if (name.starts_with(prefix)) out.append(line).append("\n");
    at = end + 1;
  }
  return out;
}

using reservoir::testing::quiet_pool;

class ClusterMetricsTest : public ::testing::Test {
 protected:
  // Cluster "orders": endpoint a (tier 0, weight 2), endpoint b (tier 1, weight 1).
  std::shared_ptr<cluster::Cluster> make_cluster() {
    cluster::ClusterConfig c = reservoir::testing::orders_cluster_config(a, b);
    auto r = cluster::Cluster::create(std::move(c), {.clock = &clock, .logger = logger, .start_maintainers = false, .seed = 7});
    EXPECT_TRUE(r) << r.error().message();
    return std::make_shared<cluster::Cluster>(std::move(r).value());
  }

  ManualClock clock;
  std::shared_ptr<reservoir::testing::CaptureLogger> logger = std::make_shared<reservoir::testing::CaptureLogger>();
  std::shared_ptr<FakeConnector> a = std::make_shared<FakeConnector>();
  std::shared_ptr<FakeConnector> b = std::make_shared<FakeConnector>();
};

TEST_F(ClusterMetricsTest, ExposesEachEndpointWithClusterEndpointAndTier) {
  Registry registry;
  auto orders = make_cluster();
  registry.add_cluster(orders);
  auto lease = orders->acquire(Deadline::after(clock, 1s));
  ASSERT_TRUE(lease) << lease.error().message();
  ASSERT_EQ(lease->endpoint(), "a");

  EXPECT_EQ(family_lines(registry.render(), "reservoir_cluster_"),
            "# HELP reservoir_cluster_endpoint_ejected 1 while the outlier detector has the endpoint ejected\n"
            "# TYPE reservoir_cluster_endpoint_ejected gauge\n"
            "reservoir_cluster_endpoint_ejected{cluster=\"orders\",endpoint=\"a\",tier=\"0\"} 0\n"
            "reservoir_cluster_endpoint_ejected{cluster=\"orders\",endpoint=\"b\",tier=\"1\"} 0\n"
            "# HELP reservoir_cluster_endpoint_draining 1 while the endpoint is being removed (takes no new acquire)\n"
            "# TYPE reservoir_cluster_endpoint_draining gauge\n"
            "reservoir_cluster_endpoint_draining{cluster=\"orders\",endpoint=\"a\",tier=\"0\"} 0\n"
            "reservoir_cluster_endpoint_draining{cluster=\"orders\",endpoint=\"b\",tier=\"1\"} 0\n"
            "# HELP reservoir_cluster_endpoint_serving 1 while the endpoint can be picked (not ejected, breaker not open, not draining)\n"
            "# TYPE reservoir_cluster_endpoint_serving gauge\n"
            "reservoir_cluster_endpoint_serving{cluster=\"orders\",endpoint=\"a\",tier=\"0\"} 1\n"
            "reservoir_cluster_endpoint_serving{cluster=\"orders\",endpoint=\"b\",tier=\"1\"} 1\n"
            "# HELP reservoir_cluster_endpoint_weight the endpoint's configured weight\n"
            "# TYPE reservoir_cluster_endpoint_weight gauge\n"
            "reservoir_cluster_endpoint_weight{cluster=\"orders\",endpoint=\"a\",tier=\"0\"} 2\n"
            "reservoir_cluster_endpoint_weight{cluster=\"orders\",endpoint=\"b\",tier=\"1\"} 1\n"
            "# HELP reservoir_cluster_endpoint_outstanding leases out plus callers queued at the endpoint's pool\n"
            "# TYPE reservoir_cluster_endpoint_outstanding gauge\n"
            "reservoir_cluster_endpoint_outstanding{cluster=\"orders\",endpoint=\"a\",tier=\"0\"} 1\n"
            "reservoir_cluster_endpoint_outstanding{cluster=\"orders\",endpoint=\"b\",tier=\"1\"} 0\n"
            "# HELP reservoir_cluster_endpoint_latency_seconds decayed average duration of successful operations (0: no sample yet)\n"
            "# TYPE reservoir_cluster_endpoint_latency_seconds gauge\n"
            "reservoir_cluster_endpoint_latency_seconds{cluster=\"orders\",endpoint=\"a\",tier=\"0\"} 0\n"
            "reservoir_cluster_endpoint_latency_seconds{cluster=\"orders\",endpoint=\"b\",tier=\"1\"} 0\n"
            "# HELP reservoir_cluster_endpoint_ejections_total times the outlier detector ejected the endpoint\n"
            "# TYPE reservoir_cluster_endpoint_ejections_total counter\n"
            "reservoir_cluster_endpoint_ejections_total{cluster=\"orders\",endpoint=\"a\",tier=\"0\"} 0\n"
            "reservoir_cluster_endpoint_ejections_total{cluster=\"orders\",endpoint=\"b\",tier=\"1\"} 0\n"
            "# HELP reservoir_cluster_endpoint_picks_total acquires sent to the endpoint\n"
            "# TYPE reservoir_cluster_endpoint_picks_total counter\n"
            "reservoir_cluster_endpoint_picks_total{cluster=\"orders\",endpoint=\"a\",tier=\"0\"} 1\n"
            "reservoir_cluster_endpoint_picks_total{cluster=\"orders\",endpoint=\"b\",tier=\"1\"} 0\n"
            "# HELP reservoir_cluster_endpoint_failures_total failed outcomes seen by the outlier detector\n"
            "# TYPE reservoir_cluster_endpoint_failures_total counter\n"
            "reservoir_cluster_endpoint_failures_total{cluster=\"orders\",endpoint=\"a\",tier=\"0\"} 0\n"
            "reservoir_cluster_endpoint_failures_total{cluster=\"orders\",endpoint=\"b\",tier=\"1\"} 0\n"
            "# HELP reservoir_cluster_failovers_total acquires that moved on to another endpoint\n"
            "# TYPE reservoir_cluster_failovers_total counter\n"
            "reservoir_cluster_failovers_total{cluster=\"orders\"} 0\n"
            "# HELP reservoir_cluster_no_endpoint_total acquires refused because no endpoint served\n"
            "# TYPE reservoir_cluster_no_endpoint_total counter\n"
            "reservoir_cluster_no_endpoint_total{cluster=\"orders\"} 0\n");
}

// Every server a replica 1.5 s behind (routing.hpp), as a role source would report it.
class LaggingReplicas final : public cluster::RoleSource {
 public:
  std::optional<cluster::EndpointRole> observe(Connection&) noexcept override { return std::nullopt; }
  Result<cluster::RoleReport> probe(Connection&, Deadline) override {
    return cluster::RoleReport{cluster::EndpointRole::replica, 7, 1500ms};
  }
  bool is_wrong_role(const Error&) const noexcept override { return false; }
  Result<cluster::WriteToken> write_token(Connection&, Deadline) override { return cluster::WriteToken{7}; }
  Result<std::uint64_t> wait_for(Connection&, cluster::WriteToken, Duration, Deadline) override { return 7; }
};

TEST_F(ClusterMetricsTest, ARoutingClusterExposesFallbacksReroutesAndReplicaLag) {
  Registry registry;
  cluster::ClusterConfig c;
  c.name = "orders";
  c.pool = quiet_pool(3);
  c.endpoints = {{.name = "a", .connector = a}, {.name = "b", .connector = b, .priority = 1}};
  c.routing.roles = std::make_shared<LaggingReplicas>();
  auto orders = cluster::Cluster::create(std::move(c), {.clock = &clock, .logger = logger, .start_maintainers = false});
  ASSERT_TRUE(orders) << orders.error().message();
  auto shared = std::make_shared<cluster::Cluster>(std::move(orders).value());
  registry.add_cluster(shared);
  auto lease = shared->acquire(Deadline::after(clock, 1s), cluster::Intent::read());
  ASSERT_TRUE(lease) << lease.error().message();
  EXPECT_EQ(family_lines(registry.render(), "reservoir_cluster_read_fallbacks_total") +
                family_lines(registry.render(), "reservoir_cluster_write_reroutes_total") +
                family_lines(registry.render(), "reservoir_cluster_endpoint_replica_lag_seconds"),
            "# HELP reservoir_cluster_read_fallbacks_total reads sent to the primary because no replica was eligible\n"
            "# TYPE reservoir_cluster_read_fallbacks_total counter\n"
            "reservoir_cluster_read_fallbacks_total{cluster=\"orders\"} 0\n"
            "# HELP reservoir_cluster_write_reroutes_total writes a replica refused, sent on to the primary\n"
            "# TYPE reservoir_cluster_write_reroutes_total counter\n"
            "reservoir_cluster_write_reroutes_total{cluster=\"orders\"} 0\n"
            "# HELP reservoir_cluster_endpoint_replica_lag_seconds a replica's lag at its last probe (absent: not a replica)\n"
            "# TYPE reservoir_cluster_endpoint_replica_lag_seconds gauge\n"
            "reservoir_cluster_endpoint_replica_lag_seconds{cluster=\"orders\",endpoint=\"a\"} 1.5\n");
}

TEST_F(ClusterMetricsTest, EndpointPoolsAndBreakersJoinThePoolAndBreakerFamilies) {
  Registry registry;
  auto orders = make_cluster();
  registry.add_cluster(orders);
  const std::string text = registry.render();
  EXPECT_NE(text.find("reservoir_pool_max_connections{pool=\"orders/a\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("reservoir_pool_max_connections{pool=\"orders/b\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("reservoir_breaker_state{cluster=\"orders\",endpoint=\"a\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("reservoir_breaker_open{cluster=\"orders\",endpoint=\"b\"} 0\n"), std::string::npos) << text;
}

TEST_F(ClusterMetricsTest, AnEjectedEndpointShowsOne) {
  Registry registry;
  auto orders = make_cluster();
  registry.add_cluster(orders);
  for (int i = 0; i < 2; ++i) {
    auto lease = orders->acquire(Deadline::after(clock, 1s));
    ASSERT_TRUE(lease) << lease.error().message();
    ASSERT_EQ(lease->endpoint(), "a");
    lease->discard();
  }
  const std::string text = registry.render();
  EXPECT_NE(text.find("reservoir_cluster_endpoint_ejected{cluster=\"orders\",endpoint=\"a\",tier=\"0\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("reservoir_cluster_endpoint_ejections_total{cluster=\"orders\",endpoint=\"a\",tier=\"0\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("reservoir_cluster_endpoint_serving{cluster=\"orders\",endpoint=\"a\",tier=\"0\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("reservoir_cluster_endpoint_ejected{cluster=\"orders\",endpoint=\"b\",tier=\"1\"} 0\n"), std::string::npos) << text;
}

TEST_F(ClusterMetricsTest, LatencyIsTheDecayedOperationTimeInSeconds) {
  Registry registry;
  auto orders = make_cluster();
  registry.add_cluster(orders);
  Status s = cluster::run(*orders, [&](Connection&) {
    clock.advance(250ms);
    return Status{};
  });
  ASSERT_TRUE(s.ok()) << s.error().message();
  const std::string text = registry.render();
  EXPECT_NE(text.find("reservoir_cluster_endpoint_latency_seconds{cluster=\"orders\",endpoint=\"a\",tier=\"0\"} 0.25\n"), std::string::npos)
      << family_lines(text, "reservoir_cluster_endpoint_latency");
}

TEST_F(ClusterMetricsTest, ADestroyedClusterDisappears) {
  Registry registry;
  auto orders = make_cluster();
  registry.add_cluster(orders);
  ASSERT_NE(registry.render().find("orders"), std::string::npos);
  orders.reset();
  EXPECT_EQ(registry.render(), "");
  EXPECT_TRUE(registry.live_clusters().empty());
}

class TenantMetricsTest : public ::testing::Test {
 protected:
  void make(std::size_t pool_size, tenant::TenantsConfig config) {
    PoolOptions o;
    o.clock = &clock;
    o.start_maintainer = false;
    o.seed = 1;
    PoolConfig pc = quiet_pool(pool_size);
    pc.name = "shared";
    auto p = Pool::create(connector, pc, o);
    ASSERT_TRUE(p) << p.error().message();
    pool = std::make_shared<Pool>(std::move(p).value());
    auto t = tenant::Tenants::create(tenant::pool_source(*pool), std::move(config));
    ASSERT_TRUE(t) << t.error().message();
    tenants = std::make_shared<tenant::Tenants>(std::move(t).value());
  }
  void TearDown() override {
    leases.clear();
    tenants.reset();
  }
  void take(const std::string& id) {
    auto lease = tenants->acquire(id, Deadline::after(clock, 1s));
    ASSERT_TRUE(lease) << lease.error().message();
    leases.push_back(std::move(lease).value());
  }

  ManualClock clock;
  std::shared_ptr<FakeConnector> connector = std::make_shared<FakeConnector>();
  std::shared_ptr<Pool> pool;
  std::shared_ptr<tenant::Tenants> tenants;
  std::vector<tenant::TenantLease> leases;
};

TEST_F(TenantMetricsTest, ExposesTotalsAndEachTenant) {
  tenant::TenantsConfig config;
  config.tenants["gold"] = {.guarantee = 1, .max_leases = 1};
  make(3, config);
  Registry registry;
  registry.add_tenants("agents", tenants);
  take("gold");
  leases.back().count_transaction(true);
  leases.back().count_transaction(false);
  take("lazy");
  EXPECT_EQ(tenants->acquire("gold", Deadline::after(clock, 1s)).error().kind(), ErrorKind::quota_exceeded);

  EXPECT_EQ(family_lines(registry.render(), "reservoir_tenant"),
            "# HELP reservoir_tenants_permits_in_use leases out through the registry\n"
            "# TYPE reservoir_tenants_permits_in_use gauge\n"
            "reservoir_tenants_permits_in_use{tenants=\"agents\"} 2\n"
            "# HELP reservoir_tenants_waiting requests queued in the registry\n"
            "# TYPE reservoir_tenants_waiting gauge\n"
            "reservoir_tenants_waiting{tenants=\"agents\"} 0\n"
            "# HELP reservoir_tenants_capacity the lease source's capacity (permits)\n"
            "# TYPE reservoir_tenants_capacity gauge\n"
            "reservoir_tenants_capacity{tenants=\"agents\"} 3\n"
            "# HELP reservoir_tenants_known tenants known now (configured and lazily created)\n"
            "# TYPE reservoir_tenants_known gauge\n"
            "reservoir_tenants_known{tenants=\"agents\"} 2\n"
            "# HELP reservoir_tenants_created_total tenants created on first use\n"
            "# TYPE reservoir_tenants_created_total counter\n"
            "reservoir_tenants_created_total{tenants=\"agents\"} 1\n"
            "# HELP reservoir_tenants_evicted_total lazily created tenants forgotten after idle_ttl\n"
            "# TYPE reservoir_tenants_evicted_total counter\n"
            "reservoir_tenants_evicted_total{tenants=\"agents\"} 0\n"
            "# HELP reservoir_tenant_active_leases leases the tenant holds now\n"
            "# TYPE reservoir_tenant_active_leases gauge\n"
            "reservoir_tenant_active_leases{tenants=\"agents\",tenant=\"gold\"} 1\n"
            "reservoir_tenant_active_leases{tenants=\"agents\",tenant=\"lazy\"} 1\n"
            "# HELP reservoir_tenant_waiting requests the tenant has queued now\n"
            "# TYPE reservoir_tenant_waiting gauge\n"
            "reservoir_tenant_waiting{tenants=\"agents\",tenant=\"gold\"} 0\n"
            "reservoir_tenant_waiting{tenants=\"agents\",tenant=\"lazy\"} 0\n"
            "# HELP reservoir_tenant_operations_total leases granted to the tenant\n"
            "# TYPE reservoir_tenant_operations_total counter\n"
            "reservoir_tenant_operations_total{tenants=\"agents\",tenant=\"gold\"} 1\n"
            "reservoir_tenant_operations_total{tenants=\"agents\",tenant=\"lazy\"} 1\n"
            "# HELP reservoir_tenant_quota_rejections_total requests refused with quota_exceeded\n"
            "# TYPE reservoir_tenant_quota_rejections_total counter\n"
            "reservoir_tenant_quota_rejections_total{tenants=\"agents\",tenant=\"gold\"} 1\n"
            "reservoir_tenant_quota_rejections_total{tenants=\"agents\",tenant=\"lazy\"} 0\n"
            "# HELP reservoir_tenant_early_refusals_total requests refused because the expected wait exceeded the deadline\n"
            "# TYPE reservoir_tenant_early_refusals_total counter\n"
            "reservoir_tenant_early_refusals_total{tenants=\"agents\",tenant=\"gold\"} 0\n"
            "reservoir_tenant_early_refusals_total{tenants=\"agents\",tenant=\"lazy\"} 0\n"
            "# HELP reservoir_tenant_timeouts_total requests that waited until their deadline\n"
            "# TYPE reservoir_tenant_timeouts_total counter\n"
            "reservoir_tenant_timeouts_total{tenants=\"agents\",tenant=\"gold\"} 0\n"
            "reservoir_tenant_timeouts_total{tenants=\"agents\",tenant=\"lazy\"} 0\n"
            "# HELP reservoir_tenant_oldest_waiter_age_seconds how long the tenant's first queued request has waited (0: none)\n"
            "# TYPE reservoir_tenant_oldest_waiter_age_seconds gauge\n"
            "reservoir_tenant_oldest_waiter_age_seconds{tenants=\"agents\",tenant=\"gold\"} 0\n"
            "reservoir_tenant_oldest_waiter_age_seconds{tenants=\"agents\",tenant=\"lazy\"} 0\n"
            "# HELP reservoir_tenant_transactions_total transactions counted through TenantLease::count_transaction(), by outcome\n"
            "# TYPE reservoir_tenant_transactions_total counter\n"
            "reservoir_tenant_transactions_total{tenants=\"agents\",tenant=\"gold\",outcome=\"committed\"} 1\n"
            "reservoir_tenant_transactions_total{tenants=\"agents\",tenant=\"gold\",outcome=\"aborted\"} 1\n"
            "reservoir_tenant_transactions_total{tenants=\"agents\",tenant=\"lazy\",outcome=\"committed\"} 0\n"
            "reservoir_tenant_transactions_total{tenants=\"agents\",tenant=\"lazy\",outcome=\"aborted\"} 0\n");
}

TEST_F(TenantMetricsTest, IdleLazyTenantsGetNoSeriesAndBusyOnesAreCapped) {
  tenant::TenantsConfig config;
  config.tenants["gold"] = {};
  const std::size_t lazy = Registry::kMaxLazyTenantSeries + 5;
  make(lazy + 1, config);
  Registry registry;
  registry.add_tenants("agents", tenants);
  { auto idle = tenants->acquire("idle", Deadline::after(clock, 1s)); ASSERT_TRUE(idle); }
  for (std::size_t i = 0; i < lazy; ++i) take("t" + std::to_string(1000 + i));
  take("t1000");  // the busiest: two leases

  const std::string text = registry.render();
  const std::string series = family_lines(text, "reservoir_tenant_active_leases{");
  std::size_t lines = 0;
  for (char c : series) lines += c == '\n';
  EXPECT_EQ(lines, 1 + Registry::kMaxLazyTenantSeries) << "gold and the capped lazy ones";
  EXPECT_NE(series.find("tenant=\"gold\"} 0\n"), std::string::npos) << "a configured tenant always shows";
  EXPECT_NE(series.find("tenant=\"t1000\"} 2\n"), std::string::npos) << "the busiest lazy tenant shows";
  EXPECT_EQ(series.find("tenant=\"idle\""), std::string::npos) << "an idle lazy tenant shows only in the totals";
  EXPECT_NE(text.find("reservoir_tenants_known{tenants=\"agents\"} 107\n"), std::string::npos);
}

TEST_F(TenantMetricsTest, ExposedStatsKeepsConfiguredAndTheBusiestLazyOnes) {
  tenant::TenantsConfig config;
  config.tenants["gold"] = {};
  make(6, config);
  take("x");
  take("y");
  take("y");
  take("z");
  take("z");
  { auto idle = tenants->acquire("idle", Deadline::after(clock, 1s)); ASSERT_TRUE(idle); }
  std::vector<std::string> ids;
  for (const auto& s : tenants->exposed_stats(2)) ids.push_back(s.tenant);
  EXPECT_EQ(ids, (std::vector<std::string>{"gold", "y", "z"}));
  ids.clear();
  for (const auto& s : tenants->exposed_stats(0)) ids.push_back(s.tenant);
  EXPECT_EQ(ids, (std::vector<std::string>{"gold"}));
}

TEST_F(TenantMetricsTest, RenderingReportsEveryConfiguredTenantOfALargeSet) {
  // The registry's lock covers only the copy of the figures (Tenants::exposed_stats); the
  // sort and the formatting run outside it, and must still report every tenant, in id order.
  tenant::TenantsConfig config;
  const std::size_t n = 500;
  for (std::size_t i = 0; i < n; ++i) config.tenants["c" + std::to_string(10000 + i)] = {};
  make(4, config);
  Registry registry;
  registry.add_tenants("agents", tenants);
  take("c10499");
  take("lazy");
  const std::string series = family_lines(registry.render(), "reservoir_tenant_active_leases{");
  std::size_t lines = 0, at = 0;
  for (char c : series) lines += c == '\n';
  EXPECT_EQ(lines, n + 1);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string line = "tenant=\"c" + std::to_string(10000 + i) + "\"}";
    const std::size_t pos = series.find(line);
    ASSERT_NE(pos, std::string::npos) << line;
    EXPECT_GE(pos, at) << "in id order: " << line;
    at = pos;
  }
  EXPECT_NE(series.find("tenant=\"c10499\"} 1\n"), std::string::npos);
  EXPECT_NE(series.find("tenant=\"lazy\"} 1\n"), std::string::npos);
}

TEST_F(TenantMetricsTest, ADestroyedRegistryDisappears) {
  make(2, {});
  Registry registry;
  registry.add_tenants("agents", tenants);
  ASSERT_NE(registry.render().find("agents"), std::string::npos);
  tenants.reset();
  EXPECT_EQ(registry.render(), "");
}

TEST_F(ClusterMetricsTest, ClusterAndTenantOutputPassesPromtool) {
  ASSERT_EQ(std::system("command -v promtool >/dev/null"), 0)
      << "promtool missing: install Debian's prometheus (scripts/setup.sh)";
  Registry registry;
  auto orders = make_cluster();
  registry.add_cluster(orders);
  for (int i = 0; i < 2; ++i) {
    auto lease = orders->acquire(Deadline::after(clock, 1s));
    ASSERT_TRUE(lease);
    lease->discard();
  }
  // A plain pool and breaker beside the cluster's: one family each, both label sets.
  auto breaker = CircuitBreaker::create("db:5432", {}, clock).value();
  registry.add_breaker(breaker);
  PoolOptions o;
  o.clock = &clock;
  o.start_maintainer = false;
  PoolConfig pc = quiet_pool(2);
  pc.name = "shared";
  auto pool = std::make_shared<Pool>(Pool::create(a, pc, o).value());
  registry.add_pool(pool);
  tenant::TenantsConfig config;
  config.tenants["gold \"eu\""] = {.guarantee = 1};
  auto tenants = std::make_shared<tenant::Tenants>(tenant::Tenants::create(tenant::pool_source(*pool), config).value());
  registry.add_tenants("agents", tenants);
  auto tl = tenants->acquire("lazy", Deadline::after(clock, 1s));
  ASSERT_TRUE(tl);
  tl->count_transaction(true);

  const std::string path = ::testing::TempDir() + "reservoir_cluster_tenant_promtool.txt";
  std::ofstream(path) << registry.render();
  const std::string out_path = path + ".out";
  const int rc = std::system(("promtool check metrics < '" + path + "' > '" + out_path + "' 2>&1").c_str());
  std::ifstream in(out_path);
  const std::string verdict((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(rc, 0) << verdict;
  EXPECT_EQ(verdict, "") << "promtool lint findings";
  std::remove(path.c_str());
  std::remove(out_path.c_str());
}

}  // namespace
}  // namespace reservoir::metrics
