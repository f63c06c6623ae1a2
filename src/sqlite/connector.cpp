// sqlite::Connector: open (preflight, store lock, WAL), checks and close.
#include "reservoir/sqlite/connector.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "session.hpp"

namespace reservoir::sqlite {

namespace {

Error file_error(const std::string& path, const std::string& cause, const char* code) {
  return Error(ErrorKind::unavailable, path + ": " + cause, false, code);
}

// Everything that can be refused without touching the file: refusing here is what keeps a
// bad input from creating or changing anything. Returns whether the file exists. The file is
// never opened here: closing a descriptor on a database file would drop the POSIX locks of
// this process's SQLite connections on it.
Result<bool> preflight(const Config& config) {
  namespace fs = std::filesystem;
  const std::string& path = config.path;
  std::error_code ec;
  const fs::path dir = fs::absolute(fs::path(path), ec).parent_path();
  if (ec || !fs::is_directory(dir, ec)) {
    return file_error(path, "directory " + dir.string() + " does not exist", "SQLITE_CANTOPEN");
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err != ENOENT) return file_error(path, std::strerror(err), "SQLITE_CANTOPEN");
    if (!config.create_if_missing) {
      return file_error(path, "no such database file (create_if_missing is off)", "SQLITE_CANTOPEN");
    }
    if (::access(dir.c_str(), W_OK) != 0) {
      return file_error(path, "directory " + dir.string() + " is not writable", "SQLITE_CANTOPEN");
    }
    return false;
  }
  if (!S_ISREG(st.st_mode)) return file_error(path, "not a regular file", "SQLITE_CANTOPEN");
  // Mode bits too, not only access(): root may write anything, but a file someone made
  // read-only is not meant to be written.
  if ((st.st_mode & 0222) == 0 || ::access(path.c_str(), W_OK) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return file_error(path, std::string("the file is read-only (mode ") + mode + "); the store needs write access",
                      "SQLITE_READONLY");
  }
  return true;
}

// Removes a file this connect created, with the store lock still held.
void remove_created(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) ::unlink((path + suffix).c_str());
}

// The writer gate connect() finds for `path` (through the store lock's canonical path).
Result<std::shared_ptr<detail::WriterGate>> gate_of(const std::string& path) {
  auto canonical = detail::canonical_store_path(path);
  if (!canonical) return std::move(canonical).error();
  return detail::WriterGate::for_store(*canonical);
}

detail::Checkpointer::Settings checkpointer_settings(const Config& config, std::shared_ptr<Logger> logger,
                                                    const std::string& canonical_path) {
  return {.path = canonical_path,
          .vfs = vfs_name(config.locking),
          .pages = config.checkpoint_pages,
          .synchronous = std::string(to_string(config.synchronous)),
          .logger = std::move(logger)};
}

bool is_check_pragma(std::string_view sql) {
  std::string s;
  for (char c : sql) s.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  const auto start = s.find_first_not_of(" \t\r\n");
  return start != std::string::npos && s.compare(start, 6, "pragma") == 0 && s.find("_check") != std::string::npos;
}

}  // namespace

Result<Connector> Connector::create(Config config) {
  if (auto st = config.validate(); !st) return std::move(st).error();
  return Connector(std::move(config));
}

Connector::Connector(Config config) : config_(std::move(config)) {
  logger_ = config_.logger ? config_.logger : stderr_logger(LogLevel::warn);
  if (auto gate = gate_of(config_.path)) gate_ = std::move(gate).value();
}

Result<WriteTurn> Connector::write_turn(Deadline deadline) const {
  std::shared_ptr<detail::WriterGate> gate = gate_;
  if (!gate) {  // the directory was missing at create()
    auto found = gate_of(config_.path);
    if (!found) return std::move(found).error();
    gate = std::move(found).value();
  }
  if (!gate->enter(deadline)) {
    return Error(ErrorKind::timeout,
                 config_.path + ": another writer of this process held the database lock until the deadline", true,
                 "SQLITE_BUSY");
  }
  return WriteTurn(std::move(gate));
}

Result<std::unique_ptr<Connection>> Connector::connect(Deadline deadline) {
  auto existed = preflight(config_);
  if (!existed) return std::move(existed).error();
  auto lock = StoreLock::acquire(config_.path, deadline,
                                 {.wait = config_.store_lock_wait, .program = config_.program, .logger = logger_});
  if (!lock) return std::move(lock).error();
  const std::string path = lock->path();
  const bool created_here = !existed.value() && lock->first_share();

  auto session = std::make_unique<detail::Session>();
  session->path = path;
  session->busy_sleep_max = config_.busy_sleep_max;
  session->deep_check_sql = config_.deep_check_sql;
  session->gate = detail::WriterGate::for_store(path);
  sqlite3* db = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE |
                    (config_.create_if_missing ? SQLITE_OPEN_CREATE : 0);
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, vfs_name(config_.locking));
  if (rc != SQLITE_OK) {
    Error e = detail::make_error(db, rc, path);
    sqlite3_close_v2(db);
    if (created_here) remove_created(path);
    return e;
  }
  auto conn = std::make_unique<Connection>(db, std::move(lock).value(), std::move(session));
  detail::install_callbacks(db, conn->session());
  install_checkpointing(*conn);
  if (auto st = configure(*conn, deadline); !st) {
    conn->session().cache.clear();
    conn->forget_handle();
    sqlite3_close_v2(db);
    if (created_here) remove_created(path);
    return std::move(st).error();  // conn dies here, releasing its store-lock share last
  }
  return conn;
}

CheckpointStats Connector::checkpoint_stats() const {
  if (checkpoint_in_effect(config_) != Checkpoint::background) return {};
  auto canonical = detail::canonical_store_path(config_.path);
  if (!canonical) return {};
  auto found = detail::Checkpointer::find(checkpointer_settings(config_, logger_, *canonical));
  return found ? found->stats() : CheckpointStats{};
}

// Before configure(): the PRAGMA snapshot then holds on_commit's wal_autocheckpoint.
void Connector::install_checkpointing(Connection& conn) {
  detail::Session& s = conn.session();
  s.checkpoint_pages = config_.checkpoint_pages;
  if (checkpoint_in_effect(config_) == Checkpoint::on_commit) {
    sqlite3_wal_autocheckpoint(conn.native_handle(), config_.checkpoint_pages);
    return;
  }
  s.checkpointer = detail::Checkpointer::for_store(checkpointer_settings(config_, logger_, s.path));
  detail::install_checkpoint_hook(conn.native_handle(), s);
}

// WAL mode, the synchronous level, and a snapshot of the PRAGMAs reset() restores.
Status Connector::configure(Connection& conn, Deadline deadline) {
  detail::Session& s = conn.session();
  detail::CallScope scope(s, deadline, /*internal=*/true);
  auto mode = conn.query("PRAGMA journal_mode=WAL", deadline);
  if (!mode) return std::move(mode).error();
  const std::string text = mode->empty() ? std::string("unknown") : sql::to_text(mode->at(0, 0));
  if (text != "wal") {
    return Error(ErrorKind::unavailable, s.path + ": cannot switch to WAL mode (journal_mode stays " + text + ")",
                 false);
  }
  auto sync = conn.execute("PRAGMA synchronous=" + std::string(to_string(config_.synchronous)), deadline);
  if (!sync) return std::move(sync).error();
  for (const std::string& name : detail::restorable_pragmas()) {
    if (name == "case_sensitive_like") {  // write-only; off unless someone turned it on
      s.pragma_defaults.insert_or_assign(name, std::string(1, '0'));  // not `= "0"`: g++ 12 -Wrestrict bug
      continue;
    }
    auto value = conn.query("PRAGMA " + name, deadline);
    if (value && !value->empty() && !value->is_null(0, 0)) s.pragma_defaults.insert_or_assign(name, sql::to_text(value->at(0, 0)));
  }
  // Reading a temp value opens the (empty, in-memory until it spills) temp database now rather
  // than at a borrower's first use; the values read are what a fresh connection shows.
  for (const std::string& name : detail::temp_restorable_pragmas()) {
    const std::string key = "temp." + name;
    auto value = conn.query("PRAGMA " + key, deadline);
    if (value && !value->empty() && !value->is_null(0, 0)) s.pragma_defaults.insert_or_assign(key, sql::to_text(value->at(0, 0)));
  }
  return {};
}

Status Connector::check(Connection& conn, CheckDepth depth, Deadline deadline) {
  if (conn.is_broken() || conn.native_handle() == nullptr) {
    return Error::unavailable(config_.path, "connection is broken");
  }
  if (depth == CheckDepth::fast) return {};
  detail::CallScope scope(conn.session(), deadline, /*internal=*/true);
  if (depth == CheckDepth::ping) {
    auto r = conn.query("SELECT 1", deadline);
    if (!r) return std::move(r).error();
    return {};
  }
  auto r = conn.query(config_.deep_check_sql, deadline);
  if (!r) return std::move(r).error();
  if (is_check_pragma(config_.deep_check_sql)) {
    const std::string first = r->empty() ? std::string("no answer") : sql::to_text(r->at(0, 0));
    if (first != "ok") {
      return Error(ErrorKind::backend, conn.path() + ": `" + config_.deep_check_sql + "` reported: " + first, false,
                   "SQLITE_CORRUPT");
    }
  }
  return {};
}

void Connector::close(std::unique_ptr<Connection> conn, Deadline deadline) noexcept {
  (void)deadline;  // closing a SQLite handle does not wait: a checkpoint that would block is skipped
  conn.reset();
}

void Connector::abandon(std::unique_ptr<Connection> conn) noexcept {
  if (!conn) return;
  conn->forget_handle();  // leaked on purpose: see Connection::forget_handle()
  conn.reset();
}

}  // namespace reservoir::sqlite
