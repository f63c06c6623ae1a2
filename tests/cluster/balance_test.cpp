// Picking: round robin by weight, least outstanding (power of two choices with latency),
// priority tiers, skipping endpoints that do not serve, failing over within one acquire.
#include "cluster_fake.hpp"

namespace reservoir::cluster::testing {
namespace {

TEST_F(ClusterTest, RoundRobinFollowsWeights) {
  ClusterConfig c = quiet_config();
  c.policy = Policy::round_robin;
  c.endpoints = {{.name = "a", .connector = endpoint("a"), .weight = 2}, {.name = "b", .connector = endpoint("b")}};
  Cluster cluster = make(c, {});
  auto s = spread(cluster, 300);
  EXPECT_EQ(s["a"], 200);
  EXPECT_EQ(s["b"], 100);
}

TEST_F(ClusterTest, LeaseKnowsItsEndpointAndConnection) {
  Cluster cluster = make(quiet_config(), {"a"});
  auto lease = cluster.acquire(in(1s));
  ASSERT_TRUE(lease);
  EXPECT_EQ(lease->endpoint(), "a");
  EXPECT_EQ(fake(*lease).endpoint, "a");
}

TEST_F(ClusterTest, LeastOutstandingSendsEachAcquireToTheLessLoadedEndpoint) {
  ClusterConfig c = quiet_config();
  c.policy = Policy::least_outstanding;
  Cluster cluster = make(c, {"a", "b"});
  std::vector<ClusterLease> held;
  std::map<std::string, int> count;
  for (int i = 0; i < 8; ++i) {
    auto lease = cluster.acquire(in(1s));
    ASSERT_TRUE(lease) << lease.error().message();
    ++count[lease->endpoint()];
    // With two endpoints both are always drawn: the one with fewer leases out wins.
    EXPECT_LE(std::abs(count["a"] - count["b"]), 1) << "after " << i + 1 << " acquires";
    held.push_back(std::move(lease).value());
  }
  EXPECT_EQ(count["a"], 4);
  EXPECT_EQ(count["b"], 4);
}

// Operations on `slow` take 20 ms, on the others 1 ms (time moved by the operation itself).
Status timed_op(Connection& conn, reservoir::testing::JumpClock& clock, const std::string& slow) {
  clock.advance(static_cast<FakeConn&>(conn).endpoint == slow ? 20ms : 1ms);
  return {};
}

TEST_F(ClusterTest, LeastOutstandingPrefersTheFasterEndpoint) {
  ClusterConfig c = quiet_config();
  c.policy = Policy::least_outstanding;
  Cluster cluster = make(c, {"slow", "fast"});
  std::map<std::string, int> count;
  for (int i = 0; i < 200; ++i) {
    std::string where;
    auto s = cluster::run(cluster, [&](Connection& conn) {
      where = static_cast<FakeConn&>(conn).endpoint;
      return timed_op(conn, clock, "slow");
    });
    ASSERT_TRUE(s.ok()) << s.error().message();
    ++count[where];
  }
  // Both are always drawn; once each has a latency sample the faster one always wins (before
  // that, an endpoint without a sample costs the mean: ties are drawn at random).
  EXPECT_LE(count["slow"], 10);
  EXPECT_GE(count["fast"], 190);
  EXPECT_GT(stats_of(cluster.stats(), "slow").latency_ewma, stats_of(cluster.stats(), "fast").latency_ewma);
}

TEST_F(ClusterTest, LeastOutstandingTriesAnEndpointAgainOnceItsSlowSampleHasDecayed) {
  ClusterConfig c = quiet_config();
  c.policy = Policy::least_outstanding;
  c.outlier.latency_decay = 10s;
  Cluster cluster = make(c, {"slow", "fast"});
  std::string where;
  auto op = [&](Connection& conn) {
    where = static_cast<FakeConn&>(conn).endpoint;
    return timed_op(conn, clock, "slow");
  };
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(cluster::run(cluster, op).ok());
  ASSERT_EQ(where, "fast");
  // One call a second: fast's latency stays near 1 ms (sampled each time), slow's 20 ms decays
  // as 20 ms x exp(-t / 10 s), under fast's after about 31 s; then slow is drawn again.
  int tried_after = 0;
  for (int s = 1; s <= 60 && tried_after == 0; ++s) {
    clock.advance(1s);
    ASSERT_TRUE(cluster::run(cluster, op).ok());
    if (where == "slow") tried_after = s;
  }
  EXPECT_GE(tried_after, 25);
  EXPECT_LE(tried_after, 40);
}

TEST_F(ClusterTest, LowerTierServesOnlyWhileNoHigherTierEndpointDoes) {
  ClusterConfig c = quiet_config();
  c.breaker.consecutive_failures = 1;
  c.breaker.open_time = 5s;
  c.pool.validate_on_checkout = true;  // so the primary's idle connection is found dead
  c.pool.validation_bypass = 0ms;
  c.endpoints = {{.name = "primary", .connector = endpoint("primary"), .priority = 0},
                 {.name = "backup", .connector = endpoint("backup"), .priority = 1}};
  Cluster cluster = make(c, {});
  EXPECT_EQ(spread(cluster, 20)["primary"], 20);

  fakes["primary"]->down = true;
  auto s = spread(cluster, 20);  // the first fails over inside its acquire, then the breaker is open
  EXPECT_EQ(s["backup"], 20);
  EXPECT_EQ(stats_of(cluster.stats(), "primary").state, EndpointState::circuit_open);
  EXPECT_GE(cluster.stats().failovers, 1u);

  fakes["primary"]->down = false;
  clock.advance(5s);  // open time over: the next acquire probes the primary, which closes it
  EXPECT_EQ(spread(cluster, 20)["primary"], 20);
}

TEST_F(ClusterTest, AcquireMovesOnWhenAnEndpointRefusesConnects) {
  ClusterConfig c = quiet_config();
  c.policy = Policy::round_robin;
  Cluster cluster = make(c, {"a", "b"});
  fakes["a"]->down = true;  // no breaker, no ejection here: every acquire sent to a fails over
  auto s = spread(cluster, 10);
  EXPECT_EQ(s["b"], 10);
  EXPECT_GE(cluster.stats().failovers, 1u);
}

TEST_F(ClusterTest, NoEndpointServingFailsFastWithCircuitOpen) {
  ClusterConfig c = quiet_config();
  c.breaker.consecutive_failures = 1;
  Cluster cluster = make(c, {"a", "b"});
  fakes["a"]->down = true;
  fakes["b"]->down = true;
  auto first = cluster.acquire(in(1s));
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error().kind(), ErrorKind::unavailable) << first.error().message();
  auto second = cluster.acquire(in(1s));
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().kind(), ErrorKind::circuit_open) << second.error().message();
  EXPECT_NE(second.error().message().find("no endpoint serves (2 endpoints: 2 circuit open"), std::string::npos)
      << second.error().message();
}

// run(): a failure that may be retried goes to another endpoint.
TEST_F(ClusterTest, RunRetriesOnAnotherEndpoint) {
  ClusterConfig c = quiet_config();
  c.policy = Policy::round_robin;
  Cluster cluster = make(c, {"a", "b"});
  std::vector<std::string> tried;
  RunReport report;
  auto s = cluster::run(
      cluster,
      [&](Connection& conn) -> Status {
        auto& f = static_cast<FakeConn&>(conn);
        tried.push_back(f.endpoint);
        if (f.endpoint == "a") {
          f.broken = true;
          return Error::unavailable("a", "connection reset by peer");
        }
        return {};
      },
      {.idempotent = true, .report = &report});
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(tried, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(report.attempts, 2u);
  EXPECT_EQ(stats_of(cluster.stats(), "a").failures, 1u);
}

TEST_F(ClusterTest, RunDoesNotRetryANonIdempotentOperationThatWasSent) {
  ClusterConfig c = quiet_config();
  c.policy = Policy::round_robin;
  Cluster cluster = make(c, {"a", "b"});
  int calls = 0;
  auto s = cluster::run(cluster, [&](Connection&) -> Status {
    ++calls;
    return Error::unavailable("a", "connection reset by peer");
  });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(calls, 1);
  EXPECT_NE(s.error().message().find("not_idempotent"), std::string::npos) << s.error().message();
}

TEST_F(ClusterTest, RunReturnsTypedValues) {
  Cluster cluster = make(quiet_config(), {"a"});
  auto r = cluster::run(cluster, [](Connection& conn, Attempt& a) -> Result<std::string> {
    return static_cast<FakeConn&>(conn).endpoint + std::to_string(a.number());
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "a1");
}

}  // namespace
}  // namespace reservoir::cluster::testing
