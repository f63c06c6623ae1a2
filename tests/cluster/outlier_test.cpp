// Outlier ejection: consecutive failures, failure rate against the peers, latency against the
// peers; ejection time growing and capped; the share ejected capped, one endpoint always left.
#include <cmath>

#include "cluster_fake.hpp"

namespace reservoir::cluster::testing {
namespace {

// `n` leases of endpoint `name`, each reported failed (discarded) or not. Round robin over the
// rest is avoided by taking leases until one of `name` comes; the others are returned healthy.
void report(Cluster& c, Deadline d, const std::string& name, int n, bool failed) {
  for (int done = 0, guard = 0; done < n && guard < 100 * n; ++guard) {
    auto lease = c.acquire(d);
    ASSERT_TRUE(lease) << lease.error().message();
    if (lease->endpoint() != name) continue;
    if (failed) lease->discard();
    ++done;
  }
}

TEST_F(ClusterTest, ConsecutiveFailuresEjectAndTheEjectedEndpointIsSkipped) {
  ClusterConfig c = quiet_config();
  c.policy = Policy::round_robin;
  c.outlier.consecutive_failures = 3;
  c.outlier.base_ejection_time = 30s;
  Cluster cluster = make(c, {"a", "b", "c"});
  report(cluster, in(1s), "a", 2, true);
  EXPECT_EQ(stats_of(cluster.stats(), "a").state, EndpointState::serving) << "2 in a row is not 3";
  report(cluster, in(1s), "a", 1, false);  // a success breaks the run
  report(cluster, in(1s), "a", 2, true);
  EXPECT_EQ(stats_of(cluster.stats(), "a").state, EndpointState::serving);
  report(cluster, in(1s), "a", 1, true);
  EXPECT_EQ(stats_of(cluster.stats(), "a").state, EndpointState::ejected);
  EXPECT_TRUE(logger->contains("test: ejected a for 30s (3 consecutive failures)"));

  auto s = spread(cluster, 30);
  EXPECT_EQ(s.count("a"), 0u) << "an ejected endpoint takes no acquire";
  clock.advance(30s);
  EXPECT_GT(spread(cluster, 30)["a"], 0) << "back after its ejection time";
}

TEST_F(ClusterTest, EjectionTimeGrowsWithEachEjectionUpToTheMax) {
  ClusterConfig c = quiet_config();
  c.policy = Policy::round_robin;
  c.outlier.consecutive_failures = 1;
  c.outlier.base_ejection_time = 10s;
  c.outlier.max_ejection_time = 25s;
  c.outlier.interval = 1h;  // no forgiving interval in between
  Cluster cluster = make(c, {"a", "b", "c"});
  for (auto expected : {10s, 20s, 25s, 25s}) {
    report(cluster, in(1s), "a", 1, true);
    ASSERT_EQ(stats_of(cluster.stats(), "a").state, EndpointState::ejected);
    clock.advance(expected - 1ms);
    EXPECT_EQ(stats_of(cluster.stats(), "a").state, EndpointState::ejected) << "ejected for less than " << expected.count();
    clock.advance(1ms);
    EXPECT_EQ(stats_of(cluster.stats(), "a").state, EndpointState::serving) << "ejected past " << expected.count();
    spread(cluster, 3);  // a pick ends the ejection
  }
  EXPECT_EQ(stats_of(cluster.stats(), "a").ejections, 4u);
}

TEST_F(ClusterTest, AQuietIntervalForgivesAnEjection) {
  ClusterConfig c = quiet_config();
  c.policy = Policy::round_robin;
  c.outlier.consecutive_failures = 1;
  c.outlier.base_ejection_time = 10s;
  c.outlier.interval = 15s;
  Cluster cluster = make(c, {"a", "b"});
  report(cluster, in(1s), "a", 1, true);  // level 1: 10 s
  clock.advance(10s);
  report(cluster, in(1s), "a", 1, true);  // level 2: 20 s
  EXPECT_EQ(stats_of(cluster.stats(), "a").ejection_level, 2u);
  clock.advance(20s);
  report(cluster, in(1s), "a", 1, false);  // the interval ends here: a was quiet in it... 
  clock.advance(15s);
  report(cluster, in(1s), "a", 1, false);  // ...and in this one
  EXPECT_LT(stats_of(cluster.stats(), "a").ejection_level, 2u);
}

TEST_F(ClusterTest, NeverMoreThanTheMaxShareEjectedAndOneAlwaysServes) {
  ClusterConfig c = quiet_config();
  c.policy = Policy::round_robin;
  c.outlier.consecutive_failures = 1;
  c.outlier.max_ejection_percent = 100;
  Cluster cluster = make(c, {"a", "b"});
  report(cluster, in(1s), "a", 1, true);
  report(cluster, in(1s), "b", 1, true);
  const ClusterStats s = cluster.stats();
  EXPECT_EQ(stats_of(s, "a").state, EndpointState::ejected);
  EXPECT_EQ(stats_of(s, "b").state, EndpointState::serving) << "the last endpoint serving is never ejected";
  EXPECT_TRUE(logger->contains("test: b not ejected (1 consecutive failures): 1 of 2 already ejected"));
  EXPECT_EQ(spread(cluster, 5)["b"], 5);
}

TEST_F(ClusterTest, MaxEjectionPercentCapsTheShare) {
  ClusterConfig c = quiet_config();
  c.policy = Policy::round_robin;
  c.outlier.consecutive_failures = 1;
  c.outlier.max_ejection_percent = 50;
  Cluster cluster = make(c, {"a", "b", "c", "d"});
  for (const char* n : {"a", "b", "c"}) report(cluster, in(1s), n, 1, true);
  int ejected = 0;
  for (const auto& e : cluster.stats().endpoints) ejected += e.state == EndpointState::ejected;
  EXPECT_EQ(ejected, 2) << cluster.stats().to_string();
}

TEST_F(ClusterTest, FailureRateFarAboveThePeersEjects) {
  ClusterConfig c = quiet_config();
  c.policy = Policy::round_robin;
  c.outlier.failure_rate_min = 0.2;
  c.outlier.failure_rate_factor = 3;
  c.outlier.minimum_requests = 10;
  c.outlier.interval = 10s;
  Cluster cluster = make(c, {"a", "b", "c"});
  // In one interval: a fails 15 times (its other outcomes, taken while reporting b and c,
  // succeed: about 1 in 4 fails), b and c fail 1 in 20 of their own.
  report(cluster, in(1s), "a", 15, true);
  for (const char* n : {"b", "c"}) {
    report(cluster, in(1s), n, 19, false);
    report(cluster, in(1s), n, 1, true);
  }
  EXPECT_EQ(stats_of(cluster.stats(), "a").state, EndpointState::serving) << "judged once per interval";
  clock.advance(10s);
  report(cluster, in(1s), "b", 1, false);  // the first outcome after the interval judges it
  EXPECT_EQ(stats_of(cluster.stats(), "a").state, EndpointState::ejected) << cluster.stats().to_string();
  EXPECT_EQ(stats_of(cluster.stats(), "b").state, EndpointState::serving);
  EXPECT_TRUE(logger->contains("test: ejected a for 30s (failure rate ")) << cluster.stats().to_string();
}

TEST_F(ClusterTest, AFailureRateSharedByAllEjectsNobody) {
  ClusterConfig c = quiet_config();
  c.policy = Policy::round_robin;
  c.outlier.minimum_requests = 10;
  c.outlier.failure_rate_min = 0.2;
  c.outlier.failure_rate_factor = 3;
  Cluster cluster = make(c, {"a", "b", "c"});
  for (int i = 0; i < 10; ++i) {
    for (const char* n : {"a", "b", "c"}) {
      report(cluster, in(1s), n, 1, false);
      report(cluster, in(1s), n, 1, true);
    }
  }
  clock.advance(10s);
  report(cluster, in(1s), "a", 1, false);
  for (const auto& e : cluster.stats().endpoints) EXPECT_EQ(e.state, EndpointState::serving) << e.name;
}

TEST_F(ClusterTest, LatencyFarAboveThePeersMedianEjects) {
  ClusterConfig c = quiet_config();
  c.policy = Policy::round_robin;
  c.outlier.latency_factor = 5;
  c.outlier.latency_floor = 10ms;
  c.outlier.interval = 10s;
  Cluster cluster = make(c, {"a", "b", "c"});
  // One operation each: a takes 100 ms, b and c 5 ms.
  for (int i = 0; i < 3; ++i) {
    auto s = cluster::run(cluster, [&](Connection& conn) -> Status {
      clock.advance(static_cast<FakeConn&>(conn).endpoint == "a" ? 100ms : 5ms);
      return {};
    });
    ASSERT_TRUE(s.ok());
  }
  ASSERT_EQ(stats_of(cluster.stats(), "b").latency_ewma, 5ms);
  EXPECT_EQ(stats_of(cluster.stats(), "a").latency_ewma, 100ms);
  clock.advance(10s);
  spread(cluster, 1);  // an outcome without a latency sample (a plain lease) judges the interval
  EXPECT_EQ(stats_of(cluster.stats(), "a").state, EndpointState::ejected) << cluster.stats().to_string();
  EXPECT_TRUE(logger->contains("(latency 100ms against the peers' median 5ms)")) << logger->lines().back();
}

TEST_F(ClusterTest, SlowButUnderTheFloorIsNotAnOutlier) {
  ClusterConfig c = quiet_config();
  c.policy = Policy::round_robin;
  c.outlier.latency_factor = 5;
  c.outlier.latency_floor = 10ms;
  Cluster cluster = make(c, {"a", "b", "c"});
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(cluster::run(cluster, [&](Connection& conn) -> Status {
                  clock.advance(static_cast<FakeConn&>(conn).endpoint == "a" ? 9ms : 1ms);
                  return {};
                }).ok());
  }
  clock.advance(10s);
  spread(cluster, 1);
  EXPECT_EQ(stats_of(cluster.stats(), "a").state, EndpointState::serving);
}

TEST_F(ClusterTest, LatencyDecaysWithTime) {
  ClusterConfig c = quiet_config();
  c.outlier.latency_decay = 10s;
  Cluster cluster = make(c, {"a"});
  auto op = [&](Duration d) {
    return cluster::run(cluster, [&](Connection&) -> Status {
      clock.advance(d);
      return {};
    });
  };
  ASSERT_TRUE(op(100ms).ok());
  // 10 s - 100 ms later a 10 ms sample: the old one keeps exp(-1) of its weight... measured
  // from the end of the first operation.
  clock.advance(10s - 10ms);
  ASSERT_TRUE(op(10ms).ok());
  const double expected = std::exp(-1.0) * 100.0 + (1 - std::exp(-1.0)) * 10.0;  // ms
  const double got = std::chrono::duration<double, std::milli>(stats_of(cluster.stats(), "a").latency_ewma).count();
  EXPECT_NEAR(got, expected, 0.01);
}

}  // namespace
}  // namespace reservoir::cluster::testing
