// Read/write routing over a cluster of a real primary and its streaming replica
// (scripts/servers.sh start pg-replica; reservoir::pgcluster's role source): writes on the
// primary, reads on the replica, the primary when the replica is stopped or lags beyond the
// bound, read-your-writes, and a write a replica refuses (25006) sent on to the primary.
// Where a query ran is asked of the server itself (pg_is_in_recovery()).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>

#include "pgha_env.hpp"
#include "reservoir/cluster/cluster.hpp"
#include "reservoir/cluster/run.hpp"
#include "reservoir/pg/connector.hpp"
#include "reservoir/pg/replication.hpp"
#include "reservoir/pgcluster/role_source.hpp"

namespace reservoir::pg::test {
namespace {

using namespace std::chrono_literals;
using cluster::Cluster;
using cluster::ClusterConfig;
using cluster::EndpointRole;
using cluster::Intent;

constexpr int kOnReplica = 1, kOnPrimary = 0;

std::shared_ptr<reservoir::Connector> endpoint_connector(const std::string& url) {
  auto c = Connector::create(url);
  if (!c) throw std::runtime_error(c.error().message());
  return cluster::adapt<Connector>(std::move(c).value());
}

ClusterConfig routed_config(const ReplicaEnv& env, std::shared_ptr<cluster::RoleSource> roles = pgcluster::role_source()) {
  ClusterConfig c;
  c.name = "pgrw";
  c.policy = cluster::Policy::round_robin;
  c.endpoints = {{.name = "primary", .connector = endpoint_connector(env.primary_url)},
                 {.name = "replica", .connector = endpoint_connector(env.replica_url)}};
  c.pool.min_idle = 0;
  c.pool.max_size = 2;
  c.pool.acquire_timeout = 2000ms;
  c.pool.connect_timeout = 1000ms;
  c.breaker.consecutive_failures = 2;
  c.breaker.open_time = 200ms;
  c.outlier.consecutive_failures = 0;  // the breaker alone: ejection times would slow the tests
  c.outlier.failure_rate_min = 0;
  c.outlier.latency_factor = 0;
  c.routing.roles = std::move(roles);
  return c;
}

Cluster make_cluster(ClusterConfig config) {
  auto c = Cluster::create(std::move(config), {.start_maintainers = false});
  if (!c) throw std::runtime_error(c.error().message());
  return std::move(c).value();
}

// Runs `sql` (one int8 column) with `intent`; returns its value.
Result<std::int64_t> run_int(Cluster& c, const Intent& intent, const std::string& sql, bool idempotent = true) {
  return cluster::run<Connector>(
      c, intent,
      [&](Connection& conn, Attempt& a) -> Result<std::int64_t> {
        auto rows = conn.query(sql, a.deadline());
        if (!rows) return std::move(rows).error();
        return rows->get_int(0, 0);
      },
      {.timeout = 3s, .idempotent = idempotent});
}

// Where a read ran: kOnReplica or kOnPrimary.
int read_where(Cluster& c, const Intent& intent = Intent::read()) {
  auto where = run_int(c, intent, "SELECT pg_catalog.pg_is_in_recovery()::int::int8");
  if (!where) throw std::runtime_error(where.error().message());
  return static_cast<int>(*where);
}

const cluster::EndpointStats& endpoint(const cluster::ClusterStats& s, const std::string& name) {
  for (const auto& e : s.endpoints) {
    if (e.name == name) return e;
  }
  throw std::runtime_error("no endpoint " + name);
}

std::unique_ptr<Connection> connect_to(const std::string& url) {
  auto connector = Connector::create(url);
  if (!connector) throw std::runtime_error(connector.error().message());
  auto conn = connector->connect(in_ms(5000));
  if (!conn) throw std::runtime_error(conn.error().message());
  return std::move(conn).value();
}

void exec_on(const std::string& url, const std::string& sql) {
  auto conn = connect_to(url);
  if (auto r = conn->script(sql, in_ms(5000)); !r) throw std::runtime_error(r.error().message());
}

void create_table(const ReplicaEnv& env) {
  exec_on(env.primary_url, "CREATE TABLE IF NOT EXISTS pgha_routing (id bigserial PRIMARY KEY, note text)");
}

// The replica runs and replays again whatever a test did to it.
class ReplicaRestored {
 public:
  explicit ReplicaRestored(const ReplicaEnv& env) : env_(env) {}
  ReplicaRestored(const ReplicaRestored&) = delete;
  ReplicaRestored& operator=(const ReplicaRestored&) = delete;
  ~ReplicaRestored() {
    auto answers = [&] {
      auto c = Connector::create(env_.replica_url);
      return c && c->connect(in_ms(1000));
    };
    if (!answers()) (void)pg_ctl(env_.replica_data, "start -w -t 30 -l '" + env_.replica_data + "/../replica.log'");
    try {
      exec_on(env_.replica_url, "SELECT pg_catalog.pg_wal_replay_resume()");
    } catch (const std::exception&) {
    }
  }

 private:
  const ReplicaEnv& env_;
};

TEST(PgRouting, WritesGoToThePrimaryAndReadsToTheReplica) {
  RESERVOIR_REQUIRE_SERVERS(ReplicaEnv, env, "pg-replica");
  create_table(env);
  Cluster c = make_cluster(routed_config(env));
  for (int i = 0; i < 6; ++i) {
    auto written = run_int(c, Intent::write(),
                           "INSERT INTO pgha_routing (note) VALUES ('w') RETURNING pg_catalog.pg_is_in_recovery()::int::int8",
                           false);
    ASSERT_TRUE(written) << written.error().message();
    EXPECT_EQ(*written, kOnPrimary);
  }
  for (int i = 0; i < 6; ++i) EXPECT_EQ(read_where(c), kOnReplica);
  // Intent any still balances over both.
  int on_replica = 0;
  for (int i = 0; i < 6; ++i) on_replica += read_where(c, Intent::any());
  EXPECT_EQ(on_replica, 3);

  const auto stats = c.stats();
  EXPECT_EQ(stats.read_fallbacks, 0u) << stats.to_string();
  EXPECT_EQ(stats.write_reroutes, 0u);
  EXPECT_EQ(endpoint(stats, "primary").role, EndpointRole::primary);
  EXPECT_EQ(endpoint(stats, "replica").role, EndpointRole::replica);
  EXPECT_NE(stats.to_string().find("read_fallbacks=0 write_reroutes=0; primary: serving role=primary"),
            std::string::npos)
      << stats.to_string();
}

TEST(PgRouting, ReadsFallBackToThePrimaryWhileTheReplicaIsStopped) {
  RESERVOIR_REQUIRE_SERVERS(ReplicaEnv, env, "pg-replica");
  ASSERT_FALSE(env.replica_data.empty()) << "pg-replica.env names no RESERVOIR_TEST_PG_REPLICA_DATA";
  create_table(env);
  Cluster c = make_cluster(routed_config(env));
  ASSERT_EQ(read_where(c), kOnReplica);

  ReplicaRestored restore(env);
  ASSERT_EQ(pg_ctl(env.replica_data, "stop -m fast -w -t 30"), 0);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(read_where(c), kOnPrimary);
  auto written = run_int(c, Intent::write(), "INSERT INTO pgha_routing (note) VALUES ('r') RETURNING id", false);
  EXPECT_TRUE(written) << written.error().message();
  const auto stopped = c.stats();
  EXPECT_EQ(stopped.read_fallbacks, 8u) << stopped.to_string();
  EXPECT_NE(stopped.to_string().find("read_fallbacks=8"), std::string::npos) << stopped.to_string();

  ASSERT_EQ(pg_ctl(env.replica_data, "start -w -t 30 -l '" + env.replica_data + "/../replica.log'"), 0);
  // Back on the replica once its breaker lets a probe through.
  EXPECT_TRUE(eventually([&] { return read_where(c) == kOnReplica; })) << c.stats().to_string();
}

TEST(PgRouting, AReplicaLaggingBeyondTheBoundServesNoRead) {
  RESERVOIR_REQUIRE_SERVERS(ReplicaEnv, env, "pg-replica");
  create_table(env);
  ClusterConfig config = routed_config(env);
  config.routing.max_replica_lag = 300ms;
  config.routing.status_interval = 1ms;  // every read probes: the test sees the lag at once
  Cluster c = make_cluster(std::move(config));
  ASSERT_EQ(read_where(c), kOnReplica);

  ReplicaRestored restore(env);
  exec_on(env.replica_url, "SELECT pg_catalog.pg_wal_replay_pause()");
  // WAL the replica receives but does not replay: its newest replayed commit ages.
  ASSERT_TRUE(run_int(c, Intent::write(), "INSERT INTO pgha_routing (note) VALUES ('lag') RETURNING id", false));
  EXPECT_TRUE(eventually([&] { return read_where(c) == kOnPrimary; })) << c.stats().to_string();
  const auto lagging = c.stats();
  const auto& replica = endpoint(lagging, "replica");
  EXPECT_GT(replica.replica_lag, 300ms) << lagging.to_string();
  EXPECT_GE(replica.lag_skips, 1u);
  EXPECT_GE(lagging.read_fallbacks, 1u);
  EXPECT_NE(lagging.to_string().find("role=replica lag="), std::string::npos) << lagging.to_string();

  exec_on(env.replica_url, "SELECT pg_catalog.pg_wal_replay_resume()");
  EXPECT_TRUE(eventually([&] { return read_where(c) == kOnReplica; })) << c.stats().to_string();
}

// The replica lags (replay paused) and the primary is stopped: a read's error says both,
// endpoint by endpoint, instead of a bare "no endpoint serves".
TEST(PgRouting, AReadWithTheReplicaLaggingAndThePrimaryStoppedSaysWhy) {
  RESERVOIR_REQUIRE_SERVERS(ReplicaEnv, env, "pg-replica");
  ASSERT_FALSE(env.primary_data.empty()) << "pg-replica.env names no RESERVOIR_TEST_PG_PRIMARY_DATA";
  create_table(env);
  ClusterConfig config = routed_config(env);
  config.routing.max_replica_lag = 300ms;
  config.routing.status_interval = 1ms;
  Cluster c = make_cluster(std::move(config));
  ASSERT_EQ(read_where(c), kOnReplica);

  ReplicaRestored restore(env);
  struct PrimaryRestarted {
    const ReplicaEnv& env;
    ~PrimaryRestarted() { (void)pg_ctl(env.primary_data, "start -w -t 30 -l '" + env.primary_data + "/../primary.log'"); }
  } restart{env};
  exec_on(env.replica_url, "SELECT pg_catalog.pg_wal_replay_pause()");
  ASSERT_TRUE(run_int(c, Intent::write(), "INSERT INTO pgha_routing (note) VALUES ('lag') RETURNING id", false));
  ASSERT_TRUE(eventually([&] { return read_where(c) == kOnPrimary; })) << c.stats().to_string();
  ASSERT_EQ(pg_ctl(env.primary_data, "stop -m fast -w -t 30"), 0);

  // The primary's pooled sessions died with it: each is found broken and discarded.
  std::optional<Error> refused;
  ASSERT_TRUE(eventually([&] {
    auto read = c.acquire(in_ms(3000), Intent::read());
    if (read) {
      read->discard();
      return false;
    }
    refused = std::move(read).error();
    return true;
  })) << c.stats().to_string();
  const std::string why = refused->message();
  std::printf("the read's refusal: %s\n", why.c_str());
  EXPECT_TRUE(refused->kind() == ErrorKind::unavailable || refused->kind() == ErrorKind::circuit_open) << why;
  EXPECT_NE(why.find("pgrw: no endpoint serves a read: primary (primary): "), std::string::npos) << why;
  EXPECT_NE(why.find("refused"), std::string::npos) << "the primary's cause: " << why;
  EXPECT_NE(why.find("replica (replica): lagging "), std::string::npos) << why;
  EXPECT_NE(why.find(" behind, beyond max_replica_lag=300ms"), std::string::npos) << why;
}

TEST(PgRouting, ReadYourWritesSeesTheWrite) {
  RESERVOIR_REQUIRE_SERVERS(ReplicaEnv, env, "pg-replica");
  create_table(env);
  ClusterConfig config = routed_config(env);
  config.routing.read_your_writes_wait = 1s;
  Cluster c = make_cluster(std::move(config));
  const std::string read_it = "SELECT count(*) * 10 + pg_catalog.pg_is_in_recovery()::int::int8 FROM pgha_routing WHERE id = ";

  auto write = [&](std::int64_t& id) -> cluster::WriteToken {
    auto lease = c.acquire(in_ms(3000), Intent::write());
    if (!lease) throw std::runtime_error(lease.error().message());
    auto rows = lease->as<Connector>().query("INSERT INTO pgha_routing (note) VALUES ('ryw') RETURNING id", in_ms(3000));
    if (!rows) throw std::runtime_error(rows.error().message());
    id = rows->get_int(0, 0).value();
    auto token = lease->write_token(in_ms(3000));
    if (!token) throw std::runtime_error(token.error().message());
    return *token;
  };

  std::int64_t id = 0;
  cluster::WriteToken token = write(id);
  auto seen = run_int(c, Intent::read_after(token), read_it + std::to_string(id));
  ASSERT_TRUE(seen) << seen.error().message();
  EXPECT_EQ(*seen, 10 + kOnReplica) << "the row, read on the replica";

  // The replica cannot reach the token (replay paused): the read goes to the primary.
  ReplicaRestored restore(env);
  exec_on(env.replica_url, "SELECT pg_catalog.pg_wal_replay_pause()");
  token = write(id);
  const auto before = c.stats().read_fallbacks;
  seen = run_int(c, Intent::read_after(token), read_it + std::to_string(id));
  ASSERT_TRUE(seen) << seen.error().message();
  EXPECT_EQ(*seen, 10 + kOnPrimary) << "the row, read on the primary";
  EXPECT_EQ(c.stats().read_fallbacks, before + 1) << c.stats().to_string();
  // A read without the token still uses the replica (no lag bound here).
  EXPECT_EQ(read_where(c), kOnReplica);
}

// As a server that reports no in_hot_standby would look before its first probe: the role of
// each endpoint is unknown, so a write may land on the replica and be refused there.
class UnseenRoles final : public cluster::RoleSource {
 public:
  std::shared_ptr<cluster::RoleSource> pg = pgcluster::role_source();
  std::optional<EndpointRole> observe(reservoir::Connection&) noexcept override { return std::nullopt; }
  Result<cluster::RoleReport> probe(reservoir::Connection& c, Deadline d) override { return pg->probe(c, d); }
  bool is_wrong_role(const Error& e) const noexcept override { return pg->is_wrong_role(e); }
  Result<cluster::WriteToken> write_token(reservoir::Connection& c, Deadline d) override {
    return pg->write_token(c, d);
  }
  Result<std::uint64_t> wait_for(reservoir::Connection& c, cluster::WriteToken t, Duration w, Deadline d) override {
    return pg->wait_for(c, t, w, d);
  }
};

TEST(PgRouting, AWriteRefusedByAReplicaGoesToThePrimary) {
  RESERVOIR_REQUIRE_SERVERS(ReplicaEnv, env, "pg-replica");
  create_table(env);
  Cluster c = make_cluster(routed_config(env, std::make_shared<UnseenRoles>()));
  for (int i = 0; i < 4; ++i) {
    // Not idempotent: sent on all the same, since the replica wrote nothing.
    auto written = run_int(c, Intent::write(),
                           "INSERT INTO pgha_routing (note) VALUES ('25006') RETURNING pg_catalog.pg_is_in_recovery()::int::int8",
                           false);
    ASSERT_TRUE(written) << written.error().message();
    EXPECT_EQ(*written, kOnPrimary);
  }
  const auto stats = c.stats();
  EXPECT_EQ(stats.write_reroutes, 1u) << stats.to_string();
  EXPECT_EQ(endpoint(stats, "replica").role, EndpointRole::replica);
  EXPECT_EQ(endpoint(stats, "replica").failures, 0u) << "a refused write is no fault of the replica";
  EXPECT_NE(stats.to_string().find("write_reroutes=1"), std::string::npos) << stats.to_string();
}

}  // namespace
}  // namespace reservoir::pg::test
