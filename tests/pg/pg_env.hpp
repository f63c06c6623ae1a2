// tests/pg/pg_env.hpp — the real PostgreSQL server the pg tests run against.
//
// The server comes from `scripts/servers.sh start postgres`. Its settings are read from the
// environment (RESERVOIR_TEST_PG_URL, _SECRET_URL, _DATA, _BIN, _USER) or, when
// RESERVOIR_TEST_PG_URL is unset, from ${RESERVOIR_SERVERS_DIR:-/tmp/reservoir-servers}/postgres.env.
// A missing or unreachable server fails the test (never skips it).
#pragma once

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "reservoir/clock.hpp"
#include "reservoir/deadline.hpp"
#include "reservoir/pg/connector.hpp"

namespace reservoir::pg::test {

struct PgEnv {
  std::string url;         // superuser, trust auth
  std::string secret_url;  // role reservoir_secret with a password
  std::string data;        // data directory
  std::string bin;         // directory of pg_ctl
  std::string os_user;     // the OS user the server runs as
  std::string tls_url;     // superuser, sslmode=verify-full with the test CA
  std::string ca;          // the test CA's certificate
  std::string wrong_ca;    // an unrelated CA's certificate

  // Loads the settings and checks the server answers; nullopt with `why` set otherwise.
  static std::optional<PgEnv> load(std::string* why);
  // The pid of the postmaster (first line of postmaster.pid), or -1.
  int postmaster_pid() const;
  // Runs `pg_ctl -D <data> <args>` as the server's OS user; returns its exit status.
  int pg_ctl(const std::string& args) const;
  // Blocks until a connection succeeds, up to `limit`. True if it did.
  bool wait_ready(std::chrono::milliseconds limit) const;
};

// `url` with `key=value` added to its query string (value percent-encoded).
std::string with_param(const std::string& url, const std::string& key, const std::string& value);

inline Deadline in_ms(long ms) { return Deadline::after(SteadyClock::instance(), std::chrono::milliseconds(ms)); }

Connector make_connector(const std::string& url, ConnectorOptions options = {});
std::unique_ptr<Connection> must_connect(Connector& connector);
// The first value of `sql`'s result as text: `NULL`, `<no rows>`, or `error: <message>`.
std::string text_of(Connection& conn, const std::string& sql);

// Freezes the server (SIGSTOP to the postmaster and its children) until destroyed; the
// destructor always sends SIGCONT, so a failing test never leaves the server frozen.
class FrozenServer {
 public:
  explicit FrozenServer(const PgEnv& env);
  ~FrozenServer();
  FrozenServer(const FrozenServer&) = delete;
  FrozenServer& operator=(const FrozenServer&) = delete;

 private:
  void signal_all(int sig) const;
  int postmaster_;
};

// Makes sure the server runs again when a test that restarts it ends, even by a failed
// assertion: starts it with pg_ctl if it does not answer.
class KeepsServerRunning {
 public:
  explicit KeepsServerRunning(const PgEnv& env) : env_(env) {}
  ~KeepsServerRunning();
  KeepsServerRunning(const KeepsServerRunning&) = delete;
  KeepsServerRunning& operator=(const KeepsServerRunning&) = delete;

 private:
  const PgEnv& env_;
};

}  // namespace reservoir::pg::test

// Declares `env` (const PgEnv&) or fails the test with instructions.
#define RESERVOIR_REQUIRE_PG(env)                                                                        \
  std::string env##_why;                                                                                \
  const auto env##_opt = ::reservoir::pg::test::PgEnv::load(&env##_why);                                \
  if (!env##_opt) FAIL() << env##_why << " -- start it with: scripts/servers.sh start postgres";         \
  const ::reservoir::pg::test::PgEnv& env = *env##_opt
