// reservoir/pg/connector.hpp — pg::Connector: the PoolConnector for PostgreSQL over libpq.
//
//   auto connector = pg::Connector::create("postgresql://app:pw@127.0.0.1:5432/app");
//   auto pool = TypedPool<pg::Connector>::create(config, {}, std::move(connector).value());
//   auto lease = pool->acquire();
//   auto rows = lease.value()->query("SELECT $1::int + 1", {41}, deadline);
//
// Connects with millisecond deadlines (PQconnectStartParams + PQconnectPoll + poll; libpq's
// own connect_timeout counts whole seconds). The password is kept for libpq only: it never
// appears in errors, endpoint() or to_string().
//
// The reset (see connection.hpp for how it is pipelined): at release, ROLLBACK if a
// transaction is open, then reset_sql (DISCARD ALL), sent without waiting; the next use sends
// `SET seed = <fresh random value>` and its statement right behind them and waits one round
// trip. libpq's own per-session state is cleared too: queued notifications (a NOTIFY for the
// previous borrower's LISTEN that libpq already read), and the client-side settings a borrower
// can change through native_handle().
// The reseed: DISCARD ALL does not reseed random(), so a borrower's setseed(0.5) would let the
// next one continue a known sequence. The reset reseeds with a fresh value from a
// per-connection generator, only when the lease ran a statement (as the rest of the reset), at
// the price of one more statement in the next borrower's first transaction. It is the `seed`
// setting, not `SELECT setseed()`: a utility statement, neither analyzed nor planned, it cost
// the server ~3 us per lease on the bench box against ~12 for the SELECT (bench/pg/README.md).
// It is as sound: the setting calls setseed() when it is SET, once; when the borrower's
// transaction aborts, PostgreSQL restores the setting's previous value without reseeding again
// (its assign hook reseeds at most once per value set), so the generator keeps the fresh seed
// (tested: a failed first statement, then random()). In a segment of its own, or committed at
// release (BEGIN; SET seed; COMMIT), it costs a transaction per lease, as much as the SELECT.
// reseed_random = false turns it off. With reset_sql = "" (rollback only) it does not run:
// that mode resets nothing but the transaction, by the caller's choice.
//
// When the reset may be skipped (ConnectorOptions::reset; src/pg/session_effect.hpp has the
// list of command tags and the text checks):
// * full (the default) skips DISCARD ALL only where the lease provably left no session state:
//   it ran no statement, or only BEGIN / START TRANSACTION / COMMIT / ROLLBACK / SAVEPOINT /
//   RELEASE / SHOW (by their command tags, PQcmdStatus; none of them runs borrower code: a
//   COMMIT's deferred triggers come from the lease's own DML, which already counts); a
//   transaction left open (PQtransactionStatus) is still rolled back. Nothing else is provable
//   from the client (so a one-statement SELECT lease pays DISCARD ALL as before): a
//   SELECT can call set_config(), pg_advisory_lock(), nextval() (currval, lastval), dblink_connect(),
//   or any function that runs SET, PREPARE, LISTEN or CREATE TEMP TABLE through EXECUTE; an
//   INSERT, UPDATE or DELETE can do the same through triggers and column defaults (a serial
//   column's nextval() sets currval); a function's SET ROLE or work_mem leaves no
//   ParameterStatus (only the few GUC_REPORT settings are reported). So every other statement
//   counts as leaving state.
// * tracked (opt-in; pgjdbc + HikariCP's model, which resets only what its API saw) resets what
//   the lease showed: ROLLBACK when a transaction is open or failed; DISCARD ALL (and the
//   reseed) when any statement's command tag is outside SELECT (with rows) / INSERT / UPDATE /
//   DELETE / MERGE / FETCH / MOVE and the transaction-control set above (so SET, RESET, PREPARE,
//   DECLARE, LISTEN, CREATE (TEMP) TABLE, SELECT INTO / CREATE TABLE AS (a SELECT tag without
//   rows), DO, CALL, DISCARD, ... reset), when a statement failed (its tag is unknown), after
//   script() or native_handle(), when a reported setting (application_name, TimeZone, DateStyle,
//   IntervalStyle, client_encoding, standard_conforming_strings, is_superuser,
//   session_authorization, default_transaction_read_only) differs from its value at connect, or
//   when a statement's text names set_config, setseed, an advisory lock, nextval, setval or
//   dblink. Otherwise no statement at all: the statement cache survives the lease, as with the
//   rollback-only reset. NOT covered: state a function or trigger changes out of sight (a
//   `SELECT my_fn()` whose body runs set_config('work_mem', ...), pg_advisory_lock(), SET ROLE,
//   LISTEN, CREATE TEMP TABLE, PREPARE via EXECUTE; a serial column's currval/lastval after an
//   INSERT; setseed() inside a function): the next borrower sees it. Tested both ways
//   (tests/pg/tracked_reset_test.cpp). Use it where borrowers run plain SQL through this API.
// * rollback: only the ROLLBACK (the same as reset_sql = "").
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "reservoir/connector.hpp"
#include "reservoir/pg/connection.hpp"

namespace reservoir::pg {

namespace detail {
struct Host;
}

// Which leases the reset statement (reset_sql) follows; see the top of this file.
enum class ResetMode : unsigned char {
  full,     // every lease that ran a statement other than transaction control or SHOW
  tracked,  // only leases whose command tags, reported settings or text show session state
  rollback  // none: only the ROLLBACK of an open transaction (the same as reset_sql = "")
};
std::string_view to_string(ResetMode mode) noexcept;

struct ConnectorOptions {
  // Which leases are reset with reset_sql (full: all that ran a statement that can leave
  // state). Env: <prefix>RESET = full | tracked | rollback.
  ResetMode reset = ResetMode::full;
  // Run on every return that follows a statement, after rolling back an open transaction.
  // DISCARD ALL drops SET values, SET ROLE/SESSION AUTHORIZATION, temp tables, prepared
  // statements, cursors, LISTEN, session advisory locks and sequences' currval. One statement
  // (it is sent with the extended protocol). Empty: only the rollback (for callers that never
  // change session state; it saves the server the reset's work).
  std::string reset_sql = "DISCARD ALL";
  // Reseed random() after a lease that ran a statement (DISCARD ALL does not), so no
  // borrower continues another's setseed() sequence. It is one more statement per lease
  // (`SET seed`): measured ~3 us of server CPU per lease on the 2-core bench box
  // (bench/pg/README.md).
  // Turn it off only where no borrower calls setseed() or relies on random() being unseeded.
  bool reseed_random = true;
  // Server-side prepared statements kept per connection, keyed by SQL text, least recently
  // used out first (pgx keeps 512, pgjdbc 256 after 5 uses). 0 turns the cache off (every
  // statement is parsed and planned as an unnamed one). See connection.hpp.
  std::size_t statement_cache_size = 256;
  // Statement run by check(CheckDepth::deep); it must succeed.
  std::string deep_check_sql = "SELECT 1";
  // Send a server-side cancel when a query's deadline passes (the query may still be
  // running on the server otherwise).
  bool cancel_on_timeout = true;
  // At most this many cancel requests in flight per connector; further timeouts only close
  // their connection (the server then ends the query when it next writes to the socket).
  int max_pending_cancels = 4;
  // Which server a connection must reach (role.hpp), like libpq's target_session_attrs (which
  // must then be unset or `any` in the conninfo). The hosts of a multi-host conninfo
  // (`postgresql://h1:p1,h2:p2/db`) are tried in order; one of the wrong role is closed and
  // the next tried; none left: `unavailable: <host:port>: server is a standby` (one host), or
  // `unavailable: no primary among h1:p1, h2:p2: <each host's cause>`. A pooled connection
  // whose server changed role (a promotion, seen through in_hot_standby) fails its checks with
  // the same error and is replaced; a write on a standby fails with is_standby_write() (25006)
  // and, for target_role primary, is retryable and closes the connection.
  TargetRole target_role = TargetRole::any;

  // OK, or an `invalid_config` error naming the field, the value and what is allowed
  // (`reset=7: allowed full, tracked, rollback`; `reset_sql="": allowed a statement when
  // reset is tracked`). Connector::create() runs it.
  Status validate() const;
  // `base` overlaid with `<prefix>RESET` (full | tracked | rollback); a value that does not
  // parse is `invalid_config: RESERVOIR_PG_RESET="sometimes": allowed full, tracked, rollback`.
  static Result<ConnectorOptions> from_env(std::string_view prefix, ConnectorOptions base);
  static Result<ConnectorOptions> from_env(std::string_view prefix = "RESERVOIR_PG_");
};

class Connector {
 public:
  using connection = pg::Connection;

  // Parses `conninfo` (URI `postgresql://...` or `key=value ...`).
  // Errors: invalid_config (unparsable; the value is not echoed since it may hold a password).
  static Result<Connector> create(std::string_view conninfo, ConnectorOptions options = {});

  // Opens a session before `deadline`, on the first host (of a multi-host conninfo) whose
  // server has the target_role. Host names are resolved by libpq with a blocking
  // getaddrinfo() before the deadline applies: use an IP address (host= or hostaddr=) where
  // a slow resolver must not delay connects. Errors: unavailable (`<host:port>: <cause>`; code
  // 53300 when the server is at max_connections, 57P03 while it starts or stops), timeout.
  Result<std::unique_ptr<Connection>> connect(Deadline deadline);
  // fast: status + a non-blocking peek at the socket (sees a server that closed it, consumes
  // notices/notifications and whatever of a pending reset has arrived: a failed reset is
  // `unavailable: ...: session reset failed: ...`); ping: empty-query round trip (it completes a
  // pending reset in the same round trip); deep: deep_check_sql. Errors: unavailable, timeout,
  // backend.
  Status check(Connection& conn, CheckDepth depth, Deadline deadline);
  // Sends the rollback of an open transaction, the reseed and reset_sql, without waiting for
  // the server (the next use reads their results). Never blocks. Errors: unavailable (the
  // connection is broken, or was left mid-query through native_handle()).
  Status reset(Connection& conn, Deadline deadline);
  void close(std::unique_ptr<Connection> conn, Deadline deadline) noexcept;
  bool is_broken(const Connection& conn) const noexcept { return conn.is_broken(); }
  // Retryable kinds, plus backend errors whose SQLSTATE is retryable (40001, 40P01, ...).
  bool is_retryable(const Error& error) const noexcept;
  // `host:port` (the first host if several).
  std::string endpoint() const;
  // `postgresql://user@host:port/dbname`, without the password.
  std::string to_string() const;
  const ConnectorOptions& options() const noexcept;
  // The statement cache counters summed over every connection this connector opened.
  StatementCacheStats statement_cache_stats() const noexcept;
  // The same figures through the backend-counter seam (statement_cache_hits, _misses,
  // _evictions, _reprepares), for the metrics exposition.
  std::vector<BackendCounter> backend_counters() const;

 private:
  explicit Connector(std::shared_ptr<detail::Shared> shared) noexcept : shared_(std::move(shared)) {}
  // One host of a multi-host conninfo, or (null) the conninfo as given.
  Result<std::unique_ptr<Connection>> connect_to(const detail::Host* host, Deadline deadline);
  // Whether the lease that ends calls for reset_sql, by ConnectorOptions::reset.
  bool needs_discard(const Connection& conn) const noexcept;
  std::shared_ptr<detail::Shared> shared_;
};

}  // namespace reservoir::pg
