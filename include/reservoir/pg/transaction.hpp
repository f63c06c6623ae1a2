// reservoir/pg/transaction.hpp — pg::Transaction (a BEGIN..COMMIT guard with savepoints) and
// with_transaction (acquire, run, commit; rerun on serialization failure or deadlock).
#pragma once

#include <chrono>
#include <string_view>
#include <type_traits>
#include <utility>

#include "reservoir/pg/connection.hpp"
#include "reservoir/pg/connector.hpp"
#include "reservoir/pg/errors.hpp"
#include "reservoir/sql.hpp"
#include "reservoir/sql_retry.hpp"
#include "reservoir/typed_pool.hpp"

namespace reservoir::pg {

class Transaction {
 public:
  // BEGIN [ISOLATION LEVEL ...] [READ ONLY]. Later statements use `deadline` unless given
  // their own. Errors: invalid_argument (already in a transaction), as Connection::query().
  static Result<Transaction> begin(Connection& conn, sql::TxOptions options, Deadline deadline);

  Transaction(Transaction&& other) noexcept
      : conn_(std::exchange(other.conn_, nullptr)), deadline_(other.deadline_) {}
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  // Rolls back if neither commit() nor rollback() ran (bounded by kDestructorBound; a failed
  // rollback marks the connection broken so the pool closes it).
  ~Transaction();

  // Savepoint names are SQL identifiers ([A-Za-z_][A-Za-z0-9_]*).
  // Errors: invalid_argument (bad name, transaction finished), as Connection::query().
  Status savepoint(std::string_view name) { return savepoint(name, deadline_); }
  Status savepoint(std::string_view name, Deadline deadline);
  // Undoes everything after savepoint `name`; work before it stays. Same errors.
  Status rollback_to(std::string_view name) { return rollback_to(name, deadline_); }
  Status rollback_to(std::string_view name, Deadline deadline);
  Status release(std::string_view name) { return release(name, deadline_); }
  Status release(std::string_view name, Deadline deadline);
  // Errors: backend 40001/40P01 (retryable: rerun the transaction), backend 25P02 when an
  // earlier statement failed (the server rolled back instead), as Connection::query().
  Status commit() { return commit(deadline_); }
  Status commit(Deadline deadline);
  Status rollback() { return rollback(deadline_); }
  Status rollback(Deadline deadline);

  bool active() const noexcept { return conn_ != nullptr; }
  // The connection the transaction runs on (valid while active()).
  Connection& connection() const noexcept { return *conn_; }
  Deadline deadline() const noexcept { return deadline_; }

  static constexpr std::chrono::milliseconds kDestructorBound{2000};

 private:
  Transaction(Connection& conn, Deadline deadline) noexcept : conn_(&conn), deadline_(deadline) {}
  Status run_named(std::string_view verb, std::string_view name, Deadline deadline);

  Connection* conn_;
  Deadline deadline_;
};

// The shared SQL shape, checked wherever this backend is built.
static_assert(sql::SqlConnection<Connection>);
static_assert(sql::SqlTransaction<Transaction>);

// Acquires a connection from `pool`, runs `fn(Transaction&)` in a transaction and commits.
// `fn` returns Status or Result<T>; an error from it rolls back and is returned, an exception
// rolls back and propagates; fn may also commit or roll back itself. A serialization failure
// or deadlock (from fn or from COMMIT) reruns the whole function on a fresh transaction after
// a short jittered backoff on the pool's clock, within `deadline` and `retry.max_attempts`;
// so does a connection found dead at BEGIN (nothing ran yet). The loop is the resilience
// retry loop, shared with sqlite::with_transaction (sql_retry.hpp).
// Errors: as Pool::acquire(), Transaction, and fn's own.
template <class Fn>
auto with_transaction(TypedPool<Connector>& pool, Fn&& fn, sql::TxOptions options, Deadline deadline,
                      const sql::TransactionRetry& retry = {}) -> std::invoke_result_t<Fn&, Transaction&> {
  return sql::detail::with_transaction<Transaction>(pool, fn, options, deadline, retry,
                                                    [](const Error& e) { return is_transaction_conflict(e); });
}

// As above, bounded by kDefaultTransactionTimeout on the pool's clock.
inline constexpr std::chrono::seconds kDefaultTransactionTimeout{30};
template <class Fn>
auto with_transaction(TypedPool<Connector>& pool, Fn&& fn, sql::TxOptions options = {}) {
  return with_transaction(pool, std::forward<Fn>(fn), options,
                          Deadline::after(pool.untyped().clock(), kDefaultTransactionTimeout));
}

}  // namespace reservoir::pg
