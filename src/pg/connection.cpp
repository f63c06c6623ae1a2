#include "reservoir/pg/connection.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "reservoir/pg/errors.hpp"
#include "shared.hpp"
#include "wait.hpp"

namespace reservoir::pg {

namespace {

using ResultPtr = std::unique_ptr<PGresult, decltype(&PQclear)>;

constexpr Oid kInt8 = 20, kInt2 = 21, kInt4 = 23, kFloat4 = 700, kFloat8 = 701;

sql::Value read_value(const PGresult* res, int row, int col, Oid type) {
  if (PQgetisnull(res, row, col)) return std::monostate{};
  const char* text = PQgetvalue(res, row, col);
  const int len = PQgetlength(res, row, col);
  if (type == kInt8 || type == kInt2 || type == kInt4) {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(text, text + len, v);
    if (ec == std::errc() && end == text + len) return v;
  } else if (type == kFloat4 || type == kFloat8) {
    char* end = nullptr;
    const double v = std::strtod(text, &end);
    if (end == text + len) return v;
  }
  return std::string(text, static_cast<std::size_t>(len));
}

sql::Rows to_rows(const PGresult* res) {
  const int fields = PQnfields(res);
  const int tuples = PQntuples(res);
  std::vector<std::string> columns;
  columns.reserve(static_cast<std::size_t>(fields));
  for (int c = 0; c < fields; ++c) columns.emplace_back(PQfname(res, c));
  std::vector<sql::Value> values;
  values.reserve(static_cast<std::size_t>(tuples) * static_cast<std::size_t>(fields));
  for (int r = 0; r < tuples; ++r) {
    for (int c = 0; c < fields; ++c) values.push_back(read_value(res, r, c, PQftype(res, c)));
  }
  return sql::Rows(std::move(columns), static_cast<std::size_t>(tuples), std::move(values));
}

// libpq 15's PQcancel connects and waits for the server to close the cancel connection, with
// no timeout: on a frozen server it would block for as long as the freeze lasts. So it runs on
// a detached thread that owns copies of everything it touches; the caller never waits.
void send_cancel(PGconn* conn, const std::shared_ptr<const detail::Shared>& shared) {
  if (!shared->options.cancel_on_timeout) return;
  if (shared->pending_cancels.fetch_add(1) >= shared->options.max_pending_cancels) {
    shared->pending_cancels.fetch_sub(1);
    return;
  }
  PGcancel* cancel = PQgetCancel(conn);
  if (cancel == nullptr) {
    shared->pending_cancels.fetch_sub(1);
    return;
  }
  try {
    std::thread([cancel, shared] {
      char buf[256];
      (void)PQcancel(cancel, buf, sizeof buf);
      PQfreeCancel(cancel);
      shared->pending_cancels.fetch_sub(1);
    }).detach();
  } catch (...) {  // no thread available: the connection is closed anyway
    PQfreeCancel(cancel);
    shared->pending_cancels.fetch_sub(1);
  }
}

}  // namespace

struct Connection::Exchange {
  static void on_notice(void* arg, const PGresult* res) {
    auto* self = static_cast<Connection*>(arg);
    const char* severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (severity == nullptr || (std::strcmp(severity, "FATAL") != 0 && std::strcmp(severity, "PANIC") != 0)) return;
    const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    self->last_fatal_ = self->shared_->redact(primary ? primary : "");
    if (state != nullptr) self->last_fatal_.append(" (SQLSTATE ").append(state).append(")");
  }

  static Error lost(Connection& c, std::string_view fallback) {
    c.broken_ = true;
    std::string why = !c.last_fatal_.empty() ? c.last_fatal_ : detail::libpq_message(*c.shared_, PQerrorMessage(c.conn_));
    if (why.empty()) why = fallback;
    return Error::unavailable(c.shared_->endpoint, "connection lost: " + why);
  }

  static Error timed_out(Connection& c) {
    c.broken_ = true;
    send_cancel(c.conn_, c.shared_);
    return Error::timeout(c.shared_->endpoint + ": query still running at its deadline" +
                          (c.shared_->options.cancel_on_timeout ? "; cancel sent" : "") +
                          ", connection will be closed");
  }

  static Error from_result(Connection& c, const PGresult* res) {
    const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (PQstatus(c.conn_) == CONNECTION_BAD) c.broken_ = true;
    if (state == nullptr) return lost(c, PQresultErrorMessage(res));
    const std::string message = c.shared_->redact(primary ? primary : PQresultErrorMessage(res));
    // The server also uses 08P01 for a caller's mistake (wrong parameter count) and keeps the
    // session: that is not a connection failure, and retrying cannot help.
    if (std::strcmp(state, "08P01") == 0 && PQstatus(c.conn_) == CONNECTION_OK) {
      Error e = server_error(c.shared_->endpoint, state, message);
      return Error(ErrorKind::backend, e.detail(), false, state);
    }
    if (is_connection_sqlstate(state)) c.broken_ = true;
    return server_error(c.shared_->endpoint, state, message);
  }

  static Status send(Connection& c, std::string_view sql, std::span<const sql::Value> params, Deadline d) {
    const std::string text(sql);
    int sent = 0;
    if (params.empty()) {
      sent = PQsendQuery(c.conn_, text.c_str());
    } else {
      std::vector<std::string> storage(params.size());
      std::vector<const char*> values(params.size(), nullptr);
      for (std::size_t i = 0; i < params.size(); ++i) {
        if (std::holds_alternative<std::monostate>(params[i])) continue;
        storage[i] = sql::to_text(params[i]);
        values[i] = storage[i].c_str();
      }
      sent = PQsendQueryParams(c.conn_, text.c_str(), static_cast<int>(params.size()), nullptr, values.data(),
                               nullptr, nullptr, 0);
    }
    if (!sent) return lost(c, "could not send the query");
    for (;;) {  // non-blocking mode: the query may not have left in one write
      const int f = PQflush(c.conn_);
      if (f == 0) return {};
      if (f < 0) return lost(c, "could not send the query");
      const Wait w = wait_socket(PQsocket(c.conn_), POLLIN | POLLOUT, d);
      if (w == Wait::timeout) return timed_out(c);
      if (w == Wait::error) return lost(c, "poll failed");
      if (w == Wait::readable && !PQconsumeInput(c.conn_)) return lost(c, "read failed");
    }
  }

  // Waits for every result of the statement(s) sent; keeps the first error, else the last
  // result.
  static Result<ResultPtr> collect(Connection& c, Deadline d) {
    ResultPtr kept(nullptr, &PQclear);
    ResultPtr error(nullptr, &PQclear);
    for (;;) {
      while (PQisBusy(c.conn_)) {
        const Wait w = wait_socket(PQsocket(c.conn_), POLLIN, d);
        if (w == Wait::timeout) return timed_out(c);
        if (w == Wait::error || !PQconsumeInput(c.conn_)) return lost(c, "read failed");
      }
      PGresult* res = PQgetResult(c.conn_);
      if (res == nullptr) break;
      switch (PQresultStatus(res)) {
        case PGRES_FATAL_ERROR:
        case PGRES_BAD_RESPONSE:
          if (error == nullptr) error.reset(res); else PQclear(res);
          break;
        case PGRES_COPY_IN:
        case PGRES_COPY_OUT:
        case PGRES_COPY_BOTH:
          PQclear(res);
          c.broken_ = true;  // the session is stuck in COPY; only closing ends it
          return Error::make(ErrorKind::invalid_argument, c.shared_->endpoint + ": COPY is not supported by query()");
        default:
          kept.reset(res);
      }
    }
    if (error != nullptr) return from_result(c, error.get());
    if (PQstatus(c.conn_) == CONNECTION_BAD) return lost(c, "connection closed");
    if (kept == nullptr) return Error::make(ErrorKind::internal, c.shared_->endpoint + ": no result from the server");
    return kept;
  }

  static Result<ResultPtr> run(Connection& c, std::string_view sql, std::span<const sql::Value> params, Deadline d) {
    if (c.is_broken()) {
      return Error::unavailable(c.shared_->endpoint, "connection is broken (an earlier call failed); discard it");
    }
    if (d.expired()) return Error::timeout(c.shared_->endpoint + ": deadline passed before the query was sent");
    if (Status s = sql::check_sql_text(c.shared_->endpoint, sql, params); !s) return std::move(s).error();  // libpq stops at a NUL
    if (Status s = send(c, sql, params, d); !s) return std::move(s).error();
    return collect(c, d);
  }
};

Connection::Connection(PGconn* conn, std::shared_ptr<const detail::Shared> shared) noexcept
    : conn_(conn), shared_(std::move(shared)) {
  PQsetNoticeReceiver(conn_, &Exchange::on_notice, this);
}

Connection::~Connection() { PQfinish(conn_); }

Result<sql::Rows> Connection::query(std::string_view sql, std::span<const sql::Value> params, Deadline deadline) {
  used_ = true;
  auto res = Exchange::run(*this, sql, params, deadline);
  if (!res) return std::move(res).error();
  return to_rows(res->get());
}

Result<std::int64_t> Connection::execute(std::string_view sql, std::span<const sql::Value> params, Deadline deadline) {
  used_ = true;
  auto res = Exchange::run(*this, sql, params, deadline);
  if (!res) return std::move(res).error();
  const char* tuples = PQcmdTuples(res->get());
  std::int64_t n = 0;
  (void)std::from_chars(tuples, tuples + std::strlen(tuples), n);
  return n;
}

Status Connection::run_simple(std::string_view sql, Deadline deadline) {
  auto res = Exchange::run(*this, sql, {}, deadline);
  if (!res) return std::move(res).error();
  return {};
}

Status Connection::peek_idle() {
  if (is_broken()) return Exchange::lost(*this, "connection is broken");
  if (PQisBusy(conn_)) {
    broken_ = true;  // someone left a query running on the native handle
    return Error::unavailable(shared_->endpoint, "a query is still in progress");
  }
  for (int round = 0; round < 2; ++round) {
    char byte = 0;
    const ssize_t n = ::recv(PQsocket(conn_), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return Exchange::lost(*this, "server closed the connection");
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return {};
      return Exchange::lost(*this, std::strerror(errno));
    }
    // Unsolicited data: a notice, a notification, or the server's last words before a close.
    if (!PQconsumeInput(conn_)) return Exchange::lost(*this, "read failed");
    while (PGnotify* note = PQnotifies(conn_)) PQfreemem(note);
    if (PQstatus(conn_) == CONNECTION_BAD) return Exchange::lost(*this, "connection closed");
  }
  return {};
}

bool Connection::is_broken() const noexcept { return broken_ || PQstatus(conn_) != CONNECTION_OK; }

bool Connection::in_transaction() const noexcept {
  const PGTransactionStatusType s = PQtransactionStatus(conn_);
  return s == PQTRANS_INTRANS || s == PQTRANS_INERROR;
}

int Connection::backend_pid() const noexcept { return PQbackendPID(conn_); }

const std::string& Connection::endpoint() const noexcept { return shared_->endpoint; }

}  // namespace reservoir::pg
