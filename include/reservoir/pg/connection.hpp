// reservoir/pg/connection.hpp — pg::Connection: one libpq session, with deadline-bounded
// queries (the sql.hpp helper shape).
//
// Every call is non-blocking underneath (libpq in non-blocking mode, poll() on the socket
// within the deadline). When a deadline passes mid-query a server-side cancel is sent from a
// detached helper thread (libpq 15's PQcancel blocks on its own connect and on a frozen
// server; at most ConnectorOptions::max_pending_cancels at once), the call returns `timeout`
// and the connection is marked broken, so the pool closes it instead of reusing it.
// A Connection is used by one thread at a time (the lease holder).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "reservoir/deadline.hpp"
#include "reservoir/error.hpp"
#include "reservoir/sql.hpp"

typedef struct pg_conn PGconn;

namespace reservoir::pg {

namespace detail {
struct Shared;
}

class Connection {
 public:
  // Takes ownership of an open, CONNECTION_OK `conn`. Used by Connector::connect().
  Connection(PGconn* conn, std::shared_ptr<const detail::Shared> shared) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  // Closes the session (PQfinish; never blocks: the socket is non-blocking).
  ~Connection();

  // Runs `sql` with positional parameters $1.. bound as text (NULL for monostate) and reads
  // the whole result. With no parameters the simple query protocol is used (one round trip,
  // several ;-separated statements allowed; the last statement's rows are returned).
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

  // Broken: lost, timed out mid-query, or failed at the protocol level. Never reused.
  bool is_broken() const noexcept;
  void mark_broken() noexcept { broken_ = true; }
  // Inside BEGIN..COMMIT (including a failed transaction awaiting ROLLBACK).
  bool in_transaction() const noexcept;
  // The server process serving this session (for pg_terminate_backend and logs).
  int backend_pid() const noexcept;
  // `host:port`, never secrets.
  const std::string& endpoint() const noexcept;

  // The libpq handle, for what this API does not cover. It is in non-blocking mode; a caller
  // who leaves it mid-query or changes session state the reset does not cover owns the result.
  PGconn* native_handle() noexcept {
    used_ = true;
    return conn_;
  }

 private:
  friend class Connector;
  friend class Transaction;
  struct Exchange;

  // Runs a statement without parameters, discarding its rows (reset, checks, transactions).
  Status run_simple(std::string_view sql, Deadline deadline);
  // Local health: status, plus a non-blocking peek at the socket that sees a server-side close
  // and consumes unsolicited notices. Errors: unavailable.
  Status peek_idle();

  PGconn* conn_;
  std::shared_ptr<const detail::Shared> shared_;
  bool broken_ = false;
  bool used_ = false;       // a statement ran since the last reset: the reset must run
  std::string last_fatal_;  // a FATAL the server sent while idle (e.g. idle-session timeout)
};

}  // namespace reservoir::pg
