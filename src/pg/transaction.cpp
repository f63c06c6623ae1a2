#include "reservoir/pg/transaction.hpp"

#include <libpq-fe.h>

namespace reservoir::pg {

namespace {

bool is_identifier(std::string_view name) noexcept {
  if (name.empty() || name.size() > 63) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char ch = name[i];
    const bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
    if (!alpha && (i == 0 || ch < '0' || ch > '9')) return false;
  }
  return true;
}

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
  if (!is_identifier(name)) {
    return Error::make(ErrorKind::invalid_argument,
                       "savepoint name '" + std::string(name) + "': must match [A-Za-z_][A-Za-z0-9_]{0,62}");
  }
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
