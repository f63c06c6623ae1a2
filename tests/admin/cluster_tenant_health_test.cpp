// Clusters and tenant registries in /healthz and /stats.json: a cluster none of whose
// endpoints serves is unhealthy with each endpoint's state; a tenant registry is reported
// with its quota figures.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "capture_logger.hpp"
#include "fake_connector.hpp"
#include "orders_cluster.hpp"
#include "http_client.hpp"
#include "reservoir/admin/health.hpp"
#include "reservoir/admin/server.hpp"
#include "reservoir/cluster/cluster.hpp"
#include "reservoir/tenant/tenants.hpp"

namespace reservoir::admin {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using reservoir::testing::FakeConnector;
using testing::http_get;

using reservoir::testing::quiet_pool;

class ClusterTenantHealthTest : public ::testing::Test {
 protected:
  // Cluster "orders": a (tier 0) and b (tier 1); two failures in a row eject an endpoint
  // (never the last one serving); three failed connects open its breaker.
  std::shared_ptr<cluster::Cluster> make_cluster() {
    cluster::ClusterConfig c = reservoir::testing::orders_cluster_config(a, b);
    c.breaker.consecutive_failures = 3;
    auto r = cluster::Cluster::create(std::move(c), {.clock = &clock, .logger = logger, .start_maintainers = false, .seed = 7});
    EXPECT_TRUE(r) << r.error().message();
    auto cluster = std::make_shared<cluster::Cluster>(std::move(r).value());
    registry->add_cluster(cluster);
    return cluster;
  }
  void fail(cluster::Cluster& c, std::string_view endpoint, int times) {
    for (int i = 0; i < times; ++i) {
      auto lease = c.acquire(Deadline::after(clock, 1s));
      ASSERT_TRUE(lease) << lease.error().message();
      ASSERT_EQ(lease->endpoint(), endpoint);
      lease->discard();
    }
  }
  std::shared_ptr<tenant::Tenants> make_tenants() {
    PoolOptions o;
    o.clock = &clock;
    o.start_maintainer = false;
    PoolConfig pc = quiet_pool(3);
    pc.name = "shared";
    pool = std::make_shared<Pool>(Pool::create(a, pc, o).value());
    tenant::TenantsConfig config;
    config.tenants["gold"] = {.guarantee = 1, .max_leases = 1};
    auto tenants = std::make_shared<tenant::Tenants>(tenant::Tenants::create(tenant::pool_source(*pool), config).value());
    registry->add_tenants("agents", tenants);
    return tenants;
  }
  // b refuses every connect: its breaker opens after three.
  void open_b_breaker(cluster::Cluster& c) {
    b->set_fallback(reservoir::testing::ConnectOutcome::refuse);
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(c.acquire(Deadline::after(clock, 1s)));
  }
  const HealthReport::Component* find(const HealthReport& r, std::string_view kind) {
    for (const auto& c : r.components)
      if (c.kind == kind) return &c;
    return nullptr;
  }

  ManualClock clock;
  std::shared_ptr<reservoir::testing::CaptureLogger> logger = std::make_shared<reservoir::testing::CaptureLogger>();
  std::shared_ptr<FakeConnector> a = std::make_shared<FakeConnector>();
  std::shared_ptr<FakeConnector> b = std::make_shared<FakeConnector>();
  std::shared_ptr<metrics::Registry> registry = std::make_shared<metrics::Registry>();
  std::shared_ptr<Pool> pool;
  HealthMonitor monitor{registry, nullptr, 10s, clock};
};

TEST_F(ClusterTenantHealthTest, AClusterWithOneEndpointServingIsHealthy) {
  auto orders = make_cluster();
  fail(*orders, "a", 2);
  const HealthReport report = monitor.report();
  const auto* c = find(report, "cluster");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->name, "orders");
  EXPECT_TRUE(c->healthy);
  EXPECT_TRUE(report.healthy);
}

TEST_F(ClusterTenantHealthTest, AClusterWithNoEndpointServingIsUnhealthyWithTheReason) {
  auto orders = make_cluster();
  fail(*orders, "a", 2);
  open_b_breaker(*orders);
  const HealthReport report = monitor.report();
  const auto* c = find(report, "cluster");
  ASSERT_NE(c, nullptr);
  EXPECT_FALSE(c->healthy);
  EXPECT_FALSE(report.healthy);
  EXPECT_EQ(c->reasons, (std::vector<std::string>{"no endpoint serving: a ejected, b circuit_open"}));
}

TEST_F(ClusterTenantHealthTest, ATenantRegistryIsReportedWithItsQuotaFigures) {
  auto tenants = make_tenants();
  auto held = tenants->acquire("gold", Deadline::after(clock, 1s));
  ASSERT_TRUE(held);
  EXPECT_EQ(tenants->acquire("gold", Deadline::after(clock, 1s)).error().kind(), ErrorKind::quota_exceeded);
  const HealthReport report = monitor.report();
  const auto* c = find(report, "tenants");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->name, "agents");
  EXPECT_TRUE(c->healthy);
  const std::vector<std::pair<std::string, std::uint64_t>> expected{
      {"capacity", 3}, {"permits_in_use", 1}, {"waiting", 0}, {"reserved_unused", 0}, {"known", 1},
      {"quota_rejections", 1}, {"early_refusals", 0}, {"timeouts", 0}};
  EXPECT_EQ(c->figures, expected);
}

TEST_F(ClusterTenantHealthTest, EndpointsServeClustersAndTenants) {
  auto orders = make_cluster();
  fail(*orders, "a", 2);
  open_b_breaker(*orders);
  auto tenants = make_tenants();
  auto held = tenants->acquire("gold", Deadline::after(clock, 1s));
  ASSERT_TRUE(held);
  auto server = AdminServer::start(registry, {}).value();

  const auto health = http_get(server->port(), "/healthz");
  EXPECT_EQ(health.status, 503);
  EXPECT_NE(health.body.find("no endpoint serving: a ejected, b circuit_open"), std::string::npos) << health.body;
  EXPECT_NE(health.body.find("\"quota_rejections\""), std::string::npos) << health.body;

  const auto r = http_get(server->port(), "/stats.json");
  ASSERT_EQ(r.status, 200);
  const json doc = json::parse(r.body);
  ASSERT_EQ(doc["clusters"].size(), 1u);
  const json& c = doc["clusters"][0];
  EXPECT_EQ(c["name"], "orders");
  ASSERT_EQ(c["endpoints"].size(), 2u);
  EXPECT_EQ(c["endpoints"][0]["name"], "a");
  EXPECT_EQ(c["endpoints"][0]["state"], "ejected");
  EXPECT_EQ(c["endpoints"][0]["ejections"], 1);
  EXPECT_EQ(c["endpoints"][1]["tier"], 1);
  ASSERT_EQ(doc["tenants"].size(), 1u);
  const json& t = doc["tenants"][0];
  EXPECT_EQ(t["name"], "agents");
  EXPECT_EQ(t["capacity"], 3);
  EXPECT_EQ(t["permits_in_use"], 1);
  ASSERT_EQ(t["tenants"].size(), 1u);
  EXPECT_EQ(t["tenants"][0]["tenant"], "gold");
  EXPECT_EQ(t["tenants"][0]["active"], 1);
  EXPECT_EQ(t["tenants"][0]["configured"], true);
  EXPECT_FALSE(doc["health"]["healthy"].get<bool>());
}

}  // namespace
}  // namespace reservoir::admin
