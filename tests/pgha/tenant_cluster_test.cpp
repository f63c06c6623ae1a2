// Tenants over a cluster of a real primary and its streaming replica (scripts/servers.sh start
// pg-replica): each tenant's writes reach the primary and its reads the replica through the
// tenant layer, quotas hold across both servers, and a tenant lease discarded counts as a
// failure of its endpoint. Where a query ran is asked of the server (pg_is_in_recovery()).
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "pgha_env.hpp"
#include "reservoir/cluster/cluster.hpp"
#include "reservoir/cluster/tenant_source.hpp"
#include "reservoir/pg/connector.hpp"
#include "reservoir/pgcluster/role_source.hpp"

namespace reservoir::pg::test {
namespace {

using namespace std::chrono_literals;
using cluster::Intent;

cluster::Cluster primary_and_replica(const ReplicaEnv& env) {
  auto endpoint = [](const std::string& url) {
    auto c = Connector::create(url);
    if (!c) throw std::runtime_error(c.error().message());
    return cluster::adapt<Connector>(std::move(c).value());
  };
  cluster::ClusterConfig c;
  c.name = "tenants";
  c.endpoints = {{.name = "primary", .connector = endpoint(env.primary_url)},
                 {.name = "replica", .connector = endpoint(env.replica_url)}};
  c.pool.min_idle = 0;
  c.pool.max_size = 2;
  c.pool.connect_timeout = 1000ms;
  c.outlier.consecutive_failures = 0;
  c.outlier.failure_rate_min = 0;
  c.outlier.latency_factor = 0;
  c.routing.roles = pgcluster::role_source();
  auto made = cluster::Cluster::create(std::move(c), {.start_maintainers = false});
  if (!made) throw std::runtime_error(made.error().message());
  return std::move(made).value();
}

// 1 when `lease`'s server is a replica, 0 on the primary.
std::int64_t in_recovery(tenant::TenantLease& lease) {
  auto rows = lease.as<Connector>().query("SELECT pg_catalog.pg_is_in_recovery()::int::int8", in_ms(3000));
  if (!rows) throw std::runtime_error(rows.error().message());
  auto v = rows->get_int(0, 0);
  if (!v) throw std::runtime_error(v.error().message());
  return *v;
}

TEST(PgTenantCluster, TenantsReadOnTheReplicaWriteOnThePrimaryWithinTheirQuotas) {
  RESERVOIR_REQUIRE_SERVERS(ReplicaEnv, env, "pg-replica");
  cluster::Cluster c = primary_and_replica(env);
  tenant::TenantsConfig config;
  config.tenants["a"] = {.max_leases = 2};
  config.tenants["b"] = {.guarantee = 1};
  auto made = tenant::Tenants::create(cluster::tenant_source(c), config);
  ASSERT_TRUE(made) << made.error().message();
  tenant::Tenants& tenants = *made;
  EXPECT_EQ(tenants.totals().capacity, 4u);

  for (const char* id : {"a", "b"}) {
    auto w = cluster::acquire(tenants, id, in_ms(3000), Intent::write());
    ASSERT_TRUE(w) << w.error().message();
    EXPECT_EQ(cluster::cluster_lease(*w)->endpoint(), "primary");
    EXPECT_EQ(in_recovery(*w), 0);
    auto r = cluster::acquire(tenants, id, in_ms(3000), Intent::read());
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(cluster::cluster_lease(*r)->endpoint(), "replica");
    EXPECT_EQ(in_recovery(*r), 1);
  }
  // a's cap holds across the servers: a write and a read held, a third refused at once.
  auto w = cluster::acquire(tenants, "a", in_ms(3000), Intent::write());
  auto r = cluster::acquire(tenants, "a", in_ms(3000), Intent::read());
  ASSERT_TRUE(w && r);
  auto over = cluster::acquire(tenants, "a", in_ms(3000), Intent::read());
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().kind(), ErrorKind::quota_exceeded) << over.error().message();
  auto b = cluster::acquire(tenants, "b", in_ms(3000), Intent::read());
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(in_recovery(*b), 1);

  // The cluster's outcome feedback goes on through the tenant layer.
  const auto before = c.stats();
  b->discard();
  b->release();
  w->release();
  const auto after = c.stats();
  auto failures = [](const cluster::ClusterStats& s, const std::string& name) {
    for (const auto& e : s.endpoints) {
      if (e.name == name) return std::make_pair(e.failures, e.successes);
    }
    return std::make_pair(std::uint64_t{0}, std::uint64_t{0});
  };
  EXPECT_EQ(failures(after, "replica").first, failures(before, "replica").first + 1) << after.to_string();
  EXPECT_EQ(failures(after, "primary").second, failures(before, "primary").second + 1) << after.to_string();
  EXPECT_EQ(tenants.stats("a")->operations, 4u);
  EXPECT_EQ(tenants.stats("a")->quota_rejections, 1u);
}

}  // namespace
}  // namespace reservoir::pg::test
