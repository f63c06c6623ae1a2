// Cluster::endpoint_parts(): each endpoint's own pool and breaker, read-only, in stats() order.
#include "cluster_fake.hpp"
#include "reservoir/breaker.hpp"

namespace reservoir::cluster::testing {
namespace {

TEST_F(ClusterTest, EndpointPartsAreEachEndpointsPoolAndBreakerInStatsOrder) {
  Cluster cluster = make(quiet_config(), {"a", "b"});
  auto lease = cluster.acquire(in(1s));
  ASSERT_TRUE(lease) << lease.error().message();

  const auto parts = cluster.endpoint_parts();
  const auto stats = cluster.stats();
  ASSERT_EQ(parts.size(), 2u);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    EXPECT_EQ(parts[i].name, stats.endpoints[i].name);
    EXPECT_EQ(parts[i].pool->config().name, "test/" + parts[i].name);
    EXPECT_EQ(parts[i].breaker->name(), parts[i].name);
    EXPECT_EQ(parts[i].pool->stats().in_use, parts[i].name == lease->endpoint() ? 1u : 0u);
  }
}

TEST_F(ClusterTest, EndpointPartsDropARemovedEndpoint) {
  Cluster cluster = make(quiet_config(), {"a", "b"});
  ASSERT_TRUE(cluster.remove_endpoint("b", 0ms).ok());
  const auto parts = cluster.endpoint_parts();
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].name, "a");
}

}  // namespace
}  // namespace reservoir::cluster::testing
