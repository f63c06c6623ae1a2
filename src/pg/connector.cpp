#include "reservoir/pg/connector.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <vector>

#include "reservoir/pg/errors.hpp"
#include "shared.hpp"
#include "wait.hpp"

namespace reservoir::pg {

namespace {

std::string first_of_list(std::string_view list) { return std::string(list.substr(0, list.find(','))); }

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

// Fills the endpoint and identity fields from parsed conninfo options.
void describe(detail::Shared& s) {
  std::string host, hostaddr, port;
  for (std::size_t i = 0; i < s.keys.size(); ++i) {
    const std::string& k = s.keys[i];
    if (k == "host") host = first_of_list(s.values[i]);
    else if (k == "hostaddr") hostaddr = first_of_list(s.values[i]);
    else if (k == "port") port = first_of_list(s.values[i]);
    else if (k == "user") s.user = s.values[i];
    else if (k == "dbname") s.dbname = s.values[i];
    else if (k == "password") s.password = s.values[i];
  }
  if (host.empty()) host = !hostaddr.empty() ? hostaddr : env_or("PGHOST", "localhost");
  if (port.empty()) port = env_or("PGPORT", "5432");
  s.endpoint = host + ":" + port;
}

// libpq reports connect failures as text only; the few SQLSTATEs a caller needs to tell apart
// are recovered from the server's (lc_messages=C) wording.
std::string connect_sqlstate(std::string_view message) {
  if (message.find("too many clients") != std::string_view::npos ||
      message.find("remaining connection slots are reserved") != std::string_view::npos) {
    return "53300";
  }
  if (message.find("the database system is") != std::string_view::npos) return "57P03";
  if (message.find("authentication failed") != std::string_view::npos) return "28P01";
  if (message.find("does not exist") != std::string_view::npos) return "3D000";
  return {};
}

Error connect_error(const detail::Shared& s, const std::string& endpoint, PGconn* conn) {
  std::string cause = detail::libpq_message(s, PQerrorMessage(conn));
  const std::string state = connect_sqlstate(cause);
  if (state == "53300") cause = "server at max_connections: " + cause;
  if (!state.empty()) cause.append(" (SQLSTATE ").append(state).append(")");
  Error e = Error::unavailable(endpoint, cause);
  // Bad credentials or a missing database are caller mistakes: retrying cannot help.
  const bool retryable = state != "28P01" && state != "3D000";
  return Error(e.kind(), e.detail(), retryable, state);
}

// libpq's parse errors quote what they choke on: a password with a bad %-escape, the whole
// URI, the second word of an unquoted password. Keep the words, drop everything from the first
// quote that is not one of the literal `"="` or `"]"` of libpq's own templates: a quoted value
// may itself contain quotes, so nothing after it can be trusted.
std::string without_quoted_values(std::string_view why) {
  std::string out;
  for (std::size_t i = 0; i < why.size(); ++i) {
    if (why[i] != '"') {
      out += why[i];
      continue;
    }
    const std::string_view literal = why.substr(i, 3);
    if (literal == "\"=\"" || literal == "\"]\"") {
      out += literal;
      i += 2;
      continue;
    }
    out += "\"...\" (quoted text not shown)";
    break;
  }
  return out;
}

std::vector<std::string> split_list(std::string_view list) {
  std::vector<std::string> out;
  for (std::size_t from = 0;;) {
    const std::size_t comma = list.find(',', from);
    out.emplace_back(list.substr(from, comma == std::string_view::npos ? std::string_view::npos : comma - from));
    if (comma == std::string_view::npos) return out;
    from = comma + 1;
  }
}

// The hosts of a multi-host conninfo, each with its own host/hostaddr/port values (libpq's
// rules: host and hostaddr lists of equal length, one port for all or one per host).
Status split_hosts(detail::Shared& s) {
  std::optional<std::size_t> host_at, addr_at, port_at;
  for (std::size_t i = 0; i < s.keys.size(); ++i) {
    if (s.keys[i] == "host") host_at = i;
    else if (s.keys[i] == "hostaddr") addr_at = i;
    else if (s.keys[i] == "port") port_at = i;
  }
  const auto list = [&](std::optional<std::size_t> at) {
    return at ? split_list(s.values[*at]) : std::vector<std::string>{};
  };
  const std::vector<std::string> hosts = list(host_at), addrs = list(addr_at), ports = list(port_at);
  const std::size_t n = std::max(hosts.size(), addrs.size());
  if (n <= 1) return {};
  if (!hosts.empty() && !addrs.empty() && hosts.size() != addrs.size()) {
    return Error::invalid_config("hostaddr", std::to_string(addrs.size()) + " entries",
                                 "as many entries as host (" + std::to_string(hosts.size()) + ")");
  }
  if (ports.size() > 1 && ports.size() != n) {
    return Error::invalid_config("port", s.values[*port_at], "one port, or one per host (" + std::to_string(n) + ")");
  }
  for (std::size_t k = 0; k < n; ++k) {
    detail::Host h;
    std::string port = ports.empty() ? std::string() : ports[ports.size() == 1 ? 0 : k];
    if (host_at) h.overrides.emplace_back(*host_at, hosts[k]);
    if (addr_at) h.overrides.emplace_back(*addr_at, addrs[k]);
    if (port_at) h.overrides.emplace_back(*port_at, port);
    const std::string name = !hosts.empty() && !hosts[k].empty() ? hosts[k] : !addrs.empty() ? addrs[k] : "localhost";
    h.endpoint = name + ":" + (port.empty() ? env_or("PGPORT", "5432") : port);
    s.hosts.push_back(std::move(h));
  }
  return {};
}

Status check_target_role(const detail::Shared& s) {
  if (s.options.target_role == TargetRole::any) return {};
  for (std::size_t i = 0; i < s.keys.size(); ++i) {
    if (s.keys[i] == "target_session_attrs" && s.values[i] != "any") {
      return Error::invalid_config("target_session_attrs", s.values[i],
                                   "any or unset when ConnectorOptions::target_role is set (it does the same)");
    }
  }
  return {};
}

Error wrong_role(const std::string& endpoint, ServerRole role) {
  return Error::unavailable(endpoint, role == ServerRole::standby ? "server is a standby" : "server is a primary");
}

Result<ServerRole> ask_role(Connection& conn, Deadline deadline) {
  auto rows = conn.query("SELECT pg_catalog.pg_is_in_recovery()::text", deadline);
  if (!rows) return std::move(rows).error();
  auto text = rows->get_text(0, 0);
  if (!text) return std::move(text).error();
  return *text == "true" ? ServerRole::standby : ServerRole::primary;
}

}  // namespace

Result<Connector> Connector::create(std::string_view conninfo, ConnectorOptions options) {
  char* err = nullptr;
  const std::string text(conninfo);
  PQconninfoOption* opts = PQconninfoParse(text.c_str(), &err);
  if (opts == nullptr) {
    std::string why = err != nullptr ? err : "out of memory";
    PQfreemem(err);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    return Error::invalid_config("conninfo", "(not shown: it may hold a password)", without_quoted_values(why));
  }
  auto shared = std::make_shared<detail::Shared>();
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    shared->keys.emplace_back(o->keyword);
    shared->values.emplace_back(o->val);
  }
  PQconninfoFree(opts);
  if (options.max_pending_cancels < 0) {
    return Error::invalid_config("max_pending_cancels", std::to_string(options.max_pending_cancels), ">= 0");
  }
  if (Status st = options.validate(); !st) return std::move(st).error();
  shared->options = std::move(options);
  describe(*shared);
  if (Status st = split_hosts(*shared); !st) return std::move(st).error();
  if (Status st = check_target_role(*shared); !st) return std::move(st).error();
  return Connector(std::move(shared));
}

Result<std::unique_ptr<Connection>> Connector::connect(Deadline deadline) {
  const detail::Shared& s = *shared_;
  if (s.hosts.empty()) return connect_to(nullptr, deadline);
  // Every host in order; what each one said goes into the error when none will do.
  std::string causes;
  bool retryable = false;
  for (const detail::Host& host : s.hosts) {
    auto conn = connect_to(&host, deadline);
    if (conn) return conn;
    retryable = retryable || conn.error().retryable();
    causes.append(causes.empty() ? "" : "; ").append(conn.error().detail());
    if (deadline.expired()) return Error::timeout("no connection before the deadline: " + causes);
  }
  std::string what = "no ";
  what.append(s.options.target_role == TargetRole::any ? "server" : pg::to_string(s.options.target_role)).append(" among ");
  for (std::size_t i = 0; i < s.hosts.size(); ++i) what.append(i == 0 ? "" : ", ").append(s.hosts[i].endpoint);
  return Error(ErrorKind::unavailable, what + ": " + causes, retryable);
}

Result<std::unique_ptr<Connection>> Connector::connect_to(const detail::Host* host, Deadline deadline) {
  const detail::Shared& s = *shared_;
  const std::string& endpoint = host != nullptr ? host->endpoint : s.endpoint;
  if (deadline.expired()) return Error::timeout(endpoint + ": deadline passed before connecting");
  std::vector<const char*> keys, values;
  for (std::size_t i = 0; i < s.keys.size(); ++i) {
    keys.push_back(s.keys[i].c_str());
    values.push_back(s.values[i].c_str());
  }
  if (host != nullptr) {
    for (const auto& [at, value] : host->overrides) values[at] = value.c_str();
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectStartParams(keys.data(), values.data(), 0);
  if (conn == nullptr) return Error::unavailable(s.endpoint, "out of memory");
  // Per libpq's contract the first PQconnectPoll call behaves as if it had said WRITING.
  PostgresPollingStatusType st = PQstatus(conn) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PGRES_POLLING_WRITING;
  while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
    const Wait w = wait_socket(PQsocket(conn), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
    if (w == Wait::timeout) {
      PQfinish(conn);
      return Error::timeout(endpoint + ": connect did not complete before the deadline");
    }
    st = PQconnectPoll(conn);
  }
  if (st == PGRES_POLLING_FAILED || PQsetnonblocking(conn, 1) != 0) {
    Error e = connect_error(s, endpoint, conn);
    PQfinish(conn);
    return e;
  }
  auto connection = std::make_unique<Connection>(conn, shared_, endpoint);
  if (PQparameterStatus(conn, "in_hot_standby") == nullptr) {  // servers before 14 do not report it
    auto role = ask_role(*connection, deadline);
    if (!role) return std::move(role).error();
    connection->role_at_connect_ = *role;
    connection->used_ = false;  // the role query left nothing to reset
  }
  if (!accepts(s.options.target_role, connection->role())) return wrong_role(endpoint, connection->role());
  return connection;
}

Status Connector::check(Connection& conn, CheckDepth depth, Deadline deadline) {
  if (Status s = conn.peek_idle(); !s) return s;
  Status checked;
  switch (depth) {
    case CheckDepth::fast: break;
    case CheckDepth::ping: checked = conn.run_simple("", deadline); break;
    case CheckDepth::deep: checked = conn.run_simple(shared_->options.deep_check_sql, deadline); break;
  }
  if (!checked) return checked;
  // A promotion reaches a live session as in_hot_standby = off (read by the peek or the ping):
  // a connection that no longer has the wanted role is replaced.
  if (!accepts(shared_->options.target_role, conn.role())) {
    conn.mark_broken();
    return wrong_role(conn.endpoint(), conn.role());
  }
  return {};
}

Status Connector::reset(Connection& conn, Deadline deadline) {
  (void)deadline;  // only sends: see connection.hpp (the results are read by the next use)
  // No socket peek here (a syscall on every return): a server-side close is found by the
  // checkout check or, inside its bypass window, by the next query as a retryable error.
  if (conn.is_broken()) return Error::unavailable(shared_->endpoint, "connection is broken");
  if (Status s = conn.restore_client_state(); !s) return s;
  while (PGnotify* note = PQnotifies(conn.conn_)) PQfreemem(note);  // this lease's, already read
  const bool rollback = conn.in_transaction();
  const bool discard = !shared_->options.reset_sql.empty() && needs_discard(conn);
  conn.used_ = false;
  conn.state_seen_ = false;
  if (!rollback && !discard) return {};
  return conn.start_reset(rollback, discard ? shared_->options.reset_sql : std::string());
}

// A lease that ran no statement that can leave state (checks, transaction control and SHOW do
// not count) left the session as it found it; see connector.hpp for the modes.
bool Connector::needs_discard(const Connection& conn) const noexcept {
  switch (shared_->options.reset) {
    case ResetMode::full: return conn.used_;
    case ResetMode::tracked: return conn.state_seen_ || (conn.used_ && conn.reported_changed());
    case ResetMode::rollback: return false;
  }
  return true;
}

void Connector::close(std::unique_ptr<Connection> conn, Deadline deadline) noexcept {
  (void)deadline;  // PQfinish on a non-blocking socket only queues a Terminate message
  conn.reset();
}

bool Connector::is_retryable(const Error& error) const noexcept { return error.retryable(); }

std::string Connector::endpoint() const { return shared_->endpoint; }

std::string Connector::to_string() const {
  std::string out = "postgresql://";
  if (!shared_->user.empty()) out += shared_->user + "@";
  out += shared_->endpoint;
  if (!shared_->dbname.empty()) out += "/" + shared_->dbname;
  return out;
}

const ConnectorOptions& Connector::options() const noexcept { return shared_->options; }

StatementCacheStats Connector::statement_cache_stats() const noexcept {
  const detail::Shared& s = *shared_;
  return {s.cache_hits.load(std::memory_order_relaxed), s.cache_misses.load(std::memory_order_relaxed),
          s.cache_evictions.load(std::memory_order_relaxed), s.cache_reprepares.load(std::memory_order_relaxed)};
}

std::vector<BackendCounter> Connector::backend_counters() const {
  const StatementCacheStats s = statement_cache_stats();
  return {{"statement_cache_hits", "statements run from the prepared-statement cache", s.hits},
          {"statement_cache_misses", "statements prepared first (not in the cache)", s.misses},
          {"statement_cache_evictions", "least recently used statements closed to make room", s.evictions},
          {"statement_cache_reprepares", "cached statements invalidated by the server and prepared again", s.reprepares}};
}

}  // namespace reservoir::pg
