#include "reservoir/pg/connection.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <thread>
#include <vector>

#include "reservoir/clock.hpp"
#include "reservoir/pg/errors.hpp"
#include "session_effect.hpp"
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
  // Counts what a statement run through query() or execute() may have left in the session
  // (`res` null: it failed, so what it did is unknown). See connector.hpp for the reset modes.
  static void note_effect(Connection& c, const PGresult* res, std::string_view sql) {
    const detail::Effect effect = res != nullptr ? detail::effect_of(res) : detail::Effect::state;
    if (effect == detail::Effect::none) return;
    c.used_ = true;
    if (c.state_seen_) return;
    c.state_seen_ = effect == detail::Effect::state ||
                    (c.shared_->options.reset == ResetMode::tracked && detail::names_stateful_function(sql));
  }

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
    // A reset statement failed in this segment: the server skips the rest of it (or has
    // died, e.g. terminated while the session sat pooled), so the caller's statement behind
    // it never ran, whatever ended the connection.
    if (c.segment_failed_) return reset_failed(c);
    c.broken_ = true;
    std::string why = !c.last_fatal_.empty() ? c.last_fatal_ : detail::libpq_message(*c.shared_, PQerrorMessage(c.conn_));
    if (why.empty()) why = fallback;
    return Error::unavailable(c.endpoint_, "connection lost: " + why);
  }

  static Error timed_out(Connection& c) {
    c.broken_ = true;
    send_cancel(c.conn_, c.shared_);
    return Error::timeout(c.endpoint_ + ": query still running at its deadline" +
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
      Error e = server_error(c.endpoint_, state, message);
      return Error(ErrorKind::backend, e.detail(), false, state);
    }
    if (is_connection_sqlstate(state)) c.broken_ = true;
    if (std::strcmp(state, "25006") == 0 && c.role() == ServerRole::standby) return standby_write(c, message);
    return server_error(c.endpoint_, state, message);
  }

  // A write on a hot standby. For a connector that wants a primary this connection points at
  // the wrong server (a failover demoted it, or the conninfo lists standbys): it is closed at
  // release and the call may be retried, which connects to the primary. For target_role any or
  // standby it is the caller's statement that is wrong: the connection stays, no retry.
  static Error standby_write(Connection& c, std::string_view message) {
    const bool wants_primary = c.shared_->options.target_role == TargetRole::primary;
    if (wants_primary) c.broken_ = true;
    std::string detail = c.endpoint_ + ": server is a standby (read-only): ";
    detail.append(message).append(" (SQLSTATE 25006)");
    return Error(ErrorKind::unavailable, std::move(detail), wants_primary, "25006");
  }

  // With TLS, OpenSSL may hold decrypted bytes the socket no longer shows as readable (libpq
  // checks this itself before its own waits): read them before polling. True if that made
  // progress. Costs nothing without TLS.
  static bool tls_pending(Connection& c) {
    if (!PQsslInUse(c.conn_)) return false;
    if (!PQconsumeInput(c.conn_)) return false;  // the poll + read that follow report it
    return !PQisBusy(c.conn_);
  }

  struct Params {
    std::vector<std::string> storage;
    std::vector<const char*> values;
    explicit Params(std::span<const sql::Value> params) : storage(params.size()), values(params.size(), nullptr) {
      for (std::size_t i = 0; i < params.size(); ++i) {
        if (std::holds_alternative<std::monostate>(params[i])) continue;
        storage[i] = sql::to_text(params[i]);
        values[i] = storage[i].c_str();
      }
    }
    int count() const noexcept { return static_cast<int>(values.size()); }
    const char* const* data() const noexcept { return values.empty() ? nullptr : values.data(); }
  };

  // A script: the simple protocol, outside pipeline mode.
  static Status queue_script(Connection& c, std::string_view sql) {
    const std::string text(sql);
    if (!PQsendQuery(c.conn_, text.c_str())) return lost(c, "could not send the query");
    return {};
  }

  // One statement in pipeline mode (it joins a pending reset's segment): Parse first when the
  // cache has no live copy, then Bind/Execute, then a Sync; statements the cache dropped are
  // closed in a segment of their own behind it. Returns the cache entry used, if any.
  struct Queued {
    Cached* entry = nullptr;
    bool parsed = false;  // a Parse went out for it in this exchange
    bool seeded = false;  // the reset's reseed went out right before it, in its transaction
  };

  static Result<Queued> queue(Connection& c, std::string_view sql, const Params& p, bool cached) {
    if (!c.pipelined() && !PQenterPipelineMode(c.conn_)) return lost(c, "could not enter pipeline mode");
    const bool seeded = c.seed_pending_;
    if (!c.queue_seed()) return lost(c, "could not send the query");
    Cached* entry = cached && c.shared_->options.statement_cache_size > 0 ? c.cache_entry(sql) : nullptr;
    bool sent = true;
    bool parsed = false;
    if (entry == nullptr) {
      const std::string text(sql);
      sent = PQsendQueryParams(c.conn_, text.c_str(), p.count(), nullptr, p.data(), nullptr, nullptr, 0);
    } else {
      if (entry->epoch != c.epoch_) {
        entry->name = c.statement_name();
        entry->epoch = c.epoch_;
        sent = PQsendPrepare(c.conn_, entry->name.c_str(), entry->sql.c_str(), p.count(), nullptr);
        if (sent) c.items_.push_back(Item::prepare);
        parsed = true;
      }
      sent = sent && PQsendQueryPrepared(c.conn_, entry->name.c_str(), p.count(), p.data(), nullptr, nullptr, 0);
    }
    if (sent) c.items_.push_back(Item::user);
    sent = sent && PQpipelineSync(c.conn_);
    if (sent) c.items_.push_back(Item::sync);
    if (sent && !c.to_close_.empty()) {
      for (const std::string& name : c.to_close_) {
        const std::string text = "DEALLOCATE " + name;
        if (!PQsendQueryParams(c.conn_, text.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0)) return lost(c, "could not send the query");
        c.items_.push_back(Item::aux);
      }
      c.to_close_.clear();
      sent = PQpipelineSync(c.conn_);
      if (sent) c.items_.push_back(Item::sync);
    }
    if (!sent) return lost(c, "could not send the query");
    return Queued{entry, parsed, seeded};
  }

  // Writes what libpq holds for the server, within the deadline (non-blocking mode: it may
  // not leave in one write).
  static Status flush(Connection& c, Deadline d) {
    for (;;) {
      const int f = PQflush(c.conn_);
      if (f == 0) return {};
      if (f < 0) return lost(c, "could not send the query");
      const Wait w = wait_socket(PQsocket(c.conn_), POLLIN | POLLOUT, d);
      if (w == Wait::timeout) return timed_out(c);
      if (w == Wait::error) return lost(c, "poll failed");
      if (w == Wait::readable && !PQconsumeInput(c.conn_)) return lost(c, "read failed");
    }
  }

  // Waits for every result of the statement(s) sent outside pipeline mode; keeps the first
  // error, else the last result.
  static Result<ResultPtr> collect(Connection& c, Deadline d) {
    ResultPtr kept(nullptr, &PQclear);
    ResultPtr error(nullptr, &PQclear);
    for (;;) {
      while (PQisBusy(c.conn_)) {
        if (tls_pending(c)) continue;
        const Wait w = wait_socket(PQsocket(c.conn_), POLLIN, d);
        if (w == Wait::timeout) return timed_out(c);
        if (w == Wait::error || !PQconsumeInput(c.conn_)) return lost(c, "read failed");
      }
      PGresult* res = PQgetResult(c.conn_);
      if (res == nullptr) break;
      if (Status s = keep(c, res, kept, error); !s) return std::move(s).error();
    }
    return outcome(c, kept, error);
  }

  // Sorts one result of the caller's statement into `kept` or `error` (takes `res`).
  static Status keep(Connection& c, PGresult* res, ResultPtr& kept, ResultPtr& error) {
    switch (PQresultStatus(res)) {
      case PGRES_FATAL_ERROR:
      case PGRES_BAD_RESPONSE:
        if (error == nullptr) error.reset(res); else PQclear(res);
        return {};
      case PGRES_COPY_IN:
      case PGRES_COPY_OUT:
      case PGRES_COPY_BOTH:
        PQclear(res);
        c.broken_ = true;  // the session is stuck in COPY; only closing ends it
        return Error::make(ErrorKind::invalid_argument, c.endpoint_ + ": COPY is not supported by query()");
      default:
        kept.reset(res);
        return {};
    }
  }

  static Result<ResultPtr> outcome(Connection& c, ResultPtr& kept, const ResultPtr& error) {
    if (error != nullptr) return from_result(c, error.get());
    if (PQstatus(c.conn_) == CONNECTION_BAD) return lost(c, "connection closed");
    if (kept == nullptr) return Error::make(ErrorKind::internal, c.endpoint_ + ": no result from the server");
    return std::move(kept);
  }

  // The reset failed: nothing the caller sent behind it ran (the server skipped it), which the
  // error carries (not_executed): run() retries even a non-idempotent call on a fresh session.
  static Error reset_failed(Connection& c) {
    c.broken_ = true;
    return Error(ErrorKind::unavailable, c.endpoint_ + ": session reset failed: " + c.reset_error_, true)
        .mark_not_executed();
  }

  struct Collected {
    ResultPtr kept{nullptr, &PQclear};
    ResultPtr error{nullptr, &PQclear};
    bool skipped = false;  // the server skipped the caller's statement (the segment failed)
  };

  // Consumes one pipeline result for the item at the front. `wait` false: returns false when
  // the next result has not arrived yet. Errors only for a lost connection or a timeout.
  static Result<bool> step(Connection& c, Deadline d, bool wait, Collected& got) {
    while (PQisBusy(c.conn_)) {
      if (!wait) return false;
      if (tls_pending(c)) continue;
      const Wait w = wait_socket(PQsocket(c.conn_), POLLIN, d);
      if (w == Wait::timeout) return timed_out(c);
      if (w == Wait::error || !PQconsumeInput(c.conn_)) return lost(c, "read failed");
    }
    const Item item = c.items_[c.next_item_];
    PGresult* res = PQgetResult(c.conn_);
    if (item == Item::sync) {
      const bool synced = res != nullptr && PQresultStatus(res) == PGRES_PIPELINE_SYNC;
      if (res != nullptr && !synced) note_reset_error(c, res);  // a FATAL on its way out
      PQclear(res);
      if (!synced) return lost(c, "the pipeline ended early");
      c.segment_failed_ = false;
      c.advance();
      return true;
    }
    if (res == nullptr) {  // this statement's results are complete
      if (PQstatus(c.conn_) == CONNECTION_BAD) return lost(c, "connection closed");
      c.advance();
      return true;
    }
    if (item == Item::aux) {
      PQclear(res);  // closing a statement the cache dropped: its outcome does not matter
      return true;
    }
    if (item == Item::user || item == Item::prepare) {
      if (PQresultStatus(res) == PGRES_PIPELINE_ABORTED) {
        PQclear(res);  // skipped by the server: an earlier statement of the segment failed
        got.skipped = true;
      } else if (Status s = keep(c, res, got.kept, got.error); !s) {
        return std::move(s).error();
      }
      return true;
    }
    if (is_error(res)) c.segment_failed_ = true;
    note_reset_error(c, res);
    PQclear(res);
    if (!c.reset_error_.empty() && PQstatus(c.conn_) == CONNECTION_BAD) return reset_failed(c);
    return true;
  }

  static bool is_error(const PGresult* res) {
    const ExecStatusType st = PQresultStatus(res);
    return st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE;
  }

  static void note_reset_error(Connection& c, const PGresult* res) {
    if (!is_error(res) || !c.reset_error_.empty()) return;
    const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    c.reset_error_ = c.shared_->redact(primary ? primary : PQresultErrorMessage(res));
    if (state != nullptr) c.reset_error_.append(" (SQLSTATE ").append(state).append(")");
  }

  // Reads the pipeline to its end: the pending reset, then the caller's statement if any.
  // A reset that failed in its first segment (ROLLBACK, the reseed) still let DISCARD ALL and the
  // caller's statement run: that statement's outcome stands, the connection is closed at
  // release. One that failed in the caller's segment kept the statement from running.
  static Result<ResultPtr> drain(Connection& c, Deadline d) {
    Collected got;
    bool any_user = false;
    while (c.pipelined()) {
      any_user = any_user || c.items_[c.next_item_] == Item::user || c.items_[c.next_item_] == Item::prepare;
      auto progressed = step(c, d, true, got);
      if (!progressed) return std::move(progressed).error();
    }
    if (!c.reset_error_.empty()) {
      if (!any_user || got.skipped) return reset_failed(c);
      c.broken_ = true;
    }
    if (!any_user) return ResultPtr(nullptr, &PQclear);
    return outcome(c, got.kept, got.error);
  }

  enum class Mode { unnamed, cached, script };

  static Result<ResultPtr> run(Connection& c, std::string_view sql, std::span<const sql::Value> params, Deadline d,
                               Mode mode) {
    if (c.is_broken()) {
      return Error::unavailable(c.endpoint_, "connection is broken (an earlier call failed); discard it");
    }
    if (d.expired()) return Error::timeout(c.endpoint_ + ": deadline passed before the query was sent");
    if (Status s = sql::check_sql_text(c.endpoint_, sql, params); !s) return std::move(s).error();  // libpq stops at a NUL
    if (mode == Mode::script) {
      // The simple protocol does not exist in pipeline mode: a script waits for the reset.
      if (Status s = c.settle(d); !s) return std::move(s).error();
      if (Status s = queue_script(c, sql); !s) return std::move(s).error();
      if (Status s = flush(c, d); !s) return std::move(s).error();
      return collect(c, d);
    }
    const Params p(params);
    return exchange(c, sql, p, d, mode == Mode::cached);
  }

  // A cached statement the server no longer accepts (0A000: its result type changed after
  // DDL; 26000: it was deallocated, e.g. by the caller's DISCARD ALL) never ran: it is
  // prepared again and run once more, unless a transaction block (now aborted) surrounds it.
  static Result<ResultPtr> exchange(Connection& c, std::string_view sql, const Params& p, Deadline d, bool cached) {
    for (int attempt = 0;; ++attempt) {
      auto queued = queue(c, sql, p, cached);
      if (!queued) return std::move(queued).error();
      if (Status s = flush(c, d); !s) return std::move(s).error();
      auto res = drain(c, d);
      if (res || c.is_broken()) return res;
      const std::string& code = res.error().code();
      // 25001: the statement refuses to follow another one in its transaction (VACUUM, BEGIN
      // ISOLATION LEVEL ..., CREATE DATABASE): the reseed went first. It failed before doing
      // anything; run it again alone.
      if (code == "25001" && queued->seeded && attempt == 0) continue;
      if (queued->entry == nullptr) return res;
      const bool stale = code == "0A000" || code == "26000";
      if (!stale) {
        // The Parse may have failed (a syntax error) or its statement may never be used again.
        if (queued->parsed) c.forget(*queued->entry, true);
        return res;
      }
      c.forget(*queued->entry, code == "0A000");  // 26000: already gone on the server
      c.cache_stats_.reprepares++;
      c.shared_->cache_reprepares.fetch_add(1, std::memory_order_relaxed);
      if (attempt > 0 || c.in_transaction()) return res;
    }
  }


};

namespace {
std::uint64_t connection_seed(const void* self) noexcept {
  const auto now = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  return now ^ static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(self));
}

void drop_notifications(PGconn* conn) noexcept {
  while (PGnotify* note = PQnotifies(conn)) PQfreemem(note);
}

// The settings PostgreSQL reports on change (GUC_REPORT) that a borrower can set; not
// in_hot_standby (the role, checked on its own) nor the server's fixed facts.
constexpr const char* kReportedSettings[] = {
    "application_name", "TimeZone", "DateStyle", "IntervalStyle", "client_encoding",
    "standard_conforming_strings", "is_superuser", "session_authorization", "default_transaction_read_only"};

std::string reported(PGconn* conn, const char* name) {
  const char* value = PQparameterStatus(conn, name);
  return value != nullptr ? value : std::string();
}
}  // namespace

Connection::Connection(PGconn* conn, std::shared_ptr<const detail::Shared> shared, std::string endpoint)
    : conn_(conn),
      shared_(std::move(shared)),
      endpoint_(endpoint.empty() ? shared_->endpoint : std::move(endpoint)),
      random_(connection_seed(this)) {
  PQsetNoticeReceiver(conn_, &Exchange::on_notice, this);
  for (const char* name : kReportedSettings) reported_at_connect_.push_back(reported(conn_, name));
}

bool Connection::reported_changed() const noexcept {
  for (std::size_t i = 0; i < reported_at_connect_.size(); ++i) {
    const char* now = PQparameterStatus(conn_, kReportedSettings[i]);
    if (reported_at_connect_[i] != (now != nullptr ? now : "")) return true;
  }
  return false;
}

void Connection::advance() noexcept {
  ++next_item_;
  // The reset's results are in: whatever libpq queued before them belonged to the previous
  // borrower (notifications for its LISTEN are delivered before DISCARD ALL's reply).
  if (reset_in_flight_ && (next_item_ == items_.size() || (items_[next_item_] != Item::reset &&
                                                           items_[next_item_ - 1] == Item::reset))) {
    reset_in_flight_ = false;
    drop_notifications(conn_);
  }
  if (next_item_ < items_.size()) return;
  items_.clear();
  next_item_ = 0;
  if (!PQexitPipelineMode(conn_)) broken_ = true;  // cannot happen: every result was read
}

Connection::Cached* Connection::cache_entry(std::string_view sql) {
  if (auto it = cache_index_.find(sql); it != cache_index_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    const bool live = it->second->epoch == epoch_;
    (live ? cache_stats_.hits : cache_stats_.misses)++;
    (live ? shared_->cache_hits : shared_->cache_misses).fetch_add(1, std::memory_order_relaxed);
    return &*it->second;
  }
  cache_stats_.misses++;
  shared_->cache_misses.fetch_add(1, std::memory_order_relaxed);
  if (lru_.size() >= shared_->options.statement_cache_size) {
    cache_stats_.evictions++;
    shared_->cache_evictions.fetch_add(1, std::memory_order_relaxed);
    forget(lru_.back(), true);
  }
  lru_.push_front(Cached{std::string(sql), {}, 0});
  cache_index_.emplace(lru_.front().sql, lru_.begin());
  return &lru_.front();
}

void Connection::forget(Cached& entry, bool close) {
  if (close && entry.epoch == epoch_ && !entry.name.empty()) to_close_.push_back(entry.name);
  auto it = cache_index_.find(entry.sql);
  if (it == cache_index_.end()) return;
  const auto node = it->second;
  cache_index_.erase(it);
  lru_.erase(node);
}

Status Connection::start_reset(bool rollback, const std::string& reset_sql) {
  if (!pipelined() && !PQenterPipelineMode(conn_)) return Exchange::lost(*this, "could not enter pipeline mode");
  const auto send = [this](const std::string& text) {
    if (!PQsendQueryParams(conn_, text.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0)) return false;
    items_.push_back(Item::reset);
    return true;
  };
  bool ok = true;
  reset_in_flight_ = true;
  if (!reset_sql.empty()) {
    // DISCARD ALL drops the cache's statements too: each is prepared again, in the same write
    // as its next execution (see connection.hpp for why they are not kept).
    ++epoch_;
    to_close_.clear();
    // The reseed goes out with the next use (queue_seed): it cannot precede DISCARD ALL in one
    // segment (DISCARD ALL refuses to follow another statement of its implicit transaction),
    // a segment of its own costs the server a transaction and a Sync per lease, and after
    // DISCARD ALL without a Sync it would hold a snapshot while the connection sits pooled.
    if (rollback) ok = send("ROLLBACK");
    ok = ok && send(reset_sql);
    seed_pending_ = shared_->options.reseed_random;
  } else {
    ok = send("ROLLBACK");  // ends the transaction at once; no Sync needed
  }
  if (!ok || PQflush(conn_) < 0) return Exchange::lost(*this, "could not send the reset");
  return {};  // PQflush may leave bytes in libpq's buffer: the next use sends them first
}

// A borrower's own PREPARE could take a predictable name: ours carry a per-connection random
// part, so a clash (42P05) cannot be arranged.
std::string Connection::statement_name() {
  if (name_prefix_.empty()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "reservoir_%016llx_", static_cast<unsigned long long>(random_.next()));
    name_prefix_ = buf;
  }
  return name_prefix_ + std::to_string(++next_statement_);
}

bool Connection::queue_seed() {
  if (!seed_pending_) return true;
  seed_pending_ = false;
  const double seed = static_cast<double>(random_.next() >> 11) * 0x1.0p-52 - 1.0;  // in [-1, 1)
  char text[64];
  // The `seed` setting calls setseed() once, when set; cheaper than SELECT setseed() (no
  // analysis or plan) and as sound (connector.hpp).
  std::snprintf(text, sizeof text, "SET seed = %.17g", seed);
  if (!PQsendQueryParams(conn_, text, 0, nullptr, nullptr, nullptr, nullptr, 0)) return false;
  items_.push_back(Item::reset);
  return true;
}

Status Connection::settle(Deadline deadline) {
  if (!pipelined()) return {};
  if (!queue_seed()) return Exchange::lost(*this, "could not send the query");
  if (items_.back() != Item::sync) {
    if (!PQpipelineSync(conn_)) return Exchange::lost(*this, "could not send the query");
    items_.push_back(Item::sync);
  }
  if (Status s = Exchange::flush(*this, deadline); !s) return s;
  auto res = Exchange::drain(*this, deadline);
  if (!res) return std::move(res).error();
  return {};
}

Status Connection::restore_client_state() {
  if (!native_used_) return {};
  native_used_ = false;
  if (PQpipelineStatus(conn_) != PQ_PIPELINE_OFF && !pipelined() && !PQexitPipelineMode(conn_)) {
    broken_ = true;
    return Error::unavailable(endpoint_, "left in pipeline mode with results unread");
  }
  if (PQtransactionStatus(conn_) == PQTRANS_ACTIVE && !pipelined()) {
    broken_ = true;  // someone left a query running on the native handle
    return Error::unavailable(endpoint_, "a query is still in progress");
  }
  PQsetNoticeReceiver(conn_, &Exchange::on_notice, this);
  (void)PQsetErrorVerbosity(conn_, PQERRORS_DEFAULT);
  (void)PQsetErrorContextVisibility(conn_, PQSHOW_CONTEXT_ERRORS);
  PQuntrace(conn_);
  if (!PQisnonblocking(conn_) && PQsetnonblocking(conn_, 1) != 0) return Exchange::lost(*this, "could not restore non-blocking mode");
  return {};
}

PGconn* Connection::native_handle() noexcept {
  used_ = true;
  state_seen_ = true;  // what the caller does through it is not seen
  native_used_ = true;
  if (pipelined()) {
    try {
      if (!settle(Deadline::after(SteadyClock::instance(), kSettleBound))) broken_ = true;
    } catch (...) {
      broken_ = true;
    }
  }
  return conn_;
}

Status Connection::script(std::string_view sql, Deadline deadline) {
  used_ = true;
  state_seen_ = true;  // only the last statement's tag would be seen
  auto res = Exchange::run(*this, sql, {}, deadline, Exchange::Mode::script);
  if (!res) return std::move(res).error();
  return {};
}

Connection::~Connection() { PQfinish(conn_); }

Result<sql::Rows> Connection::query(std::string_view sql, std::span<const sql::Value> params, Deadline deadline) {
  auto res = Exchange::run(*this, sql, params, deadline, Exchange::Mode::cached);
  Exchange::note_effect(*this, res ? res->get() : nullptr, sql);
  if (!res) return std::move(res).error();
  return to_rows(res->get());
}

Result<std::int64_t> Connection::execute(std::string_view sql, std::span<const sql::Value> params, Deadline deadline) {
  auto res = Exchange::run(*this, sql, params, deadline, Exchange::Mode::cached);
  Exchange::note_effect(*this, res ? res->get() : nullptr, sql);
  if (!res) return std::move(res).error();
  const char* tuples = PQcmdTuples(res->get());
  std::int64_t n = 0;
  (void)std::from_chars(tuples, tuples + std::strlen(tuples), n);
  return n;
}

Status Connection::run_simple(std::string_view sql, Deadline deadline) {
  auto res = Exchange::run(*this, sql, {}, deadline, Exchange::Mode::unnamed);
  if (!res) return std::move(res).error();
  return {};
}

Status Connection::peek_idle() {
  if (is_broken()) return Exchange::lost(*this, "connection is broken");
  if (pipelined()) {
    // A pending reset: take what has arrived (an error arrives at once; the server holds
    // DISCARD ALL's success until the next Sync), never wait.
    if (!PQconsumeInput(conn_)) return Exchange::lost(*this, "read failed");
    Exchange::Collected got;
    for (;;) {
      auto progressed = Exchange::step(*this, Deadline::never(SteadyClock::instance()), false, got);
      if (!progressed) return std::move(progressed).error();
      if (!*progressed || !pipelined()) break;
    }
    if (!reset_error_.empty()) return Exchange::reset_failed(*this);
    if (PQstatus(conn_) == CONNECTION_BAD) return Exchange::lost(*this, "connection closed");
    return {};
  }
  if (PQisBusy(conn_)) {
    broken_ = true;  // someone left a query running on the native handle
    return Error::unavailable(endpoint_, "a query is still in progress");
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

const std::string& Connection::endpoint() const noexcept { return endpoint_; }

ServerRole Connection::role() const noexcept {
  const char* hot_standby = PQparameterStatus(conn_, "in_hot_standby");
  if (hot_standby == nullptr) return role_at_connect_;
  return std::strcmp(hot_standby, "on") == 0 ? ServerRole::standby : ServerRole::primary;
}

}  // namespace reservoir::pg
