// Runtime changes without dropping calls: endpoints added (pool first, weight ramped),
// removed (drained: leases finish, new acquires skip it), credentials rotated (new connects at
// once, old connections retired over the window).
#include "cluster/rotating_connector.hpp"
#include <thread>

#include "cluster_fake.hpp"

namespace reservoir::cluster::testing {
namespace {

TEST_F(ClusterTest, AddedEndpointTakesTraffic) {
  ClusterConfig c = quiet_config();
  c.policy = Policy::round_robin;
  Cluster cluster = make(c, {"a", "b"});
  ASSERT_TRUE(cluster.add_endpoint({.name = "c", .connector = endpoint("c")}).ok());
  auto s = spread(cluster, 30);
  EXPECT_EQ(s["a"], 10);
  EXPECT_EQ(s["b"], 10);
  EXPECT_EQ(s["c"], 10);
}

TEST_F(ClusterTest, AddedEndpointWarmsUpOverTheWarmupTime) {
  ClusterConfig c = quiet_config();
  c.policy = Policy::round_robin;
  c.warmup = 100s;
  Cluster cluster = make(c, {"a"});
  ASSERT_TRUE(cluster.add_endpoint({.name = "new", .connector = endpoint("new")}).ok());
  auto cold = spread(cluster, 110);  // weight 0.1 against 1
  EXPECT_EQ(cold["new"], 10);
  clock.advance(50s);
  auto half = spread(cluster, 150);  // 0.5 against 1
  EXPECT_EQ(half["new"], 50);
  clock.advance(50s);
  auto warm = spread(cluster, 100);
  EXPECT_EQ(warm["new"], 50);
}

TEST_F(ClusterTest, AnEndpointThatCannotStartIsNotAdded) {
  ClusterConfig c = quiet_config();
  c.pool.init_mode = InitMode::fail_fast;
  Cluster cluster = make(c, {"a"});
  auto bad = endpoint("bad");
  bad->down = true;
  Status s = cluster.add_endpoint({.name = "bad", .connector = bad});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind(), ErrorKind::unavailable);
  EXPECT_NE(s.error().message().find("endpoint \"bad\": "), std::string::npos) << s.error().message();
  EXPECT_EQ(cluster.stats().endpoints.size(), 1u);
}

TEST_F(ClusterTest, RemovedEndpointDrainsItsLeasesFinishAndNewAcquiresSkipIt) {
  ClusterConfig c = quiet_config();
  c.policy = Policy::round_robin;
  Cluster cluster = make(c, {"a", "b"});
  std::vector<ClusterLease> on_b;
  for (int i = 0; i < 4; ++i) {
    auto lease = cluster.acquire(in(1s));
    ASSERT_TRUE(lease);
    if (lease->endpoint() == "b") on_b.push_back(std::move(lease).value());
  }
  ASSERT_EQ(on_b.size(), 2u);
  ASSERT_TRUE(cluster.remove_endpoint("b", 0s).ok());
  EXPECT_EQ(spread(cluster, 10)["a"], 10);
  ASSERT_EQ(cluster.stats().endpoints.size(), 1u);
  // The leases out finish their work on b; their connections close as they come back.
  EXPECT_EQ(fake(on_b[0]).endpoint, "b");
  EXPECT_EQ(fakes["b"]->live(), 2);
  on_b.clear();
  EXPECT_EQ(fakes["b"]->live(), 0);
}

TEST_F(ClusterTest, RemoveWaitsForTheLeasesOutWhileTheEndpointShowsDraining) {
  ClusterConfig c = quiet_config();
  c.policy = Policy::round_robin;
  Cluster cluster = make(c, {"a", "b"});
  auto first = cluster.acquire(in(1s));
  auto second = cluster.acquire(in(1s));
  ClusterLease on_b = std::move(first->endpoint() == "b" ? first : second).value();
  ASSERT_EQ(on_b.endpoint(), "b");
  Status removed = Error::make(ErrorKind::internal, "not returned");
  std::thread remover([&] { removed = cluster.remove_endpoint("b", 60s); });
  ASSERT_TRUE(eventually([&] {
    return stats_of(cluster.stats(), "b").state == EndpointState::draining;
  })) << cluster.stats().to_string();
  EXPECT_EQ(spread(cluster, 4)["a"], 4) << "a draining endpoint takes no acquire";
  on_b.release();  // its work done: the drain ends, the pool closes
  remover.join();
  EXPECT_TRUE(removed.ok()) << removed.error().message();
  EXPECT_FALSE(logger->contains("removed with leases still out"));
  ASSERT_EQ(cluster.stats().endpoints.size(), 1u);
  EXPECT_EQ(fakes["b"]->live(), 0);
}

TEST_F(ClusterTest, UpdateEndpointsAddsRemovesAndReweighsInOneChange) {
  ClusterConfig c = quiet_config();
  c.policy = Policy::round_robin;
  Cluster cluster = make(c, {"a", "b"});
  ASSERT_TRUE(cluster.update_endpoints({{.name = "a", .connector = fakes["a"], .weight = 3},
                                        {.name = "c", .connector = endpoint("c")}},
                                       0s)
                  .ok());
  auto s = spread(cluster, 40);
  EXPECT_EQ(s["a"], 30);
  EXPECT_EQ(s["c"], 10);
  EXPECT_EQ(s.count("b"), 0u);
}

TEST_F(ClusterTest, RotatedCredentialsAreUsedByEveryNewConnectionAndOldOnesRetireOverTheWindow) {
  ClusterConfig c = quiet_config();
  Cluster cluster = make(c, {"a"});
  std::vector<ClusterLease> old;
  for (int i = 0; i < 4; ++i) old.push_back(std::move(cluster.acquire(in(1s))).value());
  old.resize(2);  // two return to the pool idle, two stay leased
  auto rotated = std::make_shared<FakeEndpoint>("a", "pw2");
  fakes["a-rotated"] = rotated;
  ASSERT_TRUE(cluster.rotate_credentials("a", rotated, 60s).ok());
  EXPECT_EQ(stats_of(cluster.stats(), "a").credential_rotations, 1u);

  // A new connection is made with the new password at once.
  std::vector<ClusterLease> fresh;
  for (int i = 0; i < 3; ++i) fresh.push_back(std::move(cluster.acquire(in(1s))).value());
  int with_new = 0;
  for (auto& l : fresh) with_new += fake(l).password == "pw2";
  EXPECT_GE(with_new, 1);
  fresh.clear();
  // After the window, no connection with the old password is handed out or kept.
  clock.advance(61s);
  for (int i = 0; i < 6; ++i) fresh.push_back(std::move(cluster.acquire(in(1s))).value());
  for (auto& l : fresh) EXPECT_EQ(fake(l).password, "pw2");
  fresh.clear();
  old.clear();  // leased old ones retire as they return
  EXPECT_EQ(fakes["a"]->live(), 0) << "an old-password connection stayed open";
}

TEST_F(ClusterTest, AConnectInFlightDuringARotationIsRedoneWithTheNewCredentials) {
  auto before = endpoint("old");
  auto after = std::make_shared<FakeEndpoint>("new", "pw2");
  fakes["new"] = after;
  detail::RotatingConnector rotating(before);
  before->on_connect = [&] { rotating.replace(after); };  // the rotation lands mid-connect
  auto conn = rotating.connect(in(1s));
  ASSERT_TRUE(conn.ok());
  EXPECT_EQ(static_cast<FakeConn&>(detail::RotatingConnector::inner(**conn)).password, "pw2");
  EXPECT_EQ(before->closed.load(), 1) << "the connection opened with the old credentials is closed";
  rotating.close(std::move(*conn), in(1s));
  EXPECT_EQ(after->live(), 0);
}

}  // namespace
}  // namespace reservoir::cluster::testing
