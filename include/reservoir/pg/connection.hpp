// reservoir/pg/connection.hpp — pg::Connection: one libpq session, with deadline-bounded
// queries (the sql.hpp helper shape).
//
// Every call is non-blocking underneath (libpq in non-blocking mode, poll() on the socket
// within the deadline). When a deadline passes mid-query a server-side cancel is sent from a
// detached helper thread (libpq 15's PQcancel blocks on its own connect and on a frozen
// server; at most ConnectorOptions::max_pending_cancels at once), the call returns `timeout`
// and the connection is marked broken, so the pool closes it instead of reusing it.
// A Connection is used by one thread at a time (the lease holder).
//
// The reset is pipelined (libpq pipeline mode). Connector::reset() only SENDS it, at release,
// without waiting: the server runs it at once (advisory locks, LISTEN, temp tables are gone
// before the next borrower asks), and its results are read by the next use of the connection,
// whose first statement goes out in the same write, right behind it: one round trip per
// statement, as with no reset at all. The reset's last statement (DISCARD ALL) and the next
// statement share one pipeline segment (no Sync between them), so when the reset fails the
// server skips the next statement: it never runs on the previous borrower's session. That
// statement then fails with `unavailable: <host:port>: session reset failed: <cause>`
// (retryable; the connection is broken and closed at release), also when the session died
// during the reset (e.g. terminated while pooled). The statement never ran, and the error says
// so (Error::not_executed): run() retries it on a fresh connection even when not idempotent.
// A fast check (CheckDepth::fast) consumes a reset error that has already arrived without
// waiting, so the pool replaces such a connection before handing it out.
// While pooled after a reset, the server shows the session as `active` with query
// `DISCARD ALL` (no transaction, no snapshot, no locks: ROLLBACK and DISCARD ALL each commit
// at once): it waits for the rest of the segment. Its idle_session_timeout does not run then
// (the server arms it only at ReadyForQuery). The reseed (connector.hpp) goes out with the
// next use, in front of its first statement and in its transaction; a first statement that
// refuses to follow another one (25001: VACUUM, BEGIN ISOLATION LEVEL ..., CREATE DATABASE)
// failed before doing anything and is sent again alone (one more round trip, for those only).
//
// Statement cache (ConnectorOptions::statement_cache_size, default 256): query() and execute()
// prepare each distinct SQL text once per connection as a named server-side statement; later
// runs send only Bind/Execute. The Parse goes out in the same write as the first execution,
// never as a round trip of its own. Least recently used statements are evicted and closed on
// the server (DEALLOCATE, behind the next statement). Counted in statement_cache_stats().
// Across leases, the default reset's DISCARD ALL drops them with every other prepared
// statement, and each is prepared again, in the same write as its next execution. They are not
// kept because what keeps them is not sound or not cheap: statements a borrower made with SQL
// PREPARE must not survive, and they cannot be told apart client-side (a PREPARE inside a DO
// block or a function leaves no trace in the protocol); dropping only `from_sql` ones needs a
// server-side loop (a DO block doing DISCARD ALL's eight parts minus DEALLOCATE ALL measured
// about 10x DISCARD ALL's server time) or eight pipelined statements per lease instead of one,
// which measured no cheaper even prepared once and kept (Bind/Execute only): 34 us of server CPU
// per SELECT 1 lease against 22 for DISCARD ALL with the re-prepare it forces, 69 against 68 on
// a point select by key (bench/pg/README.md, "Making the safe reset cheaper").
// So the cache pays within a lease (from a statement's second run) and across leases whose
// reset skipped DISCARD ALL: always with the rollback-only reset (reset_sql = ""), after plain
// data statements with ResetMode::tracked, after transaction control alone with the default. A cached statement the server rejects as stale,
// 0A000 (`cached plan must not change result type`, after DDL) or 26000 (deallocated, e.g. by
// the caller's DEALLOCATE ALL or DISCARD ALL), never ran: it is prepared again and run once
// more, transparently, unless a transaction block surrounds it (the failure aborted that
// transaction; the error is returned and the next use prepares it again).
//
// query() and execute() use the extended protocol (one statement, parameters optional), as
// pgx and pgjdbc do: pipeline mode speaks only that protocol, and one protocol for every
// statement keeps behaviour the same whether or not a reset is pending. Multi-statement text
// goes through script() (the simple protocol; it first waits for a pending reset).
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "reservoir/deadline.hpp"
#include "reservoir/error.hpp"
#include "reservoir/pg/role.hpp"
#include "reservoir/random.hpp"
#include "reservoir/sql.hpp"

typedef struct pg_conn PGconn;

namespace reservoir::pg {

namespace detail {
struct Shared;
}

// The statement cache's counters (per connection, or summed over a connector's connections).
struct StatementCacheStats {
  std::uint64_t hits = 0;       // ran a statement prepared earlier (Bind + Execute only)
  std::uint64_t misses = 0;     // prepared it first (Parse in the same write as the execution)
  std::uint64_t evictions = 0;  // least recently used statements closed to make room
  std::uint64_t reprepares = 0;  // invalidated by the server (0A000 after DDL, 26000) and prepared again
};

class Connection {
 public:
  // Takes ownership of an open, CONNECTION_OK `conn`. Used by Connector::connect().
  // `endpoint`: the host:port it reached (one of a multi-host conninfo's); empty: the
  // connector's.
  Connection(PGconn* conn, std::shared_ptr<const detail::Shared> shared, std::string endpoint = {});
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  // Closes the session (PQfinish; never blocks: the socket is non-blocking).
  ~Connection();

  // Runs one statement `sql` with positional parameters $1.. bound as text (NULL for
  // monostate) and reads the whole result (extended protocol: one statement only; see
  // script() for several).
  // Integer columns (int2/4/8) read as int64, float4/8 as double, everything else as text.
  // Errors: backend (SQLSTATE in code(), server message in detail; 40001/40P01 retryable),
  // unavailable (connection lost or already broken; 08xxx/57P0x), timeout (deadline passed;
  // cancel sent, connection now broken), invalid_argument (COPY, which this API does not speak).
  Result<sql::Rows> query(std::string_view sql, std::span<const sql::Value> params, Deadline deadline);
  Result<sql::Rows> query(std::string_view sql, std::initializer_list<sql::Value> params, Deadline deadline) {
    return query(sql, std::span<const sql::Value>(params.begin(), params.size()), deadline);
  }
  Result<sql::Rows> query(std::string_view sql, Deadline deadline) { return query(sql, {}, deadline); }

  // Like query(); returns the number of rows affected (0 for statements that report none).
  Result<std::int64_t> execute(std::string_view sql, std::span<const sql::Value> params, Deadline deadline);
  Result<std::int64_t> execute(std::string_view sql, std::initializer_list<sql::Value> params, Deadline deadline) {
    return execute(sql, std::span<const sql::Value>(params.begin(), params.size()), deadline);
  }
  Result<std::int64_t> execute(std::string_view sql, Deadline deadline) { return execute(sql, {}, deadline); }

  // Runs `sql`, which may hold several ;-separated statements, with the simple query protocol
  // (no parameters; run in one implicit transaction unless it has its own BEGIN/COMMIT).
  // Waits for a pending reset first (one extra round trip when one is pending). Same errors.
  Status script(std::string_view sql, Deadline deadline);

  // This connection's statement cache counters (ConnectorOptions::statement_cache_size).
  const StatementCacheStats& statement_cache_stats() const noexcept { return cache_stats_; }

  // Broken: lost, timed out mid-query, or failed at the protocol level. Never reused.
  bool is_broken() const noexcept;
  void mark_broken() noexcept { broken_ = true; }
  // Inside BEGIN..COMMIT (including a failed transaction awaiting ROLLBACK).
  bool in_transaction() const noexcept;
  // The server process serving this session (for pg_terminate_backend and logs).
  int backend_pid() const noexcept;
  // `host:port` of the server this session reached, never secrets.
  const std::string& endpoint() const noexcept;
  // The server's role as the server last reported it: `in_hot_standby` (PostgreSQL 14+; it
  // turns `off` on a live session after a promotion, seen once the session's next statement
  // has run), else pg_is_in_recovery() as read at connect.
  ServerRole role() const noexcept;

  // The libpq handle, for what this API does not cover. A pending reset is completed first
  // (within kSettleBound; past it the connection is marked broken), so the handle is idle and
  // out of pipeline mode. It is in non-blocking mode. The reset restores what libpq keeps per
  // connection (notice receiver, non-blocking mode, error verbosity and context, tracing, queued
  // notifications); a caller who leaves it mid-query is handed a broken connection. libpq
  // cannot unregister a PGEventProc: one registered here lives as long as the connection.
  PGconn* native_handle() noexcept;
  static constexpr std::chrono::milliseconds kSettleBound{2000};

 private:
  friend class Connector;
  friend class Transaction;
  struct Exchange;

  // Runs a statement without parameters, discarding its rows (checks, transactions).
  Status run_simple(std::string_view sql, Deadline deadline);
  // Sends the reset without waiting (see the top of this file). Never blocks.
  Status start_reset(bool rollback, const std::string& reset_sql);
  // Reads a pending reset to its end within `deadline`. Errors as for a statement.
  Status settle(Deadline deadline);
  // Undoes what a borrower may have changed in libpq itself through native_handle().
  Status restore_client_state();
  bool pipelined() const noexcept { return next_item_ < items_.size(); }
  // The item at the front of items_ is done; leaves pipeline mode after the last one.
  void advance() noexcept;
  // Local health: status, plus a non-blocking peek at the socket that sees a server-side close
  // and consumes unsolicited notices. Errors: unavailable.
  Status peek_idle();

  PGconn* conn_;
  std::shared_ptr<const detail::Shared> shared_;
  std::string endpoint_;
  ServerRole role_at_connect_ = ServerRole::primary;  // for servers without in_hot_standby
  bool broken_ = false;
  bool used_ = false;         // a statement that may leave state ran since the last reset
  bool state_seen_ = false;   // one whose tag, outcome or text shows state (ResetMode::tracked)
  bool native_used_ = false;  // native_handle() was handed out since the last reset
  // The GUC_REPORT settings as the server reported them at connect (what DISCARD ALL restores):
  // a difference at release shows a set_config() the command tags did not (tracked reset).
  std::vector<std::string> reported_at_connect_;
  bool reported_changed() const noexcept;
  std::string last_fatal_;    // a FATAL the server sent while idle (e.g. idle-session timeout)
  Random random_;             // seeds for the reset's reseed (SET seed)

  // What the pipeline still owes us, in order: results of the reset's statements, of the
  // caller's statement, and the Syncs that end segments. Empty outside pipeline mode.
  // prepare: the cache's Parse (its error is the caller's); aux: closing an evicted or
  // invalidated statement (its outcome does not matter).
  enum class Item : unsigned char { reset, prepare, user, aux, sync };
  std::vector<Item> items_;
  std::size_t next_item_ = 0;
  std::string reset_error_;  // first failure seen in the pending reset
  bool segment_failed_ = false;  // a reset statement failed in the pipeline segment being read
  bool reset_in_flight_ = false;  // the reset's results are not all read yet
  bool seed_pending_ = false;     // the reset's reseed goes out with the next use
  // Queues the pending reseed (if any) as a reset item. False: libpq refused it.
  bool queue_seed();

  // Statement cache: server-side prepared statements keyed by SQL text, least recently used
  // first out. An entry prepared before the last DISCARD ALL (epoch) is gone on the server.
  struct Cached {
    std::string sql;
    std::string name;
    std::uint64_t epoch = 0;
  };
  // The entry for `sql`, moved to the front (counted as a hit when live on the server);
  // a new one evicts the least recently used when full.
  Cached* cache_entry(std::string_view sql);
  // Drops `entry`; `close`: DEALLOCATE it on the server behind the next statement.
  void forget(Cached& entry, bool close);
  std::list<Cached> lru_;  // most recently used first
  std::unordered_map<std::string_view, std::list<Cached>::iterator> cache_index_;
  std::uint64_t epoch_ = 1;
  std::uint64_t next_statement_ = 0;
  std::string name_prefix_;  // reservoir_<random>_, made on first use
  std::string statement_name();
  std::vector<std::string> to_close_;  // statements to DEALLOCATE behind the next statement
  StatementCacheStats cache_stats_;
};

}  // namespace reservoir::pg
