#include "reservoir/pg/transaction.hpp"

#include <libpq-fe.h>

namespace reservoir::pg {

namespace {

std::string begin_sql(sql::TxOptions options) {
  std::string text = "BEGIN";
  if (options.isolation != sql::Isolation::default_level) {
    text.append(" ISOLATION LEVEL ").append(sql::isolation_sql(options.isolation));
  }
  if (options.read_only) text += " READ ONLY";
  return text;
}

Error finished() { return Error::make(ErrorKind::invalid_argument, "transaction already committed or rolled back"); }

}  // namespace

Result<Transaction> Transaction::begin(Connection& conn, sql::TxOptions options, Deadline deadline) {
  if (conn.in_transaction()) {
    return Error::make(ErrorKind::invalid_argument, conn.endpoint() + ": already in a transaction");
  }
  conn.used_ = true;
  if (Status s = conn.run_simple(begin_sql(options), deadline); !s) return std::move(s).error();
  return Transaction(conn, deadline);
}

Transaction::~Transaction() {
  if (conn_ == nullptr || conn_->is_broken()) return;
  // The caller's deadline may be long gone; the rollback gets its own short bound.
  const Clock& clock = deadline_.clock();
  if (!conn_->run_simple("ROLLBACK", Deadline::after(clock, kDestructorBound))) conn_->mark_broken();
}

Status Transaction::run_named(std::string_view verb, std::string_view name, Deadline deadline) {
  if (conn_ == nullptr) return finished();
  // PostgreSQL truncates identifiers past NAMEDATALEN - 1 = 63 bytes.
  if (Status s = sql::check_savepoint_name(name, 63); !s) return s;
  std::string text(verb);
  text.append(" ").append(name);
  return conn_->run_simple(text, deadline);
}

Status Transaction::savepoint(std::string_view name, Deadline deadline) {
  return run_named("SAVEPOINT", name, deadline);
}

Status Transaction::rollback_to(std::string_view name, Deadline deadline) {
  return run_named("ROLLBACK TO SAVEPOINT", name, deadline);
}

Status Transaction::release(std::string_view name, Deadline deadline) {
  return run_named("RELEASE SAVEPOINT", name, deadline);
}

Status Transaction::commit(Deadline deadline) {
  if (conn_ == nullptr) return finished();
  Connection& conn = *std::exchange(conn_, nullptr);
  // In an aborted transaction the server answers COMMIT with ROLLBACK, not with an error.
  const bool aborted = PQtransactionStatus(conn.native_handle()) == PQTRANS_INERROR;
  if (Status s = conn.run_simple("COMMIT", deadline); !s) return s;
  if (aborted) {
    return Error(ErrorKind::backend,
                 conn.endpoint() + ": transaction rolled back at COMMIT: an earlier statement failed (SQLSTATE 25P02)",
                 false, "25P02");
  }
  return {};
}

Status Transaction::rollback(Deadline deadline) {
  if (conn_ == nullptr) return finished();
  Connection& conn = *std::exchange(conn_, nullptr);
  return conn.run_simple("ROLLBACK", deadline);
}

}  // namespace reservoir::pg
