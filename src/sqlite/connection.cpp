// sqlite::Connection: statements with deadline-bounded busy waits.
#include "reservoir/sqlite/connection.hpp"

#include <cctype>
#include <limits>
#include <utility>
#include <vector>

#include "session.hpp"

namespace reservoir::sqlite {

namespace {

bool blank(std::string_view s) noexcept {
  for (char c : s) {
    if (!std::isspace(static_cast<unsigned char>(c)) && c != ';') return false;
  }
  return true;
}

// Owns one prepared statement.
struct Stmt {
  sqlite3_stmt* p = nullptr;
  ~Stmt() { sqlite3_finalize(p); }
};

Status bind_all(sqlite3_stmt* stmt, std::span<const sql::Value> params, const std::string& path) {
  const int want = sqlite3_bind_parameter_count(stmt);
  if (want != static_cast<int>(params.size())) {
    return Error::make(ErrorKind::invalid_argument, path + ": the statement takes " + std::to_string(want) +
                                                        " parameters, " + std::to_string(params.size()) + " given");
  }
  for (int i = 0; i < want; ++i) {
    const sql::Value& v = params[static_cast<std::size_t>(i)];
    int rc = SQLITE_OK;
    // SQLITE_STATIC: the caller's values outlive the statement, which is finalized in this call.
    if (auto* n = std::get_if<std::int64_t>(&v)) rc = sqlite3_bind_int64(stmt, i + 1, *n);
    else if (auto* d = std::get_if<double>(&v)) rc = sqlite3_bind_double(stmt, i + 1, *d);
    else if (auto* s = std::get_if<std::string>(&v))
      rc = sqlite3_bind_text64(stmt, i + 1, s->data(), s->size(), SQLITE_STATIC, SQLITE_UTF8);
    else rc = sqlite3_bind_null(stmt, i + 1);
    if (rc != SQLITE_OK) return detail::make_error(sqlite3_db_handle(stmt), rc, path);
  }
  return {};
}

// The statement's column names, shared with `kept` until SQLite re-prepares the statement (after
// a schema change, which can rename or add columns).
sql::ColumnNames column_names(sqlite3_stmt* stmt, int ncols, detail::KeptColumns* kept) {
  const int reprepares = sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_REPREPARE, 0);
  if (kept && kept->names && kept->reprepares == reprepares) return kept->names;
  auto names = std::make_shared<std::vector<std::string>>();
  names->reserve(static_cast<std::size_t>(ncols));
  for (int c = 0; c < ncols; ++c) {
    const char* name = sqlite3_column_name(stmt, c);
    names->emplace_back(name ? name : "");
  }
  sql::ColumnNames shared = std::move(names);
  if (kept) *kept = {shared, reprepares};
  return shared;
}

sql::Value column_value(sqlite3_stmt* stmt, int col) {
  switch (sqlite3_column_type(stmt, col)) {
    case SQLITE_INTEGER: return std::int64_t{sqlite3_column_int64(stmt, col)};
    case SQLITE_FLOAT: return sqlite3_column_double(stmt, col);
    case SQLITE_NULL: return std::monostate{};
    case SQLITE_BLOB: {
      const void* p = sqlite3_column_blob(stmt, col);
      const int n = sqlite3_column_bytes(stmt, col);
      return std::string(static_cast<const char*>(p), p ? static_cast<std::size_t>(n) : 0);
    }
    default: {
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
      const int n = sqlite3_column_bytes(stmt, col);
      return std::string(p ? p : "", p ? static_cast<std::size_t>(n) : 0);
    }
  }
}

const char* type_name(int type) noexcept {
  switch (type) {
    case SQLITE_INTEGER: return "INTEGER";
    case SQLITE_FLOAT: return "REAL";
    case SQLITE_TEXT: return "TEXT";
    case SQLITE_BLOB: return "BLOB";
    default: return "NULL";
  }
}

std::string out_name(const detail::ScanTarget& t) {
  using K = detail::ScanTarget::Kind;
  const char* base = t.kind == K::int64 ? "std::int64_t" : t.kind == K::real ? "double" : t.kind == K::text ? "std::string" : "sql::Value";
  return t.optional ? std::string("std::optional<") + base + ">" : std::string(base);
}

// The T that `t` reads into: its optional's value (engaged here; its buffer kept when it
// already was) or the plain variable.
template <class T>
T& out_as(const detail::ScanTarget& t) {
  if (!t.optional) return *static_cast<T*>(t.out);
  auto& o = *static_cast<std::optional<T>*>(t.out);
  if (!o) o.emplace();
  return *o;
}

template <class T>
void reset_optional(const detail::ScanTarget& t) noexcept {
  static_cast<std::optional<T>*>(t.out)->reset();
}

// Reads column `col` into `t` if its type fits; false if not (t untouched).
bool read_column(sqlite3_stmt* stmt, int col, const detail::ScanTarget& t) {
  using K = detail::ScanTarget::Kind;
  const int type = sqlite3_column_type(stmt, col);
  switch (t.kind) {
    case K::value:
      *static_cast<sql::Value*>(t.out) = column_value(stmt, col);
      return true;
    case K::int64:
      if (type == SQLITE_NULL && t.optional) {
        reset_optional<std::int64_t>(t);
        return true;
      }
      if (type != SQLITE_INTEGER) return false;
      out_as<std::int64_t>(t) = sqlite3_column_int64(stmt, col);
      return true;
    case K::real:
      if (type == SQLITE_NULL && t.optional) {
        reset_optional<double>(t);
        return true;
      }
      if (type != SQLITE_INTEGER && type != SQLITE_FLOAT) return false;
      out_as<double>(t) = sqlite3_column_double(stmt, col);
      return true;
    case K::text: {
      if (type == SQLITE_NULL && t.optional) {
        reset_optional<std::string>(t);
        return true;
      }
      if (type != SQLITE_TEXT && type != SQLITE_BLOB) return false;
      // The pointer before the size, as SQLite asks: reading it may convert the value.
      const void* p = type == SQLITE_BLOB ? sqlite3_column_blob(stmt, col) : sqlite3_column_text(stmt, col);
      const auto n = static_cast<std::size_t>(sqlite3_column_bytes(stmt, col));
      out_as<std::string>(t).assign(static_cast<const char*>(p), p ? n : 0);
      return true;
    }
  }
  return false;
}

Status read_row_into(sqlite3_stmt* stmt, std::span<const detail::ScanTarget> targets, const std::string& path) {
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const int col = static_cast<int>(i);
    if (read_column(stmt, col, targets[i])) continue;
    const char* name = sqlite3_column_name(stmt, col);
    return Error::make(ErrorKind::invalid_argument,
                       path + ": scan_row: column " + std::to_string(i + 1) + " (" + (name ? name : "?") + ") is " +
                           type_name(sqlite3_column_type(stmt, col)) + ", which " + out_name(targets[i]) +
                           " does not take (std::int64_t takes INTEGER; double INTEGER or REAL; std::string TEXT or "
                           "BLOB; their std::optional also NULL; sql::Value any)");
  }
  return {};
}

}  // namespace

Connection::Connection(sqlite3* db, StoreLock lock, std::unique_ptr<detail::Session> session) noexcept
    : db_(db), lock_(std::move(lock)), session_(std::move(session)) {}

Connection::~Connection() {
  detail::leave_writer_gate_if_done(*session_, nullptr);
  if (db_) session_->cache.clear();
  else session_->cache.forget();  // forget_handle(): the handle and its statements are leaked
  // close_v2 never fails with BUSY: statements are all finalized by each call.
  if (db_) sqlite3_close_v2(db_);
  db_ = nullptr;
  // The last connection's share closes the checkpointer's handle too, with the lock still held.
  session_->checkpointer.reset();
  lock_.release();  // only after the handle is closed: the lock guards the file
}

bool Connection::adopt(WriteTurn& turn) noexcept {
  if (!turn.held() || turn.gate_ != session_->gate || session_->gate_held) return false;
  session_->gate_held = true;
  turn.gate_.reset();  // this connection leaves the gate from now on
  return true;
}

bool Connection::in_transaction() const noexcept { return db_ && sqlite3_get_autocommit(db_) == 0; }

int64_t Connection::last_insert_rowid() const noexcept { return db_ ? sqlite3_last_insert_rowid(db_) : 0; }

Result<sql::Rows> Connection::query(std::string_view sql, std::span<const sql::Value> params, Deadline deadline) {
  sql::Rows rows;
  if (auto st = run(sql, params, deadline, &rows); !st) return std::move(st).error();
  return rows;
}

Result<sql::Rows> Connection::query_row(std::string_view sql, std::span<const sql::Value> params, Deadline deadline) {
  sql::Rows rows;
  if (auto st = run(sql, params, deadline, &rows, 1); !st) return std::move(st).error();
  return rows;
}

Result<bool> Connection::scan_first_row(std::string_view sql, std::span<const sql::Value> params, Deadline deadline,
                                        std::span<const detail::ScanTarget> targets) {
  detail::RowScan scan{targets};
  if (auto st = run(sql, params, deadline, nullptr, 1, &scan); !st) return std::move(st).error();
  return scan.found;
}

Result<std::int64_t> Connection::execute(std::string_view sql, std::span<const sql::Value> params, Deadline deadline) {
  if (!db_) return Error::unavailable(session_->path, "connection is closed");
  const std::int64_t before = sqlite3_total_changes64(db_);
  if (auto st = run(sql, params, deadline, nullptr); !st) return std::move(st).error();
  return sqlite3_total_changes64(db_) - before;
}

Status Connection::run(std::string_view sql, std::span<const sql::Value> params, Deadline deadline, sql::Rows* out,
                       std::size_t max_rows, detail::RowScan* scan) {
  const std::string& path = session_->path;
  if (!db_ || broken_) return Error::unavailable(path, "connection is broken or closed");
  if (deadline.expired()) return Error::timeout(path + ": deadline passed before the statement ran");
  detail::CallScope scope(*session_, deadline, session_->internal);
  // Whatever happens below, a connection whose write transaction ended leaves the gate.
  struct GateExit {
    detail::Session& s;
    sqlite3* db;
    ~GateExit() { detail::leave_writer_gate_if_done(s, db); }
  } gate_exit{*session_, db_};
  detail::StatementCache& cache = session_->cache;
  if (detail::StatementCache::Entry* cached = cache.take(sql)) {  // the whole text is one cached statement
    struct Release {
      detail::StatementCache& cache;
      detail::StatementCache::Entry& entry;
      ~Release() { cache.release(entry); }
    } release{cache, *cached};
    return run_statement(cached->stmt, params, deadline, out, &cached->columns, max_rows, scan);
  }
  // A cached text passed this check when it was first prepared.
  if (auto st = sql::check_sql_text(path, sql); !st) return st;
  const bool cacheable = detail::StatementCache::cacheable(sql);
  std::string_view rest = sql;
  // Each round consumes at least one byte of `rest` or fails, and stops at the deadline: a
  // text of a million statements ends like one long statement does.
  while (!blank(rest)) {
    if (rest.data() != sql.data() && deadline.expired()) {  // the first was checked on entry
      return Error::timeout(path + ": deadline passed between statements of one text");
    }
    Stmt stmt;
    const char* tail = nullptr;
    session_->touched = false;
    if (auto st = prepare_first(rest, deadline, cacheable, &stmt.p, &tail); !st) return st;
    if (tail == nullptr || tail <= rest.data() || tail > rest.data() + rest.size()) {
      return Error::make(ErrorKind::internal, path + ": SQLite consumed none of the text at offset " +
                                                  std::to_string(rest.data() - sql.data()));
    }
    const std::string_view next(tail, static_cast<std::size_t>(rest.data() + rest.size() - tail));
    const bool whole_text = rest.data() == sql.data() && blank(next);
    rest = next;
    if (stmt.p == nullptr) continue;  // only a comment
    if (!params.empty() && !blank(next)) {
      return Error::make(ErrorKind::invalid_argument,
                         path + ": parameters can only be bound to a single statement; run the others separately");
    }
    if (scan != nullptr && !whole_text) {
      return Error::make(ErrorKind::invalid_argument, path + ": scan_row takes a single statement");
    }
    Status st = run_statement(stmt.p, params, deadline, out, nullptr, max_rows, scan);
    if (whole_text && cacheable && !session_->touched) cache.insert(std::string(sql), std::exchange(stmt.p, nullptr));
    if (!st) return st;
  }
  return {};
}

// Prepares the first statement of `rest`, retrying while the schema is locked mid-change.
Status Connection::prepare_first(std::string_view rest, Deadline deadline, bool persistent, sqlite3_stmt** stmt,
                                 const char** tail) {
  // A length past INT_MAX would turn negative, which SQLite reads as "up to the first NUL".
  if (rest.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return Error::make(ErrorKind::invalid_argument, session_->path + ": SQL text of " + std::to_string(rest.size()) +
                                                        " bytes is longer than SQLite takes (2147483647)");
  }
  const unsigned flags = persistent ? SQLITE_PREPARE_PERSISTENT : 0;
  int rc = sqlite3_prepare_v3(db_, rest.data(), static_cast<int>(rest.size()), flags, stmt, tail);
  while ((rc & 0xff) == SQLITE_BUSY && !deadline.expired()) {
    detail::pause(deadline, session_->busy_sleep_max);
    rc = sqlite3_prepare_v3(db_, rest.data(), static_cast<int>(rest.size()), flags, stmt, tail);
  }
  if (rc == SQLITE_OK) return {};
  if (rc == SQLITE_AUTH && !session_->denied.empty()) {
    return Error(ErrorKind::invalid_argument, session_->path + ": " + session_->denied, false, "SQLITE_AUTH");
  }
  if (detail::breaks_connection(rc)) broken_ = true;
  return detail::make_error(db_, rc, session_->path);
}

// Steps one statement to completion. In autocommit mode a busy statement is retried from the
// start until the deadline (it was rolled back as a whole, so nothing runs twice); inside an
// explicit transaction it cannot be (its snapshot may be stale), so the caller gets the
// timeout and rolls back.
Status Connection::run_statement(sqlite3_stmt* stmt, std::span<const sql::Value> params, Deadline deadline,
                                 sql::Rows* out, detail::KeptColumns* columns, std::size_t max_rows,
                                 detail::RowScan* scan) {
  const std::string& path = session_->path;
  if (auto st = bind_all(stmt, params, path); !st) return st;
  // Known before the first step, so a mismatch runs nothing (a write with RETURNING included).
  if (scan != nullptr && sqlite3_column_count(stmt) != static_cast<int>(scan->targets.size())) {
    return Error::make(ErrorKind::invalid_argument, path + ": scan_row: the statement yields " +
                                                        std::to_string(sqlite3_column_count(stmt)) + " columns, " +
                                                        std::to_string(scan->targets.size()) + " variables given");
  }
  const bool read_only = sqlite3_stmt_readonly(stmt) != 0;
  // The pool's own statements never queue at the gate: they change this connection (PRAGMAs,
  // temp objects) or end its transaction, never the store. A connect that queued there could
  // wait for a writer who holds a WriteTurn and waits for that very connection.
  if (!read_only && !session_->internal) {
    if (auto st = detail::enter_writer_gate(*session_, deadline); !st) return st;
  }
  // Counted after stepping: a step may re-prepare the statement for a changed schema (an added
  // column widens `SELECT *`).
  int ncols = 0;
  std::vector<sql::Value> values;
  std::size_t row_count = 0;
  for (;;) {
    const int rc = sqlite3_step(stmt);
    ncols = sqlite3_column_count(stmt);
    if (rc == SQLITE_ROW) {
      if (scan != nullptr) {
        if (!scan->found) {
          if (auto st = read_row_into(stmt, scan->targets, path); !st) return st;
          scan->found = true;
        }
        if (read_only) break;  // as query_row(): a read stops at its row
        continue;
      }
      if (!out || row_count == max_rows) continue;  // a writing statement still runs to the end
      if (++row_count == 1) values.reserve(static_cast<std::size_t>(ncols));
      for (int c = 0; c < ncols; ++c) values.push_back(column_value(stmt, c));
      // A read stops at its last wanted row (the caller resets it): no step to find the end.
      if (row_count == max_rows && read_only) break;
      continue;
    }
    if (rc == SQLITE_DONE) break;
    const int xrc = sqlite3_extended_errcode(db_);
    const bool busy = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
    if (busy && sqlite3_get_autocommit(db_) && !deadline.expired()) {
      sqlite3_reset(stmt);
      values.clear();
      row_count = 0;
      if (scan != nullptr) scan->found = false;
      detail::pause(deadline, session_->busy_sleep_max);
      continue;
    }
    if (busy) return detail::busy_timeout(xrc, path);
    if ((rc & 0xff) == SQLITE_INTERRUPT && deadline.expired()) {
      return Error(ErrorKind::timeout, path + ": statement still running at its deadline; interrupted", true,
                   "SQLITE_INTERRUPT");
    }
    if (detail::breaks_connection(rc)) broken_ = true;
    return detail::make_error(db_, xrc, path);
  }
  if (out) *out = sql::Rows::with_shared_columns(column_names(stmt, ncols, columns), row_count, std::move(values));
  return {};
}

}  // namespace reservoir::sqlite
