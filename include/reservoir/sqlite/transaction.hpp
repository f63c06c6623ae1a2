// reservoir/sqlite/transaction.hpp — sqlite::Transaction: a BEGIN..COMMIT guard with
// savepoints (the sql.hpp shape shared with pg::Transaction), and with_transaction (acquire,
// run, commit).
//
// Write transactions start with BEGIN IMMEDIATE: the write lock is taken up front (waiting up
// to the deadline), so a transaction never fails halfway when it first writes, the classic
// SQLITE_BUSY of a deferred read-then-write transaction in WAL mode. SQLite transactions are
// always serializable, which satisfies every sql::Isolation level.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "reservoir/sql.hpp"
#include "reservoir/sql_retry.hpp"
#include "reservoir/sqlite/connection.hpp"
#include "reservoir/sqlite/connector.hpp"
#include "reservoir/typed_pool.hpp"

namespace reservoir::sqlite {

class Transaction {
 public:
  // BEGIN IMMEDIATE, or for read_only BEGIN DEFERRED with PRAGMA query_only on (a write then
  // fails with backend SQLITE_READONLY). Later calls use `deadline` unless given their own.
  // Errors: invalid_argument (already in a transaction), timeout (another writer held the
  // lock until the deadline), as Connection::query().
  static Result<Transaction> begin(Connection& conn, sql::TxOptions options, Deadline deadline);

  Transaction(Transaction&& other) noexcept
      : conn_(std::exchange(other.conn_, nullptr)), deadline_(other.deadline_), read_only_(other.read_only_) {}
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  // Rolls back if neither commit() nor rollback() ran; a failed rollback marks the connection
  // broken so the pool closes it.
  ~Transaction();

  // Savepoint names are identifiers ([A-Za-z_][A-Za-z0-9_]*, at most 64 characters).
  // Errors: invalid_argument (bad name, transaction finished), as Connection::query().
  Status savepoint(std::string_view name) { return savepoint(name, deadline_); }
  Status savepoint(std::string_view name, Deadline deadline);
  // Undoes everything after savepoint `name`; work before it stays, and so does the
  // savepoint. Same errors.
  Status rollback_to(std::string_view name) { return rollback_to(name, deadline_); }
  Status rollback_to(std::string_view name, Deadline deadline);
  // Forgets savepoint `name`, keeping its work. Same errors.
  Status release(std::string_view name) { return release(name, deadline_); }
  Status release(std::string_view name, Deadline deadline);
  // Errors: invalid_argument (finished), backend (a deferred constraint failed; the
  // transaction stays open and the destructor rolls it back), as Connection::query().
  Status commit() { return commit(deadline_); }
  Status commit(Deadline deadline);
  Status rollback() { return rollback(deadline_); }
  Status rollback(Deadline deadline);

  bool active() const noexcept { return conn_ != nullptr; }
  Connection& connection() const noexcept { return *conn_; }
  Deadline deadline() const noexcept { return deadline_; }

  static constexpr std::chrono::milliseconds kDestructorBound{2000};

 private:
  Transaction(Connection& conn, Deadline deadline, bool read_only) noexcept
      : conn_(&conn), deadline_(deadline), read_only_(read_only) {}
  Status run_named(std::string_view verb, std::string_view name, Deadline deadline);
  Status finish(std::string_view sql, Deadline deadline);
  static Status internal_exec(Connection& conn, const std::string& sql, Deadline deadline);

  Connection* conn_;
  Deadline deadline_;
  bool read_only_;
};

// A read transaction that lost a race with a writer (SQLITE_BUSY_SNAPSHOT): rerunning the
// whole transaction can succeed. Write transactions (BEGIN IMMEDIATE) never conflict.
inline bool is_transaction_conflict(const Error& error) noexcept { return error.code() == "SQLITE_BUSY_SNAPSHOT"; }

// The shared SQL shape, checked wherever this backend is built.
static_assert(sql::SqlConnection<Connection>);
static_assert(sql::SqlTransaction<Transaction>);

// Acquires a connection from `pool`, runs `fn(Transaction&)` in a transaction and commits;
// the same function as pg::with_transaction (sql_retry.hpp), so workloads are written once.
// `fn` returns Status or Result<T>; an error from it rolls back and is returned, an exception
// rolls back and propagates; fn may also commit or roll back itself. A conflict, or a
// connection found broken at BEGIN, reruns the whole function after a short jittered backoff
// on the pool's clock (real time in production, where the writer we lost to runs), within
// `deadline` and `retry.max_attempts`.
// Errors: as Pool::acquire(), Transaction, and fn's own.
template <class Fn>
auto with_transaction(TypedPool<Connector>& pool, Fn&& fn, sql::TxOptions options, Deadline deadline,
                      const sql::TransactionRetry& retry = {}) -> std::invoke_result_t<Fn&, Transaction&> {
  return sql::detail::with_transaction<Transaction>(pool, fn, options, deadline, retry,
                                                    [](const Error& e) { return is_transaction_conflict(e); });
}

// As above, for a store whose writers take turns (write_turn.hpp): each attempt of a write
// transaction takes the store's WriteTurn before it borrows a connection, so it queues holding
// none; a read-only transaction takes no turn. Errors: as above, and timeout when another
// writer of this process kept the turn until the deadline (nothing was borrowed).
template <class Fn>
auto with_transaction_after_turn(TypedPool<Connector>& pool, Fn&& fn, sql::TxOptions options, Deadline deadline,
                                 const sql::TransactionRetry& retry = {}) -> std::invoke_result_t<Fn&, Transaction&> {
  struct Turn {
    WriteTurn turn;
    void hand(Connection& conn) noexcept { conn.adopt(turn); }
  };
  auto take_turn = [&pool, read_only = options.read_only](Deadline d) -> Result<Turn> {
    if (read_only) return Turn{};
    auto turn = pool.connector().write_turn(d);
    if (!turn) return std::move(turn).error();
    return Turn{std::move(turn).value()};
  };
  return sql::detail::with_transaction<Transaction>(
      pool, fn, options, deadline, retry, [](const Error& e) { return is_transaction_conflict(e); }, take_turn);
}

// As above, bounded by kDefaultTransactionTimeout on the pool's clock.
inline constexpr std::chrono::seconds kDefaultTransactionTimeout{30};
template <class Fn>
auto with_transaction(TypedPool<Connector>& pool, Fn&& fn, sql::TxOptions options = {}) {
  return with_transaction(pool, std::forward<Fn>(fn), options,
                          Deadline::after(pool.untyped().clock(), kDefaultTransactionTimeout));
}

}  // namespace reservoir::sqlite
