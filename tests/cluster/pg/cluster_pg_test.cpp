// A cluster over two real PostgreSQL servers: balancing spreads load over both; one stopped
// under load → no idempotent read fails (run() retries on the other), it is used again once
// it is back; credentials rotated under load (ALTER ROLE ... PASSWORD, rotate in the client,
// the old password refused) → no call fails and the old sessions are gone after the window.
// Real time: these tests wait for real I/O; every call is bounded by its deadline.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <functional>
#include <stdexcept>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster_pg_env.hpp"
#include "reservoir/cluster/run.hpp"
#include "reservoir/pg/connector.hpp"

namespace reservoir::cluster {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;
using pgtest::PgServer;

std::shared_ptr<Connector> pg_connector(const std::string& url) {
  auto c = pg::Connector::create(url);
  if (!c) throw std::runtime_error(c.error().message());
  return adapt<pg::Connector>(std::move(c).value());
}

ClusterConfig pair_config(const PgServer& a, const PgServer& b) {
  ClusterConfig c;
  c.name = "pg";
  c.policy = Policy::least_outstanding;
  c.endpoints = {{.name = "pg1", .connector = pg_connector(a.url)}, {.name = "pg2", .connector = pg_connector(b.url)}};
  c.pool.min_idle = 2;
  c.pool.max_size = 4;
  c.pool.acquire_timeout = 2000ms;
  c.pool.connect_timeout = 1000ms;
  c.pool.io_timeout = 500ms;
  c.breaker.consecutive_failures = 3;
  c.breaker.open_time = 300ms;
  c.outlier.consecutive_failures = 3;
  c.outlier.base_ejection_time = 500ms;
  c.outlier.max_ejection_time = 2s;
  c.outlier.interval = 1s;
  c.outlier.latency_factor = 0;  // a loaded 2-core VM makes latency noisy; tested on fakes
  // These tests run for about a second: a slow first sample (a new connection's first
  // statement is parsed) must decay within it, or P2C between two endpoints keeps to one.
  c.outlier.latency_decay = 200ms;
  return c;
}

struct Call {
  Steady::time_point start;
  bool ok = false;
  int port = 0;
  std::string error;
};

// `threads` callers running `op` through run() until stopped; every call recorded.
class Load {
 public:
  using Op = std::function<Result<int>(pg::Connection&, Attempt&)>;
  Load(Cluster& cluster, Op op, RunOptions options) : cluster_(cluster), op_(std::move(op)), options_(std::move(options)) {}
  ~Load() { stop(); }

  void start(int threads) {
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this] {
        while (!stop_.load()) {
          Call call{Steady::now()};
          auto r = cluster::run<pg::Connector>(cluster_, op_, options_);
          call.ok = r.ok();
          if (r) call.port = *r;
          else call.error = r.error().message();
          std::lock_guard g(mu_);
          calls_.push_back(std::move(call));
        }
      });
    }
  }
  void stop() {
    stop_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  std::vector<Call> calls() const {
    std::lock_guard g(mu_);
    return calls_;
  }
  // Calls that started after `t` and ran on `port`.
  int on_port_after(int port, Steady::time_point t) const {
    int n = 0;
    for (const auto& c : calls()) n += c.ok && c.port == port && c.start > t;
    return n;
  }

 private:
  Cluster& cluster_;
  Op op_;
  RunOptions options_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  mutable std::mutex mu_;
  std::vector<Call> calls_;
};

Result<int> server_port(pg::Connection& conn, Attempt& a) {
  auto rows = conn.query("SELECT inet_server_port()", a.deadline());
  if (!rows) return std::move(rows).error();
  auto port = rows->get_int(0, 0);
  if (!port) return std::move(port).error();
  return static_cast<int>(*port);
}

RunOptions read_options() {
  RunOptions o;
  o.timeout = 3s;
  o.retry.max_attempts = 4;
  o.idempotent = true;
  return o;
}

void expect_no_failures(const std::vector<Call>& calls) {
  int failed = 0;
  for (const auto& c : calls) {
    if (c.ok) continue;
    if (++failed <= 5) ADD_FAILURE() << "call failed: " << c.error;
  }
  EXPECT_EQ(failed, 0) << "of " << calls.size() << " calls";
}

bool wait_until(std::chrono::milliseconds limit, const std::function<bool()>& done) {
  const auto until = Steady::now() + limit;
  while (Steady::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

TEST(ClusterPg, BalancingSpreadsLoadOverBothServers) {
  RESERVOIR_REQUIRE_PG_PAIR(a, b);
  auto cluster = Cluster::create(pair_config(a, b));
  ASSERT_TRUE(cluster) << cluster.error().message();
  Load load(*cluster, server_port, read_options());
  load.start(4);
  std::this_thread::sleep_for(1s);
  load.stop();
  std::map<int, int> by_port;
  const auto calls = load.calls();
  for (const auto& c : calls) by_port[c.port] += c.ok;
  expect_no_failures(calls);
  const int total = by_port[a.port()] + by_port[b.port()];
  std::printf("[ figures  ] 4 callers, 1 s: %d calls on %d, %d on %d\n", by_port[a.port()], a.port(),
              by_port[b.port()], b.port());
  ASSERT_GT(total, 20);
  EXPECT_GE(by_port[a.port()] * 100 / total, 15) << cluster->stats().to_string();
  EXPECT_GE(by_port[b.port()] * 100 / total, 15) << cluster->stats().to_string();
}

TEST(ClusterPg, OneServerStoppedUnderLoadFailsNoIdempotentReadAndIsUsedAgainWhenBack) {
  RESERVOIR_REQUIRE_PG_PAIR(a, b);
  pgtest::KeepsRunning keep(b);
  auto cluster = Cluster::create(pair_config(a, b));
  ASSERT_TRUE(cluster) << cluster.error().message();
  Load load(*cluster, server_port, read_options());
  load.start(4);
  std::this_thread::sleep_for(500ms);
  ASSERT_GT(load.on_port_after(b.port(), Steady::time_point{}), 0) << "both serve before the stop";

  const auto stopped = Steady::now();
  ASSERT_EQ(b.pg_ctl("stop -m fast -w -t 30"), 0);
  const auto stop_done = Steady::now();
  std::this_thread::sleep_for(1500ms);
  EXPECT_GT(load.on_port_after(a.port(), stop_done), 0);
  EXPECT_EQ(load.on_port_after(b.port(), stop_done), 0) << "a stopped server answered";

  ASSERT_EQ(b.pg_ctl("start -w -t 30 -l '" + b.data + "/../server.log'"), 0);
  const auto restarted = Steady::now();
  // Back after the breaker's open time and the ejection (at most 2 s): used again.
  const bool used_again = wait_until(10s, [&] { return load.on_port_after(b.port(), restarted) > 0; });
  load.stop();
  EXPECT_TRUE(used_again) << cluster->stats().to_string();
  const auto calls = load.calls();
  expect_no_failures(calls);
  int first_back_ms = -1;
  for (const auto& c : calls) {
    if (c.ok && c.port == b.port() && c.start > restarted) {
      const int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(c.start - restarted).count());
      if (first_back_ms < 0 || ms < first_back_ms) first_back_ms = ms;
    }
  }
  std::printf("[ figures  ] %zu calls, 0 failed; stop took %lld ms; first call on the restarted server %d ms after "
              "it answered; %s\n",
              calls.size(),
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(stop_done - stopped).count()),
              first_back_ms, cluster->stats().to_string().c_str());
}

// `url` with the password of its user replaced.
std::string with_password(const std::string& url, const std::string& password) {
  const auto scheme = url.find("://") + 3;
  const auto colon = url.find(':', scheme);
  const auto at = url.find('@', scheme);
  return url.substr(0, colon + 1) + password + url.substr(at);
}

std::string password_of(const std::string& url) {
  const auto scheme = url.find("://") + 3;
  const auto colon = url.find(':', scheme);
  return url.substr(colon + 1, url.find('@', scheme) - colon - 1);
}

// Puts the role's original password back, whatever happens in the test.
struct RestorePassword {
  const PgServer& server;
  std::string password;
  ~RestorePassword() {
    try {
      server.exec("ALTER ROLE reservoir_secret PASSWORD '" + password + "'");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "could not restore the password: " << e.what();
    }
  }
};

std::set<int> secret_sessions(const PgServer& s) {
  auto c = pg::Connector::create(s.url);
  auto conn = c->connect(Deadline::after(SteadyClock::instance(), 5s));
  if (!conn) throw std::runtime_error(conn.error().message());
  auto rows = conn.value()->query("SELECT pid FROM pg_stat_activity WHERE usename = 'reservoir_secret'",
                                  Deadline::after(SteadyClock::instance(), 5s));
  if (!rows) throw std::runtime_error(rows.error().message());
  std::set<int> pids;
  for (std::size_t i = 0; i < rows->size(); ++i) pids.insert(static_cast<int>(*rows->get_int(i, 0)));
  c->close(std::move(conn).value(), Deadline::after(SteadyClock::instance(), 1s));
  return pids;
}

TEST(ClusterPg, CredentialRotationUnderLoadFailsNoCall) {
  RESERVOIR_REQUIRE_PG_PAIR(a, b);
  (void)a;
  ASSERT_FALSE(b.secret_url.empty());
  const std::string old_password = password_of(b.secret_url);
  const std::string new_password = "rotated-" + std::to_string(::getpid());
  RestorePassword restore{b, old_password};

  ClusterConfig c = pair_config(a, b);
  c.endpoints = {{.name = "pg2", .connector = pg_connector(b.secret_url)}};
  c.pool.min_idle = 4;  // no connect is needed between the ALTER ROLE and the rotation
  c.pool.max_size = 4;
  c.pool.init_mode = InitMode::wait;
  auto cluster = Cluster::create(c);
  ASSERT_TRUE(cluster) << cluster.error().message();
  auto as_user = [](pg::Connection& conn, Attempt& a) -> Result<int> {
    auto rows = conn.query("SELECT current_user = 'reservoir_secret'", a.deadline());
    if (!rows) return std::move(rows).error();
    return rows->get_text(0, 0).ok() && *rows->get_text(0, 0) == "t" ? 1 : 0;
  };
  Load load(*cluster, as_user, read_options());
  load.start(3);
  std::this_thread::sleep_for(300ms);
  const std::set<int> old_sessions = secret_sessions(b);
  ASSERT_FALSE(old_sessions.empty());

  b.exec("ALTER ROLE reservoir_secret PASSWORD '" + new_password + "'");
  ASSERT_TRUE(cluster->rotate_credentials("pg2", pg_connector(with_password(b.secret_url, new_password)), 1s).ok());
  // The old password is refused from now on.
  auto old_login = pg::Connector::create(b.secret_url);
  auto refused = old_login->connect(Deadline::after(SteadyClock::instance(), 3s));
  EXPECT_FALSE(refused.ok()) << "the old password still logs in";

  // Within the window (+ a margin for returns and the maintainer) every old session is gone.
  const bool retired = wait_until(5s, [&] {
    for (int pid : secret_sessions(b)) {
      if (old_sessions.count(pid) != 0) return false;
    }
    return true;
  });
  load.stop();
  EXPECT_TRUE(retired) << "sessions opened with the old password are still open";
  const auto calls = load.calls();
  expect_no_failures(calls);
  for (const auto& call : calls) EXPECT_TRUE(!call.ok || call.port == 1) << "ran as another user";
  EXPECT_EQ(cluster->stats().endpoints.at(0).credential_rotations, 1u);
  std::printf("[ figures  ] %zu calls during the rotation, 0 failed; %zu old sessions retired within the 1 s window\n",
              calls.size(), old_sessions.size());
}

}  // namespace
}  // namespace reservoir::cluster
