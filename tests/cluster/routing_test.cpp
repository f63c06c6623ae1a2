// Read/write routing on fake endpoints whose roles, positions and lag the test sets (a fake
// RoleSource): writes to the primary, reads to eligible replicas else the primary (counted),
// the lag bound with its probe interval, read-your-writes tokens, role changes seen at
// checkout, a write refused as a replica's sent on. The real-server tests are in tests/pgha.
#include <atomic>
#include <map>
#include <thread>
#include <vector>

#include "cluster_fake.hpp"
#include "fake_roles.hpp"

namespace reservoir::cluster::testing {
namespace {

class RoutingTest : public ClusterTest {
 protected:
  ClusterConfig routed() {
    ClusterConfig c = quiet_config();
    c.policy = Policy::round_robin;
    c.routing.roles = roles;
    roles->set("p", {EndpointRole::primary});
    roles->set("r1", {EndpointRole::replica});
    roles->set("r2", {EndpointRole::replica});
    return c;
  }

  std::string where(Cluster& c, Intent intent) {
    auto lease = c.acquire(in(1s), intent);
    if (!lease) return "error: " + lease.error().message();
    return lease->endpoint();
  }

  std::map<std::string, int> spread(Cluster& c, Intent intent, int n) {
    std::map<std::string, int> count;
    for (int i = 0; i < n; ++i) ++count[where(c, intent)];
    return count;
  }

  std::shared_ptr<FakeRoles> roles = std::make_shared<FakeRoles>();
};

TEST_F(RoutingTest, WritesGoToThePrimaryAndReadsToTheReplicas) {
  Cluster c = make(routed(), {"p", "r1", "r2"});
  EXPECT_EQ(spread(c, Intent::write(), 6), (std::map<std::string, int>{{"p", 6}}));
  EXPECT_EQ(spread(c, Intent::read(), 6), (std::map<std::string, int>{{"r1", 3}, {"r2", 3}}));
  EXPECT_EQ(spread(c, Intent::any(), 6), (std::map<std::string, int>{{"p", 2}, {"r1", 2}, {"r2", 2}}));
  const auto s = c.stats();
  EXPECT_EQ(s.read_fallbacks, 0u);
  EXPECT_EQ(stats_of(s, "p").role, EndpointRole::primary);
  EXPECT_EQ(stats_of(s, "r1").role, EndpointRole::replica);
  EXPECT_NE(s.to_string().find("read_fallbacks=0 write_reroutes=0; p: serving role=primary picks="), std::string::npos)
      << s.to_string();
}

TEST_F(RoutingTest, RolesUnknownAtFirstAreLearnedAtCheckout) {
  Cluster c = make(routed(), {"p", "r1"});
  // The first read may meet the primary first: it moves on to the replica, counting no fallback.
  EXPECT_EQ(spread(c, Intent::read(), 4), (std::map<std::string, int>{{"r1", 4}}));
  EXPECT_EQ(c.stats().read_fallbacks, 0u);
}

TEST_F(RoutingTest, ReadsFallBackToThePrimaryWhenNoReplicaServesAndSaySo) {
  Cluster c = make(routed(), {"p", "r1"});
  fakes["r1"]->down = true;
  EXPECT_EQ(spread(c, Intent::read(), 5), (std::map<std::string, int>{{"p", 5}}));
  const auto s = c.stats();
  EXPECT_EQ(s.read_fallbacks, 5u);
  EXPECT_NE(s.to_string().find("read_fallbacks=5"), std::string::npos) << s.to_string();
  fakes["r1"]->down = false;
  EXPECT_EQ(where(c, Intent::read()), "r1");
}

TEST_F(RoutingTest, AReplicaBeyondTheLagBoundServesNoReadUntilAProbeFindsItCaughtUp) {
  ClusterConfig config = routed();
  config.routing.max_replica_lag = 500ms;
  config.routing.status_interval = 1s;
  roles->set("r1", {EndpointRole::replica, 0, 2s});
  Cluster c = make(config, {"p", "r1", "r2"});
  EXPECT_EQ(spread(c, Intent::read(), 4), (std::map<std::string, int>{{"r2", 4}}));
  // One probe per replica per interval, whatever the number of reads.
  EXPECT_EQ(roles->probe_count(), 2);
  const auto s = c.stats();
  EXPECT_EQ(stats_of(s, "r1").replica_lag, 2s);
  EXPECT_EQ(stats_of(s, "r1").lag_skips, 1u);
  EXPECT_NE(s.to_string().find("r1: serving role=replica lag=2s lag_skips=1"), std::string::npos) << s.to_string();

  roles->set("r1", {EndpointRole::replica, 0, 0ms});
  EXPECT_EQ(spread(c, Intent::read(), 2), (std::map<std::string, int>{{"r2", 2}})) << "known lagging until re-probed";
  clock.advance(1s);
  EXPECT_EQ(spread(c, Intent::read(), 4), (std::map<std::string, int>{{"r1", 2}, {"r2", 2}}));

  roles->set("r1", {EndpointRole::replica, 0, 2s});
  roles->set("r2", {EndpointRole::replica, 0, 2s});
  clock.advance(1s);
  EXPECT_EQ(spread(c, Intent::read(), 3), (std::map<std::string, int>{{"p", 3}}));
  EXPECT_EQ(c.stats().read_fallbacks, 3u);
}

// The only replica lags and the primary is down: the read's error says both, not just that
// no endpoint serves.
TEST_F(RoutingTest, AReadWithTheReplicaLaggingAndThePrimaryDownSaysWhy) {
  ClusterConfig config = routed();
  config.routing.max_replica_lag = 500ms;
  roles->set("r1", {EndpointRole::replica, 0, 2s});
  Cluster c = make(config, {"p", "r1"});
  {
    auto first = c.acquire(in(1s), Intent::read());  // roles learnt, r1's lag probed
    ASSERT_TRUE(first);
    EXPECT_EQ(first->endpoint(), "p");
    first->discard();  // the primary goes down with its session
  }
  fakes["p"]->down = true;
  auto lease = c.acquire(in(1s), Intent::read());
  ASSERT_FALSE(lease);
  EXPECT_EQ(lease.error().kind(), ErrorKind::unavailable);
  EXPECT_EQ(lease.error().message(),
            "unavailable: test: no endpoint serves a read: p (primary): unavailable: p: connection refused; "
            "r1 (replica): lagging 2s behind, beyond max_replica_lag=500ms");
}

// A role source's own verdict (Patroni's 503 for /replica?lag=) keeps a replica from reads
// even with no max_replica_lag of the cluster's.
TEST_F(RoutingTest, AReplicaTheSourceSaysIsBeyondItsBoundServesNoRead) {
  ClusterConfig config = routed();
  config.routing.status_interval = 1ms;
  roles->set("r1", {EndpointRole::replica, 0, 0ms, true});
  Cluster c = make(config, {"p", "r1", "r2"});
  EXPECT_EQ(spread(c, Intent::read(), 4), (std::map<std::string, int>{{"r2", 4}}));
  EXPECT_GE(stats_of(c.stats(), "r1").lag_skips, 1u);
  roles->set("r1", {EndpointRole::replica, 0, 0ms, false});
  clock.advance(1ms);
  EXPECT_EQ(spread(c, Intent::read(), 4), (std::map<std::string, int>{{"r1", 2}, {"r2", 2}}));
}

TEST_F(RoutingTest, ReadsWithATokenGoOnlyWhereTheWriteWasReplayed) {
  ClusterConfig config = routed();
  config.routing.read_your_writes_wait = 0ms;
  roles->set("r1", {EndpointRole::replica, 100});
  roles->set("r2", {EndpointRole::replica, 300});
  Cluster c = make(config, {"p", "r1", "r2"});
  (void)spread(c, Intent::read(), 2);  // both probed
  roles->written = 200;
  auto lease = c.acquire(in(1s), Intent::write());
  ASSERT_TRUE(lease);
  auto token = lease->write_token(in(1s));
  ASSERT_TRUE(token);
  EXPECT_EQ(token->position, 200u);
  EXPECT_EQ(spread(c, Intent::read_after(*token), 4), (std::map<std::string, int>{{"r2", 4}}));
  EXPECT_EQ(spread(c, Intent::read_after(WriteToken{400}), 2), (std::map<std::string, int>{{"p", 2}}));
  EXPECT_EQ(c.stats().read_fallbacks, 2u);
}

TEST_F(RoutingTest, AReadWaitsOnAReplicaForItsTokenWhenAllowed) {
  ClusterConfig config = routed();
  config.routing.read_your_writes_wait = 100ms;
  roles->set("r1", {EndpointRole::replica, 100});
  Cluster c = make(config, {"p", "r1"});
  EXPECT_EQ(where(c, Intent::read()), "r1");
  roles->set("r1", {EndpointRole::replica, 250});  // replayed meanwhile; the cluster knows 100
  EXPECT_EQ(where(c, Intent::read_after(WriteToken{200})), "r1");
  EXPECT_EQ(stats_of(c.stats(), "r1").replayed, 250u);
}

TEST_F(RoutingTest, APromotionIsSeenAtTheNextCheckout) {
  ClusterConfig config = routed();
  config.routing.status_interval = 1s;
  config.pool.validate_on_checkout = true;  // a dead server's idle connections fail their check
  config.pool.validation_bypass = 0ms;
  Cluster c = make(config, {"p", "r1"});
  EXPECT_EQ(where(c, Intent::read()), "r1");
  EXPECT_EQ(where(c, Intent::write()), "p");
  // The primary dies; writes fail at once with a clear error, reads go on.
  fakes["p"]->down = true;
  const std::string failed = where(c, Intent::write());
  EXPECT_NE(failed.find("error: unavailable: p: connection refused"), std::string::npos) << failed;
  EXPECT_EQ(where(c, Intent::read()), "r1");
  // r1 is promoted: the next checkout of one of its connections says so.
  roles->set("r1", {EndpointRole::primary});
  roles->set("p", {EndpointRole::replica});
  EXPECT_EQ(where(c, Intent::read()), "r1");  // the read still served, now by the primary
  EXPECT_EQ(where(c, Intent::write()), "r1");
  EXPECT_EQ(stats_of(c.stats(), "r1").role_changes, 1u);
  EXPECT_TRUE(logger->contains("test: r1 is now a primary (was a replica)"));
}

TEST_F(RoutingTest, AWriteWithNoPrimaryRechecksReplicasNotHeardOfForAWhile) {
  ClusterConfig config = routed();
  config.routing.status_interval = 1s;
  config.pool.validate_on_checkout = true;
  config.pool.validation_bypass = 0ms;
  Cluster c = make(config, {"p", "r1"});
  EXPECT_EQ(where(c, Intent::read()), "r1");
  fakes["p"]->down = true;
  roles->set("r1", {EndpointRole::primary});
  clock.advance(1s);  // nothing checked r1 out since
  EXPECT_EQ(where(c, Intent::write()), "r1");
}

TEST_F(RoutingTest, NoPrimaryIsAClearError) {
  roles->set("r1", {EndpointRole::replica});
  ClusterConfig config = quiet_config();
  config.routing.roles = roles;
  Cluster c = make(config, {"r1"});
  EXPECT_EQ(where(c, Intent::read()), "r1");
  EXPECT_EQ(where(c, Intent::write()), "error: unavailable: test: no primary serves (1 endpoints: 1 serving, 1 replicas)");
}

TEST_F(RoutingTest, AWriteRefusedAsAReplicasGoesToThePrimaryAtOnce) {
  roles->observable = false;  // roles unknown until a write is refused
  Cluster c = make(routed(), {"p", "r1"});
  int attempts = 0;
  for (int i = 0; i < 4; ++i) {
    std::string landed;
    auto s = cluster::run(
        c, Intent::write(),
        [&](Connection& conn) -> Status {
          ++attempts;
          landed = static_cast<FakeConn&>(conn).endpoint;
          if (landed == "r1") return Error(ErrorKind::unavailable, "r1: server is a standby", false, "25006");
          return {};
        },
        {.idempotent = false});
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(landed, "p");
  }
  EXPECT_EQ(attempts, 5);
  const auto s = c.stats();
  EXPECT_EQ(s.write_reroutes, 1u);
  EXPECT_EQ(stats_of(s, "r1").role, EndpointRole::replica);
  EXPECT_EQ(stats_of(s, "r1").failures, 0u);
  EXPECT_TRUE(clock.waits().empty()) << "no backoff before the reroute";
}

TEST_F(RoutingTest, WithoutRolesEveryIntentBalances) {
  Cluster c = make(quiet_config(), {"a", "b"});
  auto s = spread(c, Intent::write(), 4);
  EXPECT_EQ(s["a"] + s["b"], 4);
  EXPECT_FALSE(c.stats().routing);
  auto lease = c.acquire(in(1s), Intent::write());
  ASSERT_TRUE(lease);
  auto token = lease->write_token(in(1s));
  ASSERT_FALSE(token);
  EXPECT_EQ(token.error().kind(), ErrorKind::invalid_argument);
}

// For the sanitizers: reads, writes and token reads on 4 threads while the roles swap.
TEST_F(RoutingTest, ConcurrentCallsWhileTheRolesSwap) {
  ClusterConfig config = routed();
  config.routing.status_interval = 1ms;
  config.routing.max_replica_lag = 1s;
  config.routing.read_your_writes_wait = 0ms;
  Cluster c = make(config, {"p", "r1", "r2"});
  std::atomic<int> served{0}, refused{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&, t] {
      const Intent intents[] = {Intent::read(), Intent::write(), Intent::read_after(WriteToken{5})};
      for (int i = 0; i < 300; ++i) {
        auto lease = c.acquire(in(1s), intents[(t + i) % 3]);
        (lease ? served : refused).fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 300; ++i) {
    const bool swapped = i % 2 == 1;
    roles->set("p", {swapped ? EndpointRole::replica : EndpointRole::primary, 10, 0ms});
    roles->set("r1", {swapped ? EndpointRole::primary : EndpointRole::replica, 3, 2s});
    clock.advance(1ms);
    (void)c.stats().to_string();
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(served.load() + refused.load(), 1200);
  EXPECT_GT(served.load(), 0);
}

}  // namespace
}  // namespace reservoir::cluster::testing
