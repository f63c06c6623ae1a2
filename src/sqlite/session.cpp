// Busy handler, authorizer and error mapping for sqlite::Connection.
#include "session.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace reservoir::sqlite::detail {

namespace {


// Returns nonzero to make SQLite retry. Starts with short sleeps (a writer's commit usually
// takes well under a millisecond) and grows to busy_sleep_max.
int on_busy(void* arg, int count) {
  auto* s = static_cast<Session*>(arg);
  if (!s->deadline || s->deadline->expired()) return 0;
  const auto step = std::min<std::chrono::microseconds>(std::chrono::microseconds(20L << std::min(count, 10)),
                                                         s->busy_sleep_max);
  pause(*s->deadline, step);
  return 1;
}

// Called every kProgressOps virtual-machine steps of a running statement: nonzero interrupts
// it (SQLITE_INTERRUPT), so a statement that computes without end still ends at its deadline.
int on_progress(void* arg) {
  auto* s = static_cast<Session*>(arg);
  return s->deadline && s->deadline->expired() ? 1 : 0;
}

// One clock read per this many steps: well under 1% of a long statement's time; a short one
// (a point query takes a few dozen steps) never pays it.
constexpr int kProgressOps = 1000;

// changes() and total_changes() as a fresh connection would answer them. SQLite has no call
// that zeroes its counters, but an application function overrides a built-in of the same name.
// total_changes(): the rows changed since the lease began. changes(): the rows changed by this
// lease's last INSERT/UPDATE/DELETE, which is SQLite's own value once the lease changed a row;
// before that every write of the lease changed none (or there was none): 0.
void lease_total_changes(sqlite3_context* ctx, int, sqlite3_value**) {
  auto* s = static_cast<Session*>(sqlite3_user_data(ctx));
  sqlite3_result_int64(ctx, sqlite3_total_changes64(sqlite3_context_db_handle(ctx)) - s->changes_baseline);
}

void lease_changes(sqlite3_context* ctx, int, sqlite3_value**) {
  auto* s = static_cast<Session*>(sqlite3_user_data(ctx));
  sqlite3* db = sqlite3_context_db_handle(ctx);
  sqlite3_result_int64(ctx, sqlite3_total_changes64(db) > s->changes_baseline ? sqlite3_changes64(db) : 0);
}

// SQLite's own hook (sqlite3WalDefaultHook) for a store a borrower attached; the main store's
// commits go to the checkpointer.
int on_wal_commit(void* arg, sqlite3* db, const char* schema, int wal_pages) {
  auto* s = static_cast<Session*>(arg);
  if (std::strcmp(schema, "main") != 0) {
    if (wal_pages >= s->checkpoint_pages) sqlite3_wal_checkpoint(db, schema);
    return SQLITE_OK;
  }
  if (s->checkpointer) s->checkpointer->on_commit(db, wal_pages);
  return SQLITE_OK;
}

std::string lower(const char* text) {
  std::string out = text ? text : "";
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

int on_authorize(void* arg, int action, const char* a3, const char* a4, const char* db, const char*) {
  auto* s = static_cast<Session*>(arg);
  if (s->internal) return SQLITE_OK;
  switch (action) {
    case SQLITE_CREATE_TEMP_TABLE:
    case SQLITE_CREATE_TEMP_VIEW:
    case SQLITE_CREATE_TEMP_TRIGGER:
    case SQLITE_CREATE_TEMP_INDEX:
      s->temp_objects = s->touched = true;
      break;
    case SQLITE_CREATE_TABLE:
    case SQLITE_CREATE_VIEW:
    case SQLITE_CREATE_TRIGGER:
    case SQLITE_CREATE_VTABLE:  // not every module makes shadow tables that would be seen above
      if (db && lower(db) == "temp") s->temp_objects = s->touched = true;
      break;
    case SQLITE_ATTACH:
      s->attached = s->touched = true;
      break;
    case SQLITE_PRAGMA: {
      if (a4 == nullptr) break;  // a read
      const std::string name = lower(a3);
      s->touched = true;
      if (is_denied_pragma(name)) {
        s->denied = "PRAGMA " + name + " is managed by the pool (busy waits are bounded by each call's deadline; "
                    "the store stays in WAL mode)";
        return SQLITE_DENY;
      }
      if (name == "wal_autocheckpoint" && s->checkpointer) {
        s->denied = "PRAGMA wal_autocheckpoint is managed by the pool (checkpoints run in the background: "
                    "sqlite::Config::checkpoint, checkpoint_pages)";
        return SQLITE_DENY;
      }
      if (auto key = written_pragma_key(name, db ? lower(db) : std::string())) s->pragmas_written.insert(*key);
      break;
    }
    default:
      break;
  }
  return SQLITE_OK;
}

struct CodeName {
  int rc;
  const char* name;
};

constexpr CodeName kNames[] = {
    {SQLITE_CONSTRAINT_UNIQUE, "SQLITE_CONSTRAINT_UNIQUE"},
    {SQLITE_CONSTRAINT_PRIMARYKEY, "SQLITE_CONSTRAINT_PRIMARYKEY"},
    {SQLITE_CONSTRAINT_NOTNULL, "SQLITE_CONSTRAINT_NOTNULL"},
    {SQLITE_CONSTRAINT_FOREIGNKEY, "SQLITE_CONSTRAINT_FOREIGNKEY"},
    {SQLITE_CONSTRAINT_CHECK, "SQLITE_CONSTRAINT_CHECK"},
    {SQLITE_BUSY_SNAPSHOT, "SQLITE_BUSY_SNAPSHOT"},
    {SQLITE_BUSY_RECOVERY, "SQLITE_BUSY_RECOVERY"},
    {SQLITE_READONLY_DBMOVED, "SQLITE_READONLY_DBMOVED"},
    {SQLITE_ERROR, "SQLITE_ERROR"},
    {SQLITE_INTERNAL, "SQLITE_INTERNAL"},
    {SQLITE_PERM, "SQLITE_PERM"},
    {SQLITE_ABORT, "SQLITE_ABORT"},
    {SQLITE_BUSY, "SQLITE_BUSY"},
    {SQLITE_LOCKED, "SQLITE_LOCKED"},
    {SQLITE_NOMEM, "SQLITE_NOMEM"},
    {SQLITE_READONLY, "SQLITE_READONLY"},
    {SQLITE_INTERRUPT, "SQLITE_INTERRUPT"},
    {SQLITE_IOERR, "SQLITE_IOERR"},
    {SQLITE_CORRUPT, "SQLITE_CORRUPT"},
    {SQLITE_NOTFOUND, "SQLITE_NOTFOUND"},
    {SQLITE_FULL, "SQLITE_FULL"},
    {SQLITE_CANTOPEN, "SQLITE_CANTOPEN"},
    {SQLITE_PROTOCOL, "SQLITE_PROTOCOL"},
    {SQLITE_SCHEMA, "SQLITE_SCHEMA"},
    {SQLITE_TOOBIG, "SQLITE_TOOBIG"},
    {SQLITE_CONSTRAINT, "SQLITE_CONSTRAINT"},
    {SQLITE_MISMATCH, "SQLITE_MISMATCH"},
    {SQLITE_MISUSE, "SQLITE_MISUSE"},
    {SQLITE_AUTH, "SQLITE_AUTH"},
    {SQLITE_RANGE, "SQLITE_RANGE"},
    {SQLITE_NOTADB, "SQLITE_NOTADB"},
};

}  // namespace

void install_callbacks(sqlite3* db, Session& session) {
  sqlite3_busy_handler(db, on_busy, &session);
  sqlite3_set_authorizer(db, on_authorize, &session);
  sqlite3_progress_handler(db, kProgressOps, on_progress, &session);
  sqlite3_create_function_v2(db, "changes", 0, SQLITE_UTF8, &session, lease_changes, nullptr, nullptr, nullptr);
  sqlite3_create_function_v2(db, "total_changes", 0, SQLITE_UTF8, &session, lease_total_changes, nullptr, nullptr,
                             nullptr);
  start_counts_afresh(db, session);
}

void install_checkpoint_hook(sqlite3* db, Session& session) { sqlite3_wal_hook(db, on_wal_commit, &session); }

void start_counts_afresh(sqlite3* db, Session& s) noexcept {
  sqlite3_set_last_insert_rowid(db, 0);
  s.changes_baseline = sqlite3_total_changes64(db);
}

Status enter_writer_gate(Session& s, const Deadline& deadline) {
  if (s.gate_held || !s.gate) return {};
  if (!s.gate->enter(deadline)) {
    return Error(ErrorKind::timeout, s.path + ": another writer holds the database lock (in this process)", true,
                 "SQLITE_BUSY");
  }
  s.gate_held = true;
  return {};
}

void leave_writer_gate_if_done(Session& s, sqlite3* db) noexcept {
  if (!s.gate_held || (db && sqlite3_get_autocommit(db) == 0)) return;
  s.gate_held = false;
  s.gate->leave();
}

void pause(const Deadline& deadline, std::chrono::microseconds step) {
  const Clock& clock = deadline.clock();
  clock.sleep_until(std::min(clock.now() + Duration(step), deadline.when()));
}

std::string code_name(int extended_rc) {
  for (const auto& n : kNames) {
    if (n.rc == extended_rc) return n.name;
  }
  const int primary = extended_rc & 0xff;
  for (const auto& n : kNames) {
    if (n.rc == primary) return std::string(n.name) + "(" + std::to_string(extended_rc) + ")";
  }
  return "SQLITE_" + std::to_string(extended_rc);
}

Error busy_timeout(int extended_rc, const std::string& path) {
  std::string holder;
  switch (extended_rc) {
    case SQLITE_BUSY_RECOVERY: holder = "another connection is recovering the write-ahead log"; break;
    case SQLITE_BUSY_SNAPSHOT:
      holder = "another writer committed after this transaction started reading; restart the transaction";
      break;
    default:
      holder = (extended_rc & 0xff) == SQLITE_LOCKED
                   ? "a statement on this connection holds a conflicting table lock"
                   : "another writer holds the database lock";
  }
  return Error(ErrorKind::timeout, path + ": " + holder + " (" + code_name(extended_rc) + ")", true,
               code_name(extended_rc));
}

bool breaks_connection(int rc) noexcept {
  switch (rc & 0xff) {
    case SQLITE_IOERR:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_CANTOPEN:
    case SQLITE_MISUSE:
    case SQLITE_NOMEM:
    case SQLITE_FULL:
    case SQLITE_PROTOCOL:
      return true;
    default:
      return false;
  }
}

Error make_error(sqlite3* db, int rc, const std::string& path) {
  const std::string code = code_name(rc);
  const std::string what = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const std::string detail = path + ": " + what + " (" + code + ")";
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return busy_timeout(rc, path);
    case SQLITE_INTERRUPT:
      return Error(ErrorKind::timeout, detail, true, code);
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
      return Error(ErrorKind::invalid_argument, detail, false, code);
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
    case SQLITE_FULL:
    case SQLITE_PROTOCOL:
      return Error(ErrorKind::unavailable, detail, false, code);
    case SQLITE_NOMEM:
      return Error(ErrorKind::unavailable, detail, true, code);
    default:  // ERROR (syntax, missing table), CONSTRAINT, READONLY, SCHEMA, TOOBIG, MISMATCH, ...
      return Error(ErrorKind::backend, detail, false, code);
  }
}

bool is_denied_pragma(std::string_view name) noexcept {
  return name == "busy_timeout" || name == "journal_mode" || name == "locking_mode" || name == "soft_heap_limit" ||
         name == "hard_heap_limit";
}

const std::set<std::string, std::less<>>& temp_restorable_pragmas() {
  // The PRAGMAs whose value belongs to one schema (`PRAGMA temp.cache_size`): temp's lives as
  // long as the connection. user_version and application_id are main's own data in the store
  // file, but temp's are a borrower's scratch.
  static const std::set<std::string, std::less<>> kSet = {
      "cache_size", "cache_spill", "journal_size_limit", "max_page_count", "mmap_size",
      "secure_delete", "synchronous", "user_version", "application_id",
  };
  return kSet;
}

std::optional<std::string> written_pragma_key(const std::string& name, const std::string& schema) {
  if (schema == "temp" && temp_restorable_pragmas().count(name)) return "temp." + name;
  // An attached schema's own values go with it at DETACH; any other PRAGMA named with a schema
  // (`PRAGMA side.foreign_keys=1`) still sets the connection-wide value.
  if (schema != "" && schema != "main" && schema != "temp" && temp_restorable_pragmas().count(name)) return std::nullopt;
  if (restorable_pragmas().count(name)) return name;
  return std::nullopt;
}

const std::set<std::string, std::less<>>& restorable_pragmas() {
  static const std::set<std::string, std::less<>> kSet = {
      "analysis_limit",    "automatic_index",    "cache_size",          "cache_spill",
      "case_sensitive_like", "cell_size_check",  "defer_foreign_keys",  "foreign_keys",
      "ignore_check_constraints", "legacy_alter_table", "mmap_size",    "query_only",
      "read_uncommitted",  "recursive_triggers", "reverse_unordered_selects", "secure_delete",
      "synchronous",       "temp_store",         "trusted_schema",      "wal_autocheckpoint",
      "writable_schema",   "max_page_count",     "threads",
      // Deprecated but still honoured: they change the column names and rows callers see.
      "count_changes",     "empty_result_callbacks", "full_column_names", "short_column_names",
      "journal_size_limit", "fullfsync",         "checkpoint_fullfsync",
  };
  return kSet;
}

}  // namespace reservoir::sqlite::detail
