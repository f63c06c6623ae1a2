// sqlite::Transaction: BEGIN IMMEDIATE .. COMMIT with savepoints.
#include "reservoir/sqlite/transaction.hpp"

#include "session.hpp"

namespace reservoir::sqlite {

namespace {

Status as_status(Result<std::int64_t> r) {
  if (!r) return std::move(r).error();
  return {};
}

}  // namespace

// Our own statements: the authorizer must not count query_only as a borrower's change.
Status Transaction::internal_exec(Connection& conn, const std::string& sql, Deadline deadline) {
  detail::CallScope scope(conn.session(), deadline, /*internal=*/true);
  return as_status(conn.execute(sql, deadline));
}

Result<Transaction> Transaction::begin(Connection& conn, sql::TxOptions options, Deadline deadline) {
  if (Status s = sql::check_tx_options(conn.path(), options); !s) return std::move(s).error();
  if (conn.in_transaction()) {
    return Error::make(ErrorKind::invalid_argument, conn.path() + ": a transaction is already open on this connection");
  }
  if (options.read_only) {
    if (auto st = internal_exec(conn, "BEGIN DEFERRED", deadline); !st) return std::move(st).error();
    if (auto st = internal_exec(conn, "PRAGMA query_only=1", deadline); !st) {
      (void)internal_exec(conn, "ROLLBACK", deadline);
      return std::move(st).error();
    }
    return Transaction(conn, deadline, true);
  }
  // The writer gate first: queued writers of this process are woken as soon as it is free,
  // where SQLite's busy handler could only sleep and retry. A failed BEGIN leaves it again.
  if (auto st = detail::enter_writer_gate(conn.session(), deadline); !st) return std::move(st).error();
  if (auto st = internal_exec(conn, "BEGIN IMMEDIATE", deadline); !st) {
    detail::leave_writer_gate_if_done(conn.session(), conn.native_handle());
    return std::move(st).error();
  }
  return Transaction(conn, deadline, false);
}

Transaction::~Transaction() {
  if (!conn_) return;
  if (!rollback(Deadline::after(deadline_.clock(), kDestructorBound))) {
    if (conn_) conn_->mark_broken();
    conn_ = nullptr;
  }
}

Status Transaction::run_named(std::string_view verb, std::string_view name, Deadline deadline) {
  if (!conn_) return Error::make(ErrorKind::invalid_argument, "transaction already finished");
  if (Status s = sql::check_savepoint_name(name, 64); !s) return s;
  return internal_exec(*conn_, std::string(verb) + " " + std::string(name), deadline);
}

Status Transaction::savepoint(std::string_view name, Deadline deadline) { return run_named("SAVEPOINT", name, deadline); }
Status Transaction::rollback_to(std::string_view name, Deadline deadline) {
  return run_named("ROLLBACK TO SAVEPOINT", name, deadline);
}
Status Transaction::release(std::string_view name, Deadline deadline) {
  return run_named("RELEASE SAVEPOINT", name, deadline);
}

// Ends the transaction. A COMMIT that fails (a deferred constraint) leaves it open; the
// guard stays active so the destructor rolls it back.
Status Transaction::finish(std::string_view sql, Deadline deadline) {
  if (!conn_) return Error::make(ErrorKind::invalid_argument, "transaction already finished");
  Status st = internal_exec(*conn_, std::string(sql), deadline);
  if (conn_->in_transaction()) return st;
  // Its own bound, not the caller's deadline (which may have run out during COMMIT): a
  // query_only=1 left behind would make the pooled connection read-only for the next borrower,
  // and reset() does not know about it. If even that fails, the connection must not be reused.
  if (read_only_ && !internal_exec(*conn_, "PRAGMA query_only=0", Deadline::after(deadline.clock(), kDestructorBound))) {
    conn_->mark_broken();
  }
  conn_ = nullptr;
  return st;
}

Status Transaction::commit(Deadline deadline) { return finish("COMMIT", deadline); }
Status Transaction::rollback(Deadline deadline) { return finish("ROLLBACK", deadline); }

}  // namespace reservoir::sqlite
