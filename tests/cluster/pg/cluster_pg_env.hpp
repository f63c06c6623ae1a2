// tests/cluster/pg/cluster_pg_env.hpp — the two PostgreSQL servers the cluster tests balance
// over: `scripts/servers.sh start postgres postgres2`. Settings from the environment
// (RESERVOIR_TEST_PG_* and RESERVOIR_TEST_PG2_*) or from postgres.env / postgres2.env in
// ${RESERVOIR_SERVERS_DIR:-/tmp/reservoir-servers}. A missing server fails the test.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

namespace reservoir::cluster::pgtest {

struct PgServer {
  std::string url;         // superuser, trust
  std::string secret_url;  // role reservoir_secret, scram-sha-256 password
  std::string data, bin, os_user;

  // Loads the server whose env names start with `prefix` (RESERVOIR_TEST_PG or _PG2) from
  // `file` (postgres.env); nullopt with `why` when it is missing or does not answer.
  static std::optional<PgServer> load(const std::string& prefix, const std::string& file, std::string* why);
  int pg_ctl(const std::string& args) const;
  bool answers(std::chrono::milliseconds limit) const;
  int port() const;  // from url
  // Runs one statement as the superuser; throws on failure.
  void exec(const std::string& sql) const;
};

// Starts the server again (if a test stopped it) when destroyed, even after a failed assertion.
class KeepsRunning {
 public:
  explicit KeepsRunning(const PgServer& s) : s_(s) {}
  ~KeepsRunning();
  KeepsRunning(const KeepsRunning&) = delete;
  KeepsRunning& operator=(const KeepsRunning&) = delete;

 private:
  const PgServer& s_;
};

}  // namespace reservoir::cluster::pgtest

#define RESERVOIR_REQUIRE_PG_PAIR(a, b)                                                                          \
  std::string a##_why, b##_why;                                                                                  \
  const auto a##_opt = ::reservoir::cluster::pgtest::PgServer::load("RESERVOIR_TEST_PG", "postgres.env", &a##_why); \
  const auto b##_opt = ::reservoir::cluster::pgtest::PgServer::load("RESERVOIR_TEST_PG2", "postgres2.env", &b##_why); \
  if (!a##_opt) FAIL() << a##_why << " -- start it with: scripts/servers.sh start postgres";                    \
  if (!b##_opt) FAIL() << b##_why << " -- start it with: scripts/servers.sh start postgres2";                   \
  const ::reservoir::cluster::pgtest::PgServer& a = *a##_opt;                                                    \
  const ::reservoir::cluster::pgtest::PgServer& b = *b##_opt
