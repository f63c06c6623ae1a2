// The embedded default: a SQLite store file through reservoir::sqlite, and the raw baseline
// through the sqlite3 C API with the same settings.
#include <sqlite3.h>
#include <stdlib.h>

#include <cctype>
#include <filesystem>
#include <mutex>

#include "backend.hpp"
#include "pooled.hpp"
#include "reservoir/sqlite/connector.hpp"

namespace bench {

namespace {

namespace sq = reservoir::sqlite;

reservoir::Error sqlite_error(sqlite3* db, int rc, const std::string& what) {
  return reservoir::Error(reservoir::ErrorKind::backend, what + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)),
                          false, sqlite3_errstr(rc));
}

// One thread's raw connection: prepared once, reused for every operation.
class RawSqliteClient final : public Client {
 public:
  RawSqliteClient(sqlite3* db, std::mutex& writers, OpenCounter& counter) : db_(db), writers_(writers), counter_(counter) {}
  ~RawSqliteClient() override {
    for (sqlite3_stmt* s : {upsert_, retrieve_, count_}) sqlite3_finalize(s);
    sqlite3_close_v2(db_);
    counter_.on_close();
  }

  reservoir::Status prepare(const MemorySql& sql) {
    for (auto [text, stmt] : {std::pair{&sql.upsert, &upsert_}, {&sql.retrieve, &retrieve_}, {&sql.count, &count_}}) {
      const int rc = sqlite3_prepare_v3(db_, text->c_str(), -1, SQLITE_PREPARE_PERSISTENT, stmt, nullptr);
      if (rc != SQLITE_OK) return sqlite_error(db_, rc, "prepare");
    }
    return {};
  }

  reservoir::Status run(const Op& op, OpOutcome& outcome, std::int64_t&) override {
    switch (op.kind) {
      case OpKind::store: {
        // Writers of one process take turns on a mutex rather than SQLite's sleeping busy
        // handler: the same serialisation reservoir's writer gate does, so both do equal work.
        std::lock_guard g(writers_);
        sqlite3_bind_text(upsert_, 1, op.key.data(), static_cast<int>(op.key.size()), SQLITE_STATIC);
        sqlite3_bind_text(upsert_, 2, op.content.data(), static_cast<int>(op.content.size()), SQLITE_STATIC);
        sqlite3_bind_int64(upsert_, 3, op.created_ms);
        return step_done(upsert_);
      }
      case OpKind::retrieve: {
        sqlite3_bind_text(retrieve_, 1, op.key.data(), static_cast<int>(op.key.size()), SQLITE_STATIC);
        const int rc = sqlite3_step(retrieve_);
        if (rc == SQLITE_ROW) {
          // Read the row as a caller would (reservoir copies it into sql::Rows).
          content_.assign(reinterpret_cast<const char*>(sqlite3_column_text(retrieve_, 0)),
                          static_cast<std::size_t>(sqlite3_column_bytes(retrieve_, 0)));
          created_ = sqlite3_column_int64(retrieve_, 1);
          outcome.hit = true;
        }
        sqlite3_reset(retrieve_);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sqlite_error(db_, rc, "retrieve");
        return {};
      }
      case OpKind::stats: {
        const int rc = sqlite3_step(count_);
        if (rc == SQLITE_ROW) outcome.count = sqlite3_column_int64(count_, 0);
        sqlite3_reset(count_);
        if (rc != SQLITE_ROW) return sqlite_error(db_, rc, "stats");
        return {};
      }
    }
    return reservoir::Error::make(reservoir::ErrorKind::internal, "unknown operation");
  }

 private:
  reservoir::Status step_done(sqlite3_stmt* stmt) {
    const int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (rc != SQLITE_DONE) return sqlite_error(db_, rc, "store");
    return {};
  }

  sqlite3* db_;
  std::mutex& writers_;
  OpenCounter& counter_;
  sqlite3_stmt* upsert_ = nullptr;
  sqlite3_stmt* retrieve_ = nullptr;
  sqlite3_stmt* count_ = nullptr;
  std::string content_;
  std::int64_t created_ = 0;
};

class RawSqliteTarget final : public Target {
 public:
  RawSqliteTarget(std::string path, std::string synchronous, const MemorySql* sql, std::chrono::milliseconds busy)
      : path_(std::move(path)), synchronous_(std::move(synchronous)), sql_(sql), busy_(busy) {}

  reservoir::Result<std::unique_ptr<Client>> client() override {
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      auto e = sqlite_error(db, rc, path_);
      sqlite3_close_v2(db);
      return e;
    }
    counter_.on_open();
    auto client = std::make_unique<RawSqliteClient>(db, writers_, counter_);
    sqlite3_busy_timeout(db, static_cast<int>(busy_.count()));
    const std::string pragmas = "PRAGMA journal_mode=WAL; PRAGMA synchronous=" + synchronous_;
    if (const int prc = sqlite3_exec(db, pragmas.c_str(), nullptr, nullptr, nullptr); prc != SQLITE_OK) {
      return sqlite_error(db, prc, "pragmas");
    }
    if (auto st = client->prepare(*sql_); !st) return std::move(st).error();
    return std::unique_ptr<Client>(std::move(client));
  }
  TargetStats stats() const override { return TargetStats{counter_.max_open.load(), counter_.opened.load(), {}}; }
  reservoir::Status finish(std::chrono::milliseconds) override { return {}; }

 private:
  std::string path_;
  std::string synchronous_;
  const MemorySql* sql_;
  std::chrono::milliseconds busy_;
  std::mutex writers_;
  OpenCounter counter_;
};

class SqliteBackend final : public Backend {
 public:
  SqliteBackend(sq::Config config, std::string temp_dir, const BackendOptions& options)
      : config_(std::move(config)), temp_dir_(std::move(temp_dir)), options_(options) {}

  std::string kind() const override { return "sqlite"; }
  std::string endpoint() const override { return config_.path; }

  reservoir::Status prepare(const WorkloadConfig& workload) override {
    sql_ = sqlite_statements(workload.table);
    auto connector = sq::Connector::create(config_);
    if (!connector) return std::move(connector).error();
    auto v = prepare_table(std::move(connector).value(), sql_, workload, options_.settings);
    if (!v) return std::move(v).error();
    return {};
  }

  reservoir::Result<std::unique_ptr<Target>> open(Mode mode, const RunSettings& s) override {
    // Validated once, here: create() is the only way to a connector.
    auto connector = sq::Connector::create(config_);
    if (!connector) return std::move(connector).error();
    switch (mode) {
      case Mode::pooled: return PooledTarget<sq::Connector>::create(std::move(connector).value(), &sql_, s);
      case Mode::unpooled:
        return std::unique_ptr<Target>(
            std::make_unique<UnpooledTarget<sq::Connector>>(std::move(connector).value(), &sql_, s));
      case Mode::raw:
        return std::unique_ptr<Target>(
            std::make_unique<RawSqliteTarget>(config_.path, std::string(sq::to_string(config_.synchronous)), &sql_, s.op_timeout));
    }
    return reservoir::Error::make(reservoir::ErrorKind::internal, "unknown mode");
  }

  nlohmann::json versions() override {
    return {{"sqlite_library", sqlite3_libversion()},
            {"synchronous", std::string(sq::to_string(config_.synchronous))},
            {"journal_mode", "wal"}};
  }

  std::string cleanup(bool keep) override {
    if (temp_dir_.empty()) return {};
    if (keep) return "kept the store: " + config_.path;
    std::error_code ec;
    std::filesystem::remove_all(temp_dir_, ec);
    return {};
  }

 private:
  sq::Config config_;
  std::string temp_dir_;  // set when the store is ours to remove
  BackendOptions options_;
  MemorySql sql_;
};

}  // namespace

reservoir::Result<std::unique_ptr<Backend>> make_sqlite_backend(const std::string& path, const BackendOptions& options) {
  sq::Config config;
  config.program = "reservoir-bench";
  // to_string() spells the level as the PRAGMA does (upper case); the option is lower case.
  for (auto level : {sq::Synchronous::off, sq::Synchronous::normal, sq::Synchronous::full, sq::Synchronous::extra}) {
    std::string name(sq::to_string(level));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name == options.synchronous) config.synchronous = level;
  }
  std::string temp_dir;
  if (path.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "reservoir-bench-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      return reservoir::Error::make(reservoir::ErrorKind::unavailable, "cannot create a temporary directory in " +
                                                                           std::filesystem::temp_directory_path().string());
    }
    temp_dir = tmpl;
    config.path = temp_dir + "/memory.db";
  } else {
    config.path = path;
  }
  if (auto st = config.validate(); !st) return std::move(st).error();
  return std::unique_ptr<Backend>(std::make_unique<SqliteBackend>(std::move(config), std::move(temp_dir), options));
}

}  // namespace bench
