// tests/pgha/pgha_env.hpp — the servers the primary/replica tests run against.
//
// `scripts/servers.sh start pg-replica` writes pg-replica.env, `start patroni` patroni.env, in
// ${RESERVOIR_SERVERS_DIR:-/tmp/reservoir-servers}. Each setting is read from the environment
// first, then from that file. A missing or unreachable server fails the test (never skips it).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "reservoir/clock.hpp"
#include "reservoir/deadline.hpp"

namespace reservoir::pg::test {

inline Deadline in_ms(long ms) { return Deadline::after(SteadyClock::instance(), std::chrono::milliseconds(ms)); }

// The setting `name` from the environment, else from `<servers dir>/<file>`; empty if neither.
std::string server_setting(const std::string& file, const std::string& name);

struct ReplicaEnv {
  std::string primary_url;
  std::string replica_url;
  std::string replica_data;  // data directory (for pg_ctl stop/start)
  std::string primary_data;
  static std::optional<ReplicaEnv> load(std::string* why);
};

struct PatroniNode {
  std::string pg_url;
  std::string rest;  // http://127.0.0.1:P
  std::string data;  // data directory (postmaster.pid)
};

struct PatroniEnv {
  std::string url;  // both nodes, multi-host
  PatroniNode nodes[2];
  static std::optional<PatroniEnv> load(std::string* why);
};

// Runs `pg_ctl -D data args` as the data directory's owner (servers.sh's PostgreSQL binaries,
// RESERVOIR_PG_BIN). Returns its exit status.
int pg_ctl(const std::string& data, const std::string& args);

// The postmaster pid from `data`/postmaster.pid, or -1.
int postmaster_pid(const std::string& data);

// Polls `done` every 20 ms until it holds or `limit` passes (servers take their time).
template <class F>
bool eventually(F done, std::chrono::milliseconds limit = std::chrono::seconds(15)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace reservoir::pg::test

#define RESERVOIR_REQUIRE_SERVERS(Env, env, kind)                                                   \
  std::string env##_why;                                                                           \
  const auto env##_opt = ::reservoir::pg::test::Env::load(&env##_why);                             \
  if (!env##_opt) FAIL() << env##_why << " -- start it with: scripts/servers.sh start " kind;      \
  const ::reservoir::pg::test::Env& env = *env##_opt
