// Bad configurations: each is invalid_config naming the field, the value and what is
// allowed, at creation and at a runtime change (refused whole, the cluster as it was).
#include "cluster_fake.hpp"

namespace reservoir::cluster::testing {
namespace {

void expect_invalid(const Status& s, const std::string& field, const std::string& text) {
  ASSERT_FALSE(s.ok()) << "accepted; expected " << field;
  EXPECT_EQ(s.error().kind(), ErrorKind::invalid_config) << s.error().message();
  EXPECT_EQ(s.error().code(), field) << s.error().message();
  EXPECT_NE(s.error().message().find(text), std::string::npos) << s.error().message();
}

template <class T>
Status status_of(const Result<T>& r) {
  if (r) return {};
  return r.error();
}

TEST_F(ClusterTest, EmptyEndpointListIsRefused) {
  ClusterConfig c = quiet_config();
  expect_invalid(status_of(Cluster::create(c, options())), "cluster.endpoints",
                 "cluster.endpoints=[]: allowed 1 or more endpoints");
}

TEST_F(ClusterTest, DuplicateEndpointsAreRefused) {
  ClusterConfig c = quiet_config();
  c.endpoints = {{.name = "a", .connector = endpoint("a")}, {.name = "a", .connector = endpoint("a2")}};
  expect_invalid(status_of(Cluster::create(c, options())), "cluster.endpoints[1].name",
                 "cluster.endpoints[1].name=\"a\": allowed a name no other endpoint has (cluster.endpoints[0] has it)");
}

TEST_F(ClusterTest, DuplicateDefaultNamesAreRefused) {
  ClusterConfig c = quiet_config();
  auto same = endpoint("db:5432");
  c.endpoints = {{.connector = same}, {.connector = same}};  // both named by endpoint()
  expect_invalid(status_of(Cluster::create(c, options())), "cluster.endpoints[1].name", "\"db:5432\"");
}

TEST_F(ClusterTest, EjectionPercentAbove100IsRefused) {
  ClusterConfig c = quiet_config();
  c.endpoints = {{.name = "a", .connector = endpoint("a")}};
  c.outlier.max_ejection_percent = 101;
  expect_invalid(status_of(Cluster::create(c, options())), "outlier.max_ejection_percent",
                 "outlier.max_ejection_percent=101: allowed 0..100");
}

TEST_F(ClusterTest, BaseEjectionTimeAboveMaxIsRefused) {
  ClusterConfig c = quiet_config();
  c.endpoints = {{.name = "a", .connector = endpoint("a")}};
  c.outlier.base_ejection_time = 60s;
  c.outlier.max_ejection_time = 30s;
  expect_invalid(status_of(Cluster::create(c, options())), "outlier.base_ejection_time",
                 "outlier.base_ejection_time=1min: allowed at most outlier.max_ejection_time (30s)");
}

TEST_F(ClusterTest, WeightZeroIsRefused) {
  ClusterConfig c = quiet_config();
  c.endpoints = {{.name = "a", .connector = endpoint("a"), .weight = 0}};
  expect_invalid(status_of(Cluster::create(c, options())), "cluster.endpoints[0].weight",
                 "cluster.endpoints[0].weight=0: allowed 1..1000");
}

TEST_F(ClusterTest, UnknownPolicyIsRefused) {
  ClusterConfig c = quiet_config();
  c.endpoints = {{.name = "a", .connector = endpoint("a")}};
  c.policy = static_cast<Policy>(7);
  expect_invalid(status_of(Cluster::create(c, options())), "cluster.policy",
                 "cluster.policy=7: allowed round_robin, least_outstanding");
}

TEST_F(ClusterTest, NullConnectorAndBadTierAreRefused) {
  ClusterConfig c = quiet_config();
  c.endpoints = {{.name = "a", .connector = nullptr}};
  expect_invalid(status_of(Cluster::create(c, options())), "cluster.endpoints[0].connector", "null");
  c.endpoints = {{.name = "a", .connector = endpoint("a"), .priority = 16}};
  expect_invalid(status_of(Cluster::create(c, options())), "cluster.endpoints[0].priority", "allowed 0..15");
}

TEST_F(ClusterTest, PoolAndBreakerConfigsAreCheckedToo) {
  ClusterConfig c = quiet_config();
  c.endpoints = {{.name = "a", .connector = endpoint("a")}};
  c.pool.max_size = 0;
  expect_invalid(status_of(Cluster::create(c, options())), "max_size", "max_size=0");
  c = quiet_config();
  c.endpoints = {{.name = "a", .connector = endpoint("a")}};
  c.breaker.window_calls = 0;
  expect_invalid(status_of(Cluster::create(c, options())), "breaker.window_calls", "breaker.window_calls=0");
}

// A runtime change that is invalid anywhere changes nothing.
TEST_F(ClusterTest, InvalidRuntimeChangesAreRefusedWhole) {
  Cluster cluster = make(quiet_config(), {"a", "b"});
  const auto before = cluster.stats().endpoints.size();

  expect_invalid(cluster.add_endpoint({.name = "c", .connector = endpoint("c"), .weight = 0}),
                 "cluster.endpoints[2].weight", "=0: allowed 1..1000");
  expect_invalid(cluster.add_endpoint({.name = "a", .connector = endpoint("a-again")}), "cluster.endpoints[2].name",
                 "\"a\"");
  // A valid addition next to an invalid one: neither is made.
  expect_invalid(cluster.update_endpoints({{.name = "a", .connector = fakes["a"]},
                                           {.name = "new", .connector = endpoint("new")},
                                           {.name = "bad", .connector = endpoint("bad"), .weight = 0}},
                                          0s),
                 "cluster.endpoints[2].weight", "=0");
  expect_invalid(cluster.update_endpoints({}, 0s), "cluster.endpoints", "=[]");
  expect_invalid(cluster.remove_endpoint("zzz", 0s), "cluster.remove_endpoint",
                 "cluster.remove_endpoint=\"zzz\": allowed one of \"a\", \"b\"");
  expect_invalid(cluster.rotate_credentials("zzz", endpoint("z"), 1s), "rotate_credentials.name", "\"zzz\"");
  expect_invalid(cluster.rotate_credentials("a", nullptr, 1s), "rotate_credentials.connector", "null");
  expect_invalid(cluster.rotate_credentials("a", endpoint("a2"), 25h), "rotate_credentials.window", "rotate_credentials.window=25h: allowed 0..24h");

  const ClusterStats after = cluster.stats();
  ASSERT_EQ(after.endpoints.size(), before);
  EXPECT_EQ(after.endpoints[0].name, "a");
  EXPECT_EQ(after.endpoints[1].name, "b");
  EXPECT_EQ(fakes["new"]->opened.load(), 0);
  EXPECT_EQ(after.endpoints[0].credential_rotations, 0u);
  // And it still serves both.
  auto s = spread(cluster, 10);
  EXPECT_EQ(s.size(), 2u);

  ASSERT_TRUE(cluster.remove_endpoint("b", 0s).ok());
  expect_invalid(cluster.remove_endpoint("a", 0s), "cluster.endpoints", "cannot remove the last");
}

TEST_F(ClusterTest, BadRoutingSettingsAreRefused) {
  ClusterConfig c = quiet_config();
  c.endpoints = {{.name = "a", .connector = endpoint("a")}};
  c.routing.max_replica_lag = 25h;
  expect_invalid(status_of(Cluster::create(c, options())), "cluster.routing.max_replica_lag",
                 "cluster.routing.max_replica_lag=25h: allowed 0 (off) or 1ms..24h");
  c.routing.max_replica_lag = 0ms;
  c.routing.status_interval = 0ms;
  expect_invalid(status_of(Cluster::create(c, options())), "cluster.routing.status_interval",
                 "cluster.routing.status_interval=0: allowed 1ms..1h");
  c.routing.status_interval = 1s;
  c.routing.read_your_writes_wait = 2min;
  expect_invalid(status_of(Cluster::create(c, options())), "cluster.routing.read_your_writes_wait",
                 "cluster.routing.read_your_writes_wait=2min: allowed 0..1min");
}

}  // namespace
}  // namespace reservoir::cluster::testing
