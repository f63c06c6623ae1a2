// Internal: the per-connection state the SQLite callbacks read (busy handler, authorizer),
// and the mapping of SQLite result codes to reservoir errors.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "reservoir/deadline.hpp"
#include "reservoir/error.hpp"
#include "checkpointer.hpp"
#include "statement_cache.hpp"
#include "writer_gate.hpp"

namespace reservoir::sqlite::detail {

struct Session {
  std::string path;                        // canonical store path, for messages
  std::chrono::microseconds busy_sleep_max{2000};
  std::string deep_check_sql;

  // The running call's deadline; the busy handler waits until it and no longer.
  std::optional<Deadline> deadline;
  // Set while the connector runs its own statements, which the authorizer must not track and
  // which never queue at the writer gate.
  bool internal = false;
  // Why the authorizer denied the last statement, for the error message.
  std::string denied;

  // What a borrower changed; reset() undoes exactly this (HikariCP's dirty bits).
  bool temp_objects = false;
  bool attached = false;
  // PRAGMA names as restore keys: `cache_size` (main, or connection-wide), `temp.cache_size`.
  std::set<std::string> pragmas_written;
  // Set by the authorizer when the statement being prepared changed any of the above (or was
  // denied): such a statement is never cached, or its next run would go unnoticed.
  bool touched = false;
  StatementCache cache;
  // sqlite3_total_changes64() when this lease began: changes() and total_changes() in SQL
  // count from here, so a borrower never reads the previous one's counts.
  std::int64_t changes_baseline = 0;
  // Per-connection PRAGMA values read when the connection was opened, by restore key.
  std::map<std::string, std::string> pragma_defaults;

  // This store's in-process writer gate, and whether this connection is inside it (from its
  // first write until its transaction ends).
  std::shared_ptr<WriterGate> gate;
  bool gate_held = false;

  // The store's background checkpointer (Checkpoint::background), told of every commit; null
  // with Checkpoint::on_commit.
  std::shared_ptr<Checkpointer> checkpointer;
  int checkpoint_pages = 1000;
};

// Enters the writer gate unless this connection is already inside it. Errors: timeout.
Status enter_writer_gate(Session& s, const Deadline& deadline);
// Leaves the gate once `db` is back in autocommit mode (its write transaction ended).
void leave_writer_gate_if_done(Session& s, sqlite3* db) noexcept;

// Starts the row counters a borrower sees afresh: last_insert_rowid() 0, changes() and
// total_changes() counting from now. Called by reset() on every return.
void start_counts_afresh(sqlite3* db, Session& s) noexcept;

// Installs the busy handler, the authorizer and the progress handler (which interrupts a
// statement still running at the call's deadline) that read `session`, and the lease-relative
// changes() / total_changes() SQL functions.
void install_callbacks(sqlite3* db, Session& session);

// Checkpoint::background: replaces SQLite's checkpoint-on-commit with a WAL hook that tells
// session.checkpointer of each commit (an attached WAL store still checkpoints on commit).
void install_checkpoint_hook(sqlite3* db, Session& session);

// Sets the session's call deadline for the scope of one call.
class CallScope {
 public:
  CallScope(Session& s, Deadline d, bool internal = false) noexcept
      : s_(s), prev_(s.deadline), prev_internal_(s.internal) {
    s_.deadline = d;
    s_.internal = internal;
    s_.denied.clear();
  }
  ~CallScope() {
    s_.deadline = prev_;
    s_.internal = prev_internal_;
  }
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

 private:
  Session& s_;
  std::optional<Deadline> prev_;
  bool prev_internal_;
};

// `SQLITE_CONSTRAINT_UNIQUE`, `SQLITE_BUSY`, ... (the extended name when known).
std::string code_name(int extended_rc);
// An error for result code `rc` of `db` (which may be null), with a message naming `path`.
Error make_error(sqlite3* db, int rc, const std::string& path);
// The timeout for a busy or locked database, naming what holds the lock.
Error busy_timeout(int extended_rc, const std::string& path);
// I/O, corruption and misuse errors leave a handle that must not be reused.
bool breaks_connection(int rc) noexcept;

// Pauses a busy caller for `step`, but not past the deadline, on the deadline's clock.
void pause(const Deadline& deadline, std::chrono::microseconds step);

// PRAGMAs the pool owns: a borrower changing them would break other borrowers.
bool is_denied_pragma(std::string_view name) noexcept;
// Per-connection PRAGMAs reset() restores to their value at connect.
const std::set<std::string, std::less<>>& restorable_pragmas();
// Per-schema PRAGMAs reset() also restores on the temp schema (`PRAGMA temp.cache_size`).
const std::set<std::string, std::less<>>& temp_restorable_pragmas();
// The restore key for a write of PRAGMA `name` on `schema` ("" when unqualified; lower case),
// or nullopt when reset() need not restore it.
std::optional<std::string> written_pragma_key(const std::string& name, const std::string& schema);

}  // namespace reservoir::sqlite::detail
