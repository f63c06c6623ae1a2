// reservoir/sqlite/connection.hpp — sqlite::Connection: one SQLite handle on a store file,
// with deadline-bounded queries (the sql.hpp helper shape).
//
// Busy waits never use a fixed busy_timeout: a busy handler sleeps in short steps until the
// current call's deadline, then the call returns `timeout` naming what holds the lock. So
// `database is locked` never reaches a caller who still had time, and no call outlives its
// deadline by more than one step (Config::busy_sleep_max).
//
// Each connection holds a share of its store's StoreLock (store_lock.hpp): the process owns
// the file as long as any connection on it is open.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "reservoir/deadline.hpp"
#include "reservoir/error.hpp"
#include "reservoir/sql.hpp"
#include "reservoir/sqlite/store_lock.hpp"
#include "reservoir/sqlite/write_turn.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace reservoir::sqlite {

namespace detail {
struct Session;
struct KeptColumns;

// One out-parameter of Connection::scan_row(), its type erased: `out` points at a T, or at a
// std::optional<T> when `optional`.
struct ScanTarget {
  enum class Kind : std::uint8_t { int64, real, text, value };
  Kind kind;
  bool optional;
  void* out;
};
inline ScanTarget scan_target(std::int64_t& v) noexcept { return {ScanTarget::Kind::int64, false, &v}; }
inline ScanTarget scan_target(double& v) noexcept { return {ScanTarget::Kind::real, false, &v}; }
inline ScanTarget scan_target(std::string& v) noexcept { return {ScanTarget::Kind::text, false, &v}; }
inline ScanTarget scan_target(std::optional<std::int64_t>& v) noexcept { return {ScanTarget::Kind::int64, true, &v}; }
inline ScanTarget scan_target(std::optional<double>& v) noexcept { return {ScanTarget::Kind::real, true, &v}; }
inline ScanTarget scan_target(std::optional<std::string>& v) noexcept { return {ScanTarget::Kind::text, true, &v}; }
inline ScanTarget scan_target(sql::Value& v) noexcept { return {ScanTarget::Kind::value, false, &v}; }

// What scan_row() asked for and whether a row came.
struct RowScan {
  std::span<const ScanTarget> targets;
  bool found = false;
};
}  // namespace detail

class Connection {
 public:
  // Takes ownership of an open handle and a share of the store lock. Used by
  // Connector::connect().
  Connection(sqlite3* db, StoreLock lock, std::unique_ptr<detail::Session> session) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  // Closes the handle (sqlite3_close_v2), then releases the store-lock share.
  ~Connection();

  // Runs `sql` with parameters bound to ?1..?N and reads every row. Without parameters,
  // several ;-separated statements are allowed and the last one's rows are returned.
  // Integers read as int64, reals as double, text and blobs as text, NULL as monostate.
  // Errors (code() = the SQLite result code name, e.g. SQLITE_CONSTRAINT_UNIQUE):
  //   timeout          — another writer held the database lock until the deadline;
  //   backend          — SQLite rejected the statement (syntax, constraint, read-only store);
  //                      not retryable;
  //   timeout          — also: a statement still running at the deadline (interrupted; the
  //                      connection stays usable), or the deadline passing between statements;
  //   invalid_argument — several statements with parameters, a parameter count mismatch, SQL
  //                      text holding a NUL byte (sql::check_sql_text), or a PRAGMA the pool
  //                      manages (busy_timeout, journal_mode, locking_mode);
  //   unavailable      — I/O error, the file vanished or is damaged; the connection is then
  //                      broken and the pool closes it.
  Result<sql::Rows> query(std::string_view sql, std::span<const sql::Value> params, Deadline deadline);
  Result<sql::Rows> query(std::string_view sql, std::initializer_list<sql::Value> params, Deadline deadline) {
    return query(sql, std::span<const sql::Value>(params.begin(), params.size()), deadline);
  }
  Result<sql::Rows> query(std::string_view sql, Deadline deadline) { return query(sql, {}, deadline); }

  // Like query(), for a statement that yields at most one row worth reading (a lookup by key):
  // the first row, or none. A read-only statement is not stepped past that row (a full read
  // costs one more step to find there is no second one); any other runs to completion.
  Result<sql::Rows> query_row(std::string_view sql, std::span<const sql::Value> params, Deadline deadline);
  Result<sql::Rows> query_row(std::string_view sql, std::initializer_list<sql::Value> params, Deadline deadline) {
    return query_row(sql, std::span<const sql::Value>(params.begin(), params.size()), deadline);
  }
  Result<sql::Rows> query_row(std::string_view sql, Deadline deadline) { return query_row(sql, {}, deadline); }

  // Reads the first row of one statement straight into `out...` (Go's Row.Scan): no sql::Rows
  // is built, and a std::string keeps its capacity, so a read into reused variables allocates
  // nothing. Returns true with every out set, or false when there is no row (outs untouched).
  // Each out is std::int64_t (an INTEGER column), double (REAL or INTEGER), std::string (TEXT
  // or BLOB), std::optional of one of those (NULL reads as nullopt), or sql::Value (any,
  // as query() reads it). Stepping stops as query_row()'s does.
  // Errors: as query(); invalid_argument when the row has another number of columns than
  // outs, a column's type does not fit its out (NULL into a non-optional), or the text holds
  // several statements. After an error the outs may hold part of the row.
  template <class... Out>
  Result<bool> scan_row(std::string_view sql, std::span<const sql::Value> params, Deadline deadline, Out&... out) {
    static_assert(sizeof...(Out) > 0, "scan_row() reads into at least one variable");
    const detail::ScanTarget targets[] = {detail::scan_target(out)...};
    return scan_first_row(sql, params, deadline, targets);
  }
  template <class... Out>
  Result<bool> scan_row(std::string_view sql, std::initializer_list<sql::Value> params, Deadline deadline,
                        Out&... out) {
    return scan_row(sql, std::span<const sql::Value>(params.begin(), params.size()), deadline, out...);
  }
  template <class... Out>
  Result<bool> scan_row(std::string_view sql, Deadline deadline, Out&... out) {
    return scan_row(sql, std::span<const sql::Value>(), deadline, out...);
  }

  // Like query(); returns the rows changed (inserted, updated, deleted) by all statements run.
  Result<std::int64_t> execute(std::string_view sql, std::span<const sql::Value> params, Deadline deadline);
  Result<std::int64_t> execute(std::string_view sql, std::initializer_list<sql::Value> params, Deadline deadline) {
    return execute(sql, std::span<const sql::Value>(params.begin(), params.size()), deadline);
  }
  Result<std::int64_t> execute(std::string_view sql, Deadline deadline) { return execute(sql, {}, deadline); }

  // Takes over `turn` (Connector::write_turn) when it holds this store's writer gate: this
  // connection's next write does not wait at the gate again, and leaves it when that write (or
  // its transaction) ends, at the latest when the connection goes back to the pool. Adopt right
  // before the write: a read in between ends the turn. Returns whether it was taken over (not
  // when the turn is not held, or is another store's).
  bool adopt(WriteTurn& turn) noexcept;

  // Inside an explicit transaction (BEGIN without COMMIT/ROLLBACK yet).
  bool in_transaction() const noexcept;
  // Broken: an I/O, corruption or misuse error; never reused.
  bool is_broken() const noexcept { return broken_; }
  void mark_broken() noexcept { broken_ = true; }
  // The rowid of the last INSERT since this lease began, 0 before one (as SQL's
  // last_insert_rowid()). In SQL, changes() and total_changes() count this lease too, as on a
  // fresh connection: total_changes() is the rows changed since the lease began (since connect
  // or the last Connector::reset()). Through native_handle(), sqlite3_total_changes() stays
  // SQLite's own count over the connection's life.
  int64_t last_insert_rowid() const noexcept;
  // The canonical store path.
  const std::string& path() const noexcept { return lock_.path(); }
  const StoreLock& store_lock() const noexcept { return lock_; }

  // The raw handle, for what the helper does not cover. Do not install a busy handler or
  // busy_timeout on it (that would replace the deadline-bounded one), nor a WAL hook or
  // sqlite3_wal_autocheckpoint() (that would replace the background checkpointer's hook).
  sqlite3* native_handle() noexcept { return db_; }

 private:
  friend class Connector;
  friend class Transaction;

  detail::Session& session() noexcept { return *session_; }
  // Forgets the handle without closing it (a connection inherited across fork(): closing it
  // here could checkpoint the parent's WAL). Used by Connector::abandon().
  void forget_handle() noexcept { db_ = nullptr; }
  Result<bool> scan_first_row(std::string_view sql, std::span<const sql::Value> params, Deadline deadline,
                              std::span<const detail::ScanTarget> targets);
  // Runs every statement in `sql`; keeps the last statement's rows in `out` if given, or reads
  // the first row into `scan` (one statement only).
  Status run(std::string_view sql, std::span<const sql::Value> params, Deadline deadline, sql::Rows* out,
             std::size_t max_rows = SIZE_MAX, detail::RowScan* scan = nullptr);
  Status prepare_first(std::string_view rest, Deadline deadline, bool persistent, sqlite3_stmt** stmt,
                       const char** tail);
  // `columns`: the names kept for this statement (reused until SQLite re-prepares it), or null
  // to build them for this result alone.
  Status run_statement(sqlite3_stmt* stmt, std::span<const sql::Value> params, Deadline deadline, sql::Rows* out,
                       detail::KeptColumns* columns = nullptr, std::size_t max_rows = SIZE_MAX,
                       detail::RowScan* scan = nullptr);

  sqlite3* db_;
  StoreLock lock_;
  std::unique_ptr<detail::Session> session_;
  bool broken_ = false;
};

}  // namespace reservoir::sqlite
