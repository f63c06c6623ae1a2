// Failover on a Patroni cluster (scripts/servers.sh start patroni: etcd + two nodes,
// synchronous_mode, ttl 10, master_start_timeout 0). A writer pool with target_role primary over
// both nodes' multi-host conninfo writes numbered rows and records every acknowledged commit;
// a reader pool (target_role any, the replica first) reads. The primary's postmaster is killed
// (SIGKILL): writes must fail fast with a clear error (each call ends by its 1 s deadline),
// reads must go on, writes must flow again once Patroni promoted the replica (same pools, no
// restart), and every acknowledged write must be on the new primary (synchronous_mode: a
// commit is acknowledged only once the synchronous standby has it). Prints Patroni's failover
// time (kill -> the replica's REST API says master) and the time from that to the first write.
// The cluster heals itself (the old primary rejoins as a replica through pg_rewind); the test
// waits for that at the start and the end, so it can run again.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pgha_env.hpp"
#include "reservoir/cluster/cluster.hpp"
#include "reservoir/cluster/run.hpp"
#include "reservoir/http/connector.hpp"
#include "reservoir/patroni/role_source.hpp"
#include "reservoir/pg/connector.hpp"
#include "reservoir/pgcluster/role_source.hpp"
#include "reservoir/run.hpp"
#include "reservoir/typed_pool.hpp"

namespace reservoir::pg::test {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;
using PgPool = TypedPool<Connector>;

double ms_between(Steady::time_point a, Steady::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// GET `path` from a Patroni REST API (any status: Patroni answers 503 for "not that role").
std::optional<boost::json::value> rest_get(const std::string& base, const std::string& path) {
  auto connector = http::Connector::create(base);
  if (!connector) return std::nullopt;
  auto conn = connector->connect(in_ms(1000));
  if (!conn) return std::nullopt;
  auto response = (*conn)->call(http::Request::get(path), in_ms(1000));
  if (!response) return std::nullopt;
  boost::system::error_code ec;
  auto json = boost::json::parse(response->body, ec);
  if (ec) return std::nullopt;
  return json;
}

// The index of the leader when the cluster has a running leader and a running synchronous
// standby (as /cluster reports it), else nullopt.
std::optional<int> healthy_leader(const PatroniEnv& env) {
  for (const PatroniNode& node : env.nodes) {
    auto cluster = rest_get(node.rest, "/cluster");
    if (!cluster || !cluster->is_object() || !cluster->as_object().contains("members")) continue;
    std::optional<int> leader;
    bool sync_standby = false;
    for (const auto& m : cluster->at("members").as_array()) {
      const auto& member = m.as_object();
      if (member.at("state").as_string() != "running") continue;
      const int index = member.at("name").as_string() == "node1" ? 0 : 1;
      if (member.at("role").as_string() == "leader") leader = index;
      if (member.at("role").as_string() == "sync_standby") sync_standby = true;
    }
    if (leader && sync_standby) return leader;
  }
  return std::nullopt;
}

std::optional<int> wait_healthy(const PatroniEnv& env, Steady::duration limit) {
  const auto until = Steady::now() + limit;
  while (Steady::now() < until) {
    if (auto leader = healthy_leader(env)) return leader;
    std::this_thread::sleep_for(200ms);
  }
  return std::nullopt;
}

bool says_primary(const PatroniNode& node) {
  auto state = rest_get(node.rest, "/patroni");
  if (!state || !state->is_object() || !state->as_object().contains("role")) return false;
  const auto& role = state->at("role").as_string();
  return role == "master" || role == "primary";  // Patroni 3.0 says master, later ones primary
}

std::string host_of(const std::string& url) {
  const auto at = url.find('@') + 1;
  return url.substr(at, url.find('/', at) - at);
}

PgPool make_pool(const std::string& url, TargetRole target, const char* name) {
  PoolConfig config;
  config.name = name;
  config.min_idle = 0;
  config.max_size = 2;
  config.acquire_timeout = 1000ms;
  config.connect_timeout = 1000ms;
  config.io_timeout = 1000ms;
  auto connector = Connector::create(url, ConnectorOptions{.target_role = target});
  if (!connector) throw std::runtime_error(connector.error().message());
  auto pool = PgPool::create(std::move(config), PoolOptions{}, std::move(connector).value());
  if (!pool) throw std::runtime_error(pool.error().message());
  return std::move(pool).value();
}

struct FailedWrite {
  std::string error;
  ErrorKind kind;
  double ms;  // how long the call took
};

// What the writer and the reader threads saw; guarded by `mu`.
struct Observed {
  std::mutex mu;
  std::vector<std::int64_t> acknowledged;
  std::vector<FailedWrite> failed;
  std::optional<Steady::time_point> kill_at, first_write_on_new_primary;
  int reads_during_outage = 0, failed_reads_during_outage = 0;
};

TEST(PatroniFailover, WritesResumeAndNoAcknowledgedWriteIsLost) {
  RESERVOIR_REQUIRE_SERVERS(PatroniEnv, env, "patroni");
  const auto leader = wait_healthy(env, 30s);
  ASSERT_TRUE(leader) << "the Patroni cluster has no running leader + synchronous standby";
  const int old_primary = *leader, next_primary = 1 - *leader;
  auto config = rest_get(env.nodes[0].rest, "/config");
  ASSERT_TRUE(config && config->as_object().contains("synchronous_mode") && config->at("synchronous_mode").as_bool());

  PgPool writer = make_pool(env.url, TargetRole::primary, "pgha-writer");
  const std::string replica_first = "postgresql://postgres@" + host_of(env.nodes[next_primary].pg_url) + "," +
                                    host_of(env.nodes[old_primary].pg_url) + "/postgres?sslmode=disable";
  PgPool reader = make_pool(replica_first, TargetRole::any, "pgha-reader");
  {
    auto setup = writer.acquire();
    ASSERT_TRUE(setup) << setup.error().message();
    ASSERT_TRUE((*setup)->script("DROP TABLE IF EXISTS pgha_failover; CREATE TABLE pgha_failover (id bigint PRIMARY KEY)",
                                 in_ms(5000)));
  }

  Observed seen;
  const std::string new_primary_host = host_of(env.nodes[next_primary].pg_url);
  const std::int64_t new_primary_port = std::stoll(new_primary_host.substr(new_primary_host.rfind(':') + 1));
  std::atomic<bool> stop{false};
  std::thread write_loop([&] {
    for (std::int64_t id = 1; !stop.load(); ++id) {
      const auto start = Steady::now();
      // The port of the server that committed it: a write in flight at the kill may still be
      // acknowledged by the old primary, so the client's clock alone cannot tell when writes
      // reached the new one.
      auto done = run(writer, [&](Connection& c, Attempt& a) {
        return c.query("INSERT INTO pgha_failover VALUES ($1) RETURNING inet_server_port()", {id}, a.deadline());
      }, {.timeout = 1s});
      const auto end = Steady::now();
      std::lock_guard lock(seen.mu);
      const bool after_kill = seen.kill_at && start > *seen.kill_at;
      if (done) {
        seen.acknowledged.push_back(id);
        const bool on_new_primary = done->get_int(0, 0).value() == new_primary_port;
        if (after_kill && on_new_primary && !seen.first_write_on_new_primary) seen.first_write_on_new_primary = end;
      } else if (after_kill) {
        seen.failed.push_back({done.error().message(), done.error().kind(), ms_between(start, end)});
      }
    }
  });
  std::thread read_loop([&] {
    while (!stop.load()) {
      auto rows = run(reader, [](Connection& c, Attempt& a) { return c.query("SELECT count(*) FROM pgha_failover", a.deadline()); },
                      {.timeout = 1s, .idempotent = true});
      std::lock_guard lock(seen.mu);
      if (seen.kill_at && !seen.first_write_on_new_primary) ++(rows ? seen.reads_during_outage : seen.failed_reads_during_outage);
      if (!rows) continue;
      std::this_thread::sleep_for(5ms);
    }
  });
  const auto acknowledged = [&] { std::lock_guard lock(seen.mu); return seen.acknowledged.size(); };
  const auto stop_all = [&] { stop = true; write_loop.join(); read_loop.join(); };

  for (auto until = Steady::now() + 10s; acknowledged() < 50 && Steady::now() < until;) std::this_thread::sleep_for(10ms);
  if (acknowledged() < 50) { stop_all(); FAIL() << "fewer than 50 writes before the failover"; }
  const std::size_t before_kill = acknowledged();

  // A session on the replica, from a connector that wants standbys: it survives the promotion
  // and must see it (in_hot_standby turns off), and the connector's check must then refuse it.
  auto standby_connector = Connector::create(env.nodes[next_primary].pg_url, ConnectorOptions{.target_role = TargetRole::standby});
  ASSERT_TRUE(standby_connector);
  auto on_replica = standby_connector->connect(in_ms(5000));
  ASSERT_TRUE(on_replica) << on_replica.error().message();
  EXPECT_EQ((*on_replica)->role(), ServerRole::standby);

  const int pid = postmaster_pid(env.nodes[old_primary].data);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  {
    std::lock_guard lock(seen.mu);
    seen.kill_at = Steady::now();
  }
  std::optional<Steady::time_point> promoted;
  for (auto until = Steady::now() + 30s; !promoted && Steady::now() < until; std::this_thread::sleep_for(20ms)) {
    if (says_primary(env.nodes[next_primary])) promoted = Steady::now();
  }
  for (auto until = Steady::now() + 20s; Steady::now() < until; std::this_thread::sleep_for(10ms)) {
    std::lock_guard lock(seen.mu);
    if (seen.first_write_on_new_primary) break;
  }
  std::this_thread::sleep_for(1s);  // writes flow on the new primary for a while
  stop_all();
  ASSERT_TRUE(promoted) << "Patroni did not promote node" << next_primary + 1 << " within 30 s";
  ASSERT_TRUE(seen.first_write_on_new_primary) << "no write reached the new primary within 20 s of the kill";

  ASSERT_TRUE((*on_replica)->query("SELECT 1", in_ms(5000)));  // the role change arrives with a statement
  EXPECT_EQ((*on_replica)->role(), ServerRole::primary);
  Status checked = standby_connector->check(**on_replica, CheckDepth::ping, in_ms(5000));
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().detail(), host_of(env.nodes[next_primary].pg_url) + ": server is a primary");
  EXPECT_TRUE((*on_replica)->is_broken());  // the pool would close it and connect again

  // Every acknowledged write is on the new primary.
  auto check = writer.acquire(in_ms(5000));
  ASSERT_TRUE(check) << check.error().message();
  EXPECT_EQ((*check)->role(), ServerRole::primary);
  EXPECT_EQ((*check)->endpoint(), host_of(env.nodes[next_primary].pg_url));
  auto rows = (*check)->query("SELECT id FROM pgha_failover", in_ms(5000));
  ASSERT_TRUE(rows) << rows.error().message();
  std::set<std::int64_t> present;
  for (std::size_t i = 0; i < rows->size(); ++i) present.insert(rows->get_int(i, 0).value());
  std::size_t lost = 0;
  for (std::int64_t id : seen.acknowledged) lost += present.count(id) == 0 ? 1 : 0;
  EXPECT_EQ(lost, 0u) << "acknowledged writes missing after the failover";

  // Writes failed fast and said why; reads went on meanwhile.
  EXPECT_FALSE(seen.failed.empty());
  std::map<std::string, int> causes;
  double slowest = 0;
  for (const FailedWrite& f : seen.failed) {
    EXPECT_TRUE(f.kind == ErrorKind::unavailable || f.kind == ErrorKind::timeout) << f.error;
    EXPECT_LT(f.ms, 2000.0) << "a write hung past its 1 s deadline: " << f.error;  // never hangs
    slowest = std::max(slowest, f.ms);
    ++causes[f.error.substr(0, 160)];
  }
  EXPECT_GT(seen.reads_during_outage, 0);

  const double patroni_ms = ms_between(*seen.kill_at, *promoted);
  const double resume_ms = ms_between(*promoted, *seen.first_write_on_new_primary);
  std::printf("[ figures ] acknowledged writes %zu (%zu before the kill), all %zu present on the new primary\n",
              seen.acknowledged.size(), before_kill, seen.acknowledged.size() - lost);
  std::printf("[ figures ] Patroni failover (SIGKILL of the primary -> node%d REST says master): %.0f ms\n",
              next_primary + 1, patroni_ms);
  std::printf("[ figures ] promotion (REST) -> first write acknowledged by the new primary: %.0f ms (kill -> it %.0f ms)\n",
              resume_ms, ms_between(*seen.kill_at, *seen.first_write_on_new_primary));
  std::printf("[ figures ] failed writes meanwhile %zu (slowest %.0f ms); reads meanwhile %d ok, %d failed\n",
              seen.failed.size(), slowest, seen.reads_during_outage, seen.failed_reads_during_outage);
  for (const auto& [cause, n] : causes) std::printf("[ figures ]   %dx %s\n", n, cause.c_str());

  // The old primary rejoins as the synchronous standby: ready for the next run.
  EXPECT_TRUE(wait_healthy(env, 40s)) << "the cluster did not heal within 40 s";
}

// Read/write routing over the two Patroni nodes (one cluster endpoint each, target_role any):
// after the primary is killed, reads go on (on the replica, then on it as the new primary),
// writes fail fast and then land on the promoted node as soon as a checkout sees its
// in_hot_standby turn off: no poll of Patroni, no restart of the client. Once Patroni has
// brought the old primary back as a replica, reads go to it again.
TEST(PatroniFailover, RoutedWritesFollowThePromotion) {
  RESERVOIR_REQUIRE_SERVERS(PatroniEnv, env, "patroni");
  const auto leader = wait_healthy(env, 30s);
  ASSERT_TRUE(leader) << "the Patroni cluster has no running leader + synchronous standby";
  const int old_primary = *leader, next_primary = 1 - *leader;
  const std::string names[2] = {"node1", "node2"};

  cluster::ClusterConfig config;
  config.name = "patroni";
  for (int i = 0; i < 2; ++i) {
    auto connector = Connector::create(env.nodes[i].pg_url);
    ASSERT_TRUE(connector) << connector.error().message();
    config.endpoints.push_back({.name = names[i], .connector = cluster::adapt<Connector>(std::move(connector).value())});
  }
  config.pool.min_idle = 0;
  config.pool.max_size = 2;
  config.pool.acquire_timeout = 1000ms;
  config.pool.connect_timeout = 500ms;
  config.breaker.open_time = 200ms;
  config.outlier.consecutive_failures = 0;
  config.outlier.failure_rate_min = 0;
  config.outlier.latency_factor = 0;
  config.routing.roles = pgcluster::role_source();
  config.routing.status_interval = 200ms;
  auto made = cluster::Cluster::create(std::move(config), {.start_maintainers = false});
  ASSERT_TRUE(made) << made.error().message();
  cluster::Cluster c = std::move(made).value();

  // The port of the server a statement ran on, and whether it is in recovery.
  const auto where = [&](const cluster::Intent& intent, const char* sql) {
    return cluster::run<Connector>(c, intent, [&](Connection& conn, Attempt& a) -> Result<std::int64_t> {
      auto rows = conn.query(sql, a.deadline());
      if (!rows) return std::move(rows).error();
      return rows->get_int(0, 0);
    }, {.timeout = 1s});
  };
  const char* kWrite = "INSERT INTO pgha_routed DEFAULT VALUES RETURNING inet_server_port()";
  const char* kRead = "SELECT inet_server_port() * 10 + pg_catalog.pg_is_in_recovery()::int";
  const auto port_of = [&](int node) {
    const std::string host = host_of(env.nodes[node].pg_url);
    return std::stoll(host.substr(host.rfind(':') + 1));
  };
  {
    auto setup = c.acquire(in_ms(5000), cluster::Intent::write());
    ASSERT_TRUE(setup) << setup.error().message();
    ASSERT_TRUE(setup->as<Connector>().script("CREATE TABLE IF NOT EXISTS pgha_routed (id bigserial PRIMARY KEY)", in_ms(5000)));
  }
  auto written = where(cluster::Intent::write(), kWrite);
  ASSERT_TRUE(written) << written.error().message();
  EXPECT_EQ(*written, port_of(old_primary));
  auto read = where(cluster::Intent::read(), kRead);
  ASSERT_TRUE(read) << read.error().message();
  EXPECT_EQ(*read, port_of(next_primary) * 10 + 1) << "read on the replica";

  const int pid = postmaster_pid(env.nodes[old_primary].data);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  const auto kill_at = Steady::now();
  std::optional<Steady::time_point> promoted;  // Patroni's own view, polled beside the calls
  std::thread rest_poll([&] {
    for (auto until = Steady::now() + 30s; Steady::now() < until; std::this_thread::sleep_for(20ms)) {
      if (says_primary(env.nodes[next_primary])) {
        promoted = Steady::now();
        return;
      }
    }
  });
  int failed_writes = 0, failed_reads = 0, reads = 0;
  double slowest_failure = 0;
  std::optional<Steady::time_point> first_write;
  for (auto until = Steady::now() + 30s; !first_write && Steady::now() < until;) {
    const auto start = Steady::now();
    auto w = where(cluster::Intent::write(), kWrite);
    if (w && *w == port_of(next_primary)) first_write = Steady::now();
    if (!w) {
      ++failed_writes;
      slowest_failure = std::max(slowest_failure, ms_between(start, Steady::now()));
    }
    auto r = where(cluster::Intent::read(), kRead);
    ++(r ? reads : failed_reads);
  }
  rest_poll.join();
  ASSERT_TRUE(promoted) << "Patroni did not promote node" << next_primary + 1 << " within 30 s";
  ASSERT_TRUE(first_write) << "no routed write reached node" << next_primary + 1 << " within 30 s: " << c.stats().to_string();
  EXPECT_EQ(failed_reads, 0) << "reads stop while the replica is promoted";
  EXPECT_LT(slowest_failure, 2000.0) << "a write hung past its 1 s deadline";
  const auto stats = c.stats();
  for (const auto& e : stats.endpoints) {
    if (e.name == names[next_primary]) {
      EXPECT_EQ(e.role, cluster::EndpointRole::primary) << stats.to_string();
      EXPECT_EQ(e.role_changes, 1u);
    }
  }
  std::printf("[ figures ] routed: kill -> node%d REST master %.0f ms -> first routed write there %.0f ms; %d writes failed "
              "meanwhile (slowest %.0f ms), %d reads ok, %d failed\n[ figures ] %s\n",
              next_primary + 1, ms_between(kill_at, *promoted), ms_between(*promoted, *first_write), failed_writes,
              slowest_failure, reads, failed_reads, stats.to_string().c_str());

  // The old primary comes back as a replica (pg_rewind): reads find it there, as a replica.
  ASSERT_TRUE(wait_healthy(env, 40s)) << "the cluster did not heal within 40 s";
  bool read_on_old = false;
  for (auto until = Steady::now() + 20s; !read_on_old && Steady::now() < until; std::this_thread::sleep_for(50ms)) {
    auto r = where(cluster::Intent::read(), kRead);
    read_on_old = r && *r == port_of(old_primary) * 10 + 1;
  }
  EXPECT_TRUE(read_on_old) << c.stats().to_string();
  auto w = where(cluster::Intent::write(), kWrite);
  ASSERT_TRUE(w) << w.error().message();
  EXPECT_EQ(*w, port_of(next_primary));
}

TEST(PatroniRoles, BadNodesAreInvalidConfig) {
  auto none = patroni::role_source({});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind(), ErrorKind::invalid_config);
  EXPECT_EQ(none.error().message(), "invalid_config: patroni.nodes=[]: allowed 1 or more nodes");
  auto twice = patroni::role_source({.nodes = {{"127.0.0.1:5432", "http://127.0.0.1:8008"},
                                               {"127.0.0.1:5432", "http://127.0.0.1:8009"}}});
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code(), "patroni.nodes[1].postgres");
  auto url = patroni::role_source({.nodes = {{"127.0.0.1:5432", "ftp://127.0.0.1:8008"}}});
  ASSERT_FALSE(url);
  EXPECT_EQ(url.error().code(), "patroni.nodes[0].rest");
}

// patroni::role_source() over both nodes, with `max_lag_bytes`.
std::shared_ptr<cluster::RoleSource> patroni_roles(const PatroniEnv& env, std::uint64_t max_lag_bytes) {
  patroni::RoleSourceOptions options{.max_lag_bytes = max_lag_bytes};
  for (const PatroniNode& node : env.nodes) options.nodes.push_back({host_of(node.pg_url), node.rest});
  auto roles = patroni::role_source(options);
  if (!roles) throw std::runtime_error(roles.error().message());
  return *roles;
}

// A cluster over both nodes routed by `roles`, every read asking Patroni; node i named name_of(i).
template <class NameOf>
cluster::Cluster patroni_cluster(const PatroniEnv& env, const std::string& name, std::shared_ptr<cluster::RoleSource> roles,
                                 NameOf name_of) {
  cluster::ClusterConfig config;
  config.name = name;
  config.policy = cluster::Policy::round_robin;
  for (int i = 0; i < 2; ++i) {
    auto connector = Connector::create(env.nodes[i].pg_url);
    if (!connector) throw std::runtime_error(connector.error().message());
    config.endpoints.push_back({.name = name_of(i), .connector = cluster::adapt<Connector>(std::move(connector).value())});
  }
  config.pool.min_idle = 0;
  config.routing.roles = std::move(roles);
  config.routing.status_interval = 1ms;  // every read asks Patroni
  auto made = cluster::Cluster::create(std::move(config), {.start_maintainers = false});
  if (!made) throw std::runtime_error(made.error().message());
  return std::move(made).value();
}

// The replica status from Patroni's REST API (GET /primary, /replica?lag=) routes writes to
// the leader and reads to the replica; a probe of each node's session says which it is.
TEST(PatroniRoles, RestApiSaysWhichNodeIsWhich) {
  RESERVOIR_REQUIRE_SERVERS(PatroniEnv, env, "patroni");
  const auto leader = wait_healthy(env, 30s);
  ASSERT_TRUE(leader) << "the Patroni cluster has no running leader + synchronous standby";
  auto roles = patroni_roles(env, 1 << 20);
  cluster::Cluster c = patroni_cluster(env, "patroni-rest", roles, [](int i) { return "node" + std::to_string(i + 1); });

  const auto port = [&](const cluster::Intent& intent) -> std::string {
    auto lease = c.acquire(in_ms(5000), intent);
    if (!lease) return lease.error().message();
    auto report = roles->probe(lease->connection(), in_ms(5000));
    if (!report) return report.error().message();
    auto rows = lease->as<Connector>().query("SELECT inet_server_port()", in_ms(5000));
    if (!rows) return rows.error().message();
    return std::string(cluster::to_string(report->role)) + " " + std::to_string(rows->get_int(0, 0).value());
  };
  const auto port_of = [&](int node) { return host_of(env.nodes[node].pg_url).substr(host_of(env.nodes[node].pg_url).rfind(':') + 1); };
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(port(cluster::Intent::write()), "primary " + port_of(*leader));
    EXPECT_EQ(port(cluster::Intent::read()), "replica " + port_of(1 - *leader));
  }
  const auto stats = c.stats();
  EXPECT_EQ(stats.read_fallbacks, 0u) << stats.to_string();
  EXPECT_NE(stats.to_string().find("node" + std::to_string(2 - *leader) + ": serving role=replica lag=0 "), std::string::npos)
      << stats.to_string();
}


// The status code of `method path` on a Patroni REST API, or -1 when it did not answer.
int rest_status(const std::string& base, const std::string& method, const std::string& path, std::string body = {}) {
  auto connector = http::Connector::create(base);
  if (!connector) return -1;
  auto conn = connector->connect(in_ms(1000));
  if (!conn) return -1;
  http::Request request{method, path, {}, std::move(body)};
  if (!request.body.empty()) request.headers.push_back({"Content-Type", "application/json"});
  auto response = (*conn)->request(request, in_ms(2000));  // any status: 503 is an answer here
  return response ? response->status : -1;
}

void sql_on(const std::string& url, const std::string& sql) {
  auto connector = Connector::create(url);
  if (!connector) throw std::runtime_error(connector.error().message());
  auto conn = connector->connect(in_ms(5000));
  if (!conn) throw std::runtime_error(conn.error().message());
  if (auto r = (*conn)->script(sql, in_ms(5000)); !r) throw std::runtime_error(r.error().message());
}

// Patroni's 503 for `GET /replica?lag=<bytes>`: Patroni 3.0 compares the leader's last
// position in the DCS with the replica's REPLAYED position (api.py do_GET), so pausing replay
// makes a replica lag. Patroni resumes a paused replay at its next HA loop (PostgreSQL 14+,
// handle_parameter_change) unless the cluster is in maintenance mode: the test pauses
// Patroni (PATCH /config {"pause": true}), pauses replay, writes ~100 kB on the leader, and
// the replica's REST API answers 503 once the leader published its position (loop_wait 1 s).
// The cluster with patroni::role_source() then sends reads to the primary (counted) until the
// replica replayed again.
TEST(PatroniRoles, AReplicaBehindTheByteBoundIsLaggingForPatroniAndServesNoRead) {
  RESERVOIR_REQUIRE_SERVERS(PatroniEnv, env, "patroni");
  const auto leader = wait_healthy(env, 30s);
  ASSERT_TRUE(leader) << "the Patroni cluster has no running leader + synchronous standby";
  const PatroniNode& primary = env.nodes[*leader];
  const PatroniNode& replica = env.nodes[1 - *leader];
  constexpr const char* kLagged = "/replica?lag=4096";
  ASSERT_EQ(rest_status(replica.rest, "GET", kLagged), 200);

  cluster::Cluster c = patroni_cluster(env, "patroni-lag", patroni_roles(env, 4096),
                                       [&](int i) { return i == *leader ? "leader" : "replica"; });
  const auto read_on = [&]() -> std::string {
    auto lease = c.acquire(in_ms(5000), cluster::Intent::read());
    return lease ? lease->endpoint() : lease.error().message();
  };
  ASSERT_EQ(read_on(), "replica");

  struct Restore {
    const PatroniNode& primary;
    const PatroniNode& replica;
    ~Restore() {
      try {
        sql_on(replica.pg_url, "SELECT pg_catalog.pg_wal_replay_resume()");
      } catch (const std::exception&) {
      }
      (void)rest_status(primary.rest, "PATCH", "/config", R"({"pause": false})");
    }
  } restore{primary, replica};
  ASSERT_EQ(rest_status(primary.rest, "PATCH", "/config", R"({"pause": true})"), 200);
  ASSERT_TRUE(eventually([&] {
    auto state = rest_get(replica.rest, "/patroni");
    return state && state->is_object() && state->as_object().contains("pause");
  })) << "Patroni did not enter maintenance mode";
  sql_on(replica.pg_url, "SELECT pg_catalog.pg_wal_replay_pause()");
  sql_on(primary.pg_url,
         "CREATE TABLE IF NOT EXISTS patroni_lag (n int); INSERT INTO patroni_lag SELECT generate_series(1, 3000)");

  EXPECT_TRUE(eventually([&] { return rest_status(replica.rest, "GET", kLagged) == 503; }))
      << "the replica's REST API never said it lags: "
      << boost::json::serialize(rest_get(replica.rest, "/patroni").value_or(nullptr));
  EXPECT_EQ(rest_status(replica.rest, "GET", "/replica"), 200) << "without a bound it is still a replica";
  EXPECT_EQ(read_on(), "leader");
  const auto lagging = c.stats();
  EXPECT_GE(lagging.read_fallbacks, 1u) << lagging.to_string();
  for (const auto& e : lagging.endpoints) {
    if (e.name == "replica") {
      EXPECT_GE(e.lag_skips, 1u) << lagging.to_string();
    }
  }

  sql_on(replica.pg_url, "SELECT pg_catalog.pg_wal_replay_resume()");
  EXPECT_TRUE(eventually([&] { return rest_status(replica.rest, "GET", kLagged) == 200; }));
  EXPECT_TRUE(eventually([&] { return read_on() == "replica"; })) << c.stats().to_string();
}

}  // namespace
}  // namespace reservoir::pg::test
