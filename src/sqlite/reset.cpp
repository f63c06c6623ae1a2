// sqlite::Connector::reset: undo what a borrower changed, so it never reaches the next one.
// The authorizer recorded what changed; a connection nobody dirtied costs one
// sqlite3_get_autocommit() call.
#include <vector>

#include "reservoir/sqlite/connector.hpp"
#include "session.hpp"

namespace reservoir::sqlite {

namespace {

std::string quote_identifier(const std::string& name) {
  std::string q = "\"";
  for (char c : name) {
    if (c == '"') q.push_back('"');
    q.push_back(c);
  }
  q.push_back('"');
  return q;
}

// Triggers and views first: they may depend on the tables.
Status drop_temp_objects(Connection& conn, Deadline deadline) {
  auto rows = conn.query(
      "SELECT type, name FROM temp.sqlite_master WHERE type IN ('trigger','view','table') "
      "AND name NOT LIKE 'sqlite_%' ORDER BY CASE type WHEN 'trigger' THEN 0 WHEN 'view' THEN 1 ELSE 2 END",
      deadline);
  if (!rows) return std::move(rows).error();
  for (std::size_t i = 0; i < rows->size(); ++i) {
    const std::string type = sql::to_text(rows->at(i, 0));
    const std::string verb = type == "trigger" ? "DROP TRIGGER" : type == "view" ? "DROP VIEW" : "DROP TABLE";
    auto r = conn.execute(verb + " IF EXISTS temp." + quote_identifier(sql::to_text(rows->at(i, 1))), deadline);
    if (!r) return std::move(r).error();
  }
  return {};
}

Status detach_all(Connection& conn, Deadline deadline) {
  auto rows = conn.query("PRAGMA database_list", deadline);
  if (!rows) return std::move(rows).error();
  for (std::size_t i = 0; i < rows->size(); ++i) {
    const std::string name = sql::to_text(rows->at(i, 1));
    if (name == "main" || name == "temp") continue;
    auto r = conn.execute("DETACH DATABASE " + quote_identifier(name), deadline);
    if (!r) return std::move(r).error();
  }
  return {};
}

Status restore_pragmas(Connection& conn, detail::Session& s, Deadline deadline) {
  for (const std::string& name : s.pragmas_written) {
    auto it = s.pragma_defaults.find(name);
    if (it == s.pragma_defaults.end()) {
      return Error::make(ErrorKind::internal, s.path + ": cannot restore PRAGMA " + name + " (its value at connect is unknown)");
    }
    auto r = conn.execute("PRAGMA " + name + "=" + it->second, deadline);
    if (!r) return std::move(r).error();
  }
  s.pragmas_written.clear();
  return {};
}

}  // namespace

Status Connector::reset(Connection& conn, Deadline deadline) {
  if (conn.is_broken() || conn.native_handle() == nullptr) {
    return Error::unavailable(config_.path, "connection is broken");
  }
  detail::Session& s = conn.session();
  detail::CallScope scope(s, deadline, /*internal=*/true);
  if (conn.in_transaction()) {
    auto r = conn.execute("ROLLBACK", deadline);
    if (!r) return std::move(r).error();
  }
  // A write turn adopted and never used is still inside the gate: the next borrower must not
  // inherit it.
  detail::leave_writer_gate_if_done(s, conn.native_handle());
  // PRAGMAs first: a borrower's query_only=1 would make dropping its temp tables fail.
  if (!s.pragmas_written.empty()) {
    if (auto st = restore_pragmas(conn, s, deadline); !st) return st;
  }
  if (s.temp_objects) {
    if (auto st = drop_temp_objects(conn, deadline); !st) return st;
    s.temp_objects = false;
  }
  if (s.attached) {
    if (auto st = detach_all(conn, deadline); !st) return st;
    s.attached = false;
  }
  detail::start_counts_afresh(conn.native_handle(), s);
  return {};
}

}  // namespace reservoir::sqlite
