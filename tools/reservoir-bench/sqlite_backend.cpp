// The embedded default: a SQLite store file through reservoir::sqlite, and the raw baseline
// through the sqlite3 C API with the same settings.
#include <sqlite3.h>
#include <stdlib.h>

#include <cctype>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend.hpp"
#include "pooled.hpp"
#include "reservoir/sqlite/connector.hpp"

namespace bench {

namespace sq = reservoir::sqlite;

// A store operation takes its turn at the store's writer gate before it borrows a connection,
// as an application with more threads than connections should write it (write_turn.hpp).
template <>
struct WriterQueue<sq::Connector> {
  static constexpr bool queues = true;
  using Turn = sq::WriteTurn;
  static reservoir::Result<Turn> take(sq::Connector& c, reservoir::Deadline d) { return c.write_turn(d); }
  static void hand(Turn& turn, sq::Connection& conn) noexcept { conn.adopt(turn); }
};

namespace {

reservoir::Error sqlite_error(sqlite3* db, int rc, const std::string& what) {
  return reservoir::Error(reservoir::ErrorKind::backend, what + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)),
                          false, sqlite3_errstr(rc));
}

// One raw connection: prepared once, reused for every operation.
class RawSqliteHandle {
 public:
  RawSqliteHandle(sqlite3* db, std::mutex& writers, OpenCounter& counter) : db_(db), writers_(writers), counter_(counter) {}
  RawSqliteHandle(const RawSqliteHandle&) = delete;
  RawSqliteHandle& operator=(const RawSqliteHandle&) = delete;
  ~RawSqliteHandle() {
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

  // `writer_turn_held`: the caller took the writers' mutex before it took this handle.
  reservoir::Status run(const Op& op, OpOutcome& outcome, bool writer_turn_held = false) {
    switch (op.kind) {
      case OpKind::store: {
        // Writers of one process take turns on a mutex rather than SQLite's sleeping busy
        // handler: the same serialisation reservoir's writer gate does, so both do equal work.
        std::unique_lock g(writers_, std::defer_lock);
        if (!writer_turn_held) g.lock();
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

// Opens one raw handle on the pool's store with the pool's settings (WAL, the synchronous
// level, its file locking, the busy timeout) and prepares the workload's statements.
reservoir::Result<std::unique_ptr<RawSqliteHandle>> open_raw(const sq::Config& config, const MemorySql& sql,
                                                             std::chrono::milliseconds busy, std::mutex& writers,
                                                             OpenCounter& counter) {
  const std::string& path = config.path;
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, sq::vfs_name(config.locking));
  if (rc != SQLITE_OK) {
    auto e = sqlite_error(db, rc, path);
    sqlite3_close_v2(db);
    return e;
  }
  counter.on_open();
  auto handle = std::make_unique<RawSqliteHandle>(db, writers, counter);
  sqlite3_busy_timeout(db, static_cast<int>(busy.count()));
  const std::string pragmas = "PRAGMA journal_mode=WAL; PRAGMA synchronous=" + std::string(sq::to_string(config.synchronous));
  if (const int prc = sqlite3_exec(db, pragmas.c_str(), nullptr, nullptr, nullptr); prc != SQLITE_OK) {
    return sqlite_error(db, prc, "pragmas");
  }
  if (auto st = handle->prepare(sql); !st) return std::move(st).error();
  return handle;
}

// raw: the thread's own handle.
class RawSqliteClient final : public Client {
 public:
  explicit RawSqliteClient(std::unique_ptr<RawSqliteHandle> handle) : handle_(std::move(handle)) {}
  reservoir::Status run(const Op& op, OpOutcome& outcome, std::int64_t&) override { return handle_->run(op, outcome); }

 private:
  std::unique_ptr<RawSqliteHandle> handle_;
};

// shared: the plainest pool there is, to tell what sharing N connections among more threads
// costs from what reservoir costs. A mutex, a condition variable and a free list; a thread
// takes the handle freed last (warm in cache), waits without a deadline, and hands nothing
// back but the handle: no check, no reset, no deadline, no statistics.
class SharedHandles {
 public:
  void add(std::unique_ptr<RawSqliteHandle> h) {
    std::lock_guard g(mu_);
    free_.push_back(h.get());
    all_.push_back(std::move(h));
  }
  std::size_t size() {
    std::lock_guard g(mu_);
    return all_.size();
  }
  RawSqliteHandle& take() {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return !free_.empty(); });
    RawSqliteHandle* h = free_.back();
    free_.pop_back();
    return *h;
  }
  void give_back(RawSqliteHandle& h) {
    {
      std::lock_guard g(mu_);
      free_.push_back(&h);
    }
    cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<RawSqliteHandle*> free_;
  std::vector<std::unique_ptr<RawSqliteHandle>> all_;
};

// A writer takes the writers' mutex before it takes a handle, as reservoir's pooled writers
// take their WriteTurn before they borrow: queued writers hold no handle.
class SharedSqliteClient final : public Client {
 public:
  SharedSqliteClient(SharedHandles& handles, std::mutex& writers) : handles_(handles), writers_(writers) {}
  reservoir::Status run(const Op& op, OpOutcome& outcome, std::int64_t& acquire_ns) override {
    std::unique_lock<std::mutex> turn;
    if (op.kind == OpKind::store) turn = std::unique_lock(writers_);
    const std::int64_t t0 = steady_ns();
    RawSqliteHandle& h = handles_.take();
    acquire_ns = steady_ns() - t0;
    reservoir::Status st = h.run(op, outcome, turn.owns_lock());
    handles_.give_back(h);
    return st;
  }

 private:
  SharedHandles& handles_;
  std::mutex& writers_;
};

class RawSqliteTarget final : public Target {
 public:
  RawSqliteTarget(sq::Config config, const MemorySql* sql, std::chrono::milliseconds busy, std::size_t shared_size)
      : config_(std::move(config)), sql_(sql), busy_(busy), shared_size_(shared_size) {}

  // `shared_size` 0: each client opens its own handle (raw); else the clients share that many.
  reservoir::Result<std::unique_ptr<Client>> client() override {
    if (shared_size_ == 0) {
      auto h = open_raw(config_, *sql_, busy_, writers_, counter_);
      if (!h) return std::move(h).error();
      return std::unique_ptr<Client>(std::make_unique<RawSqliteClient>(std::move(h).value()));
    }
    {
      std::lock_guard g(open_mu_);  // the clients start at once; the first one opens the handles
      while (shared_.size() < shared_size_) {
        auto h = open_raw(config_, *sql_, busy_, writers_, counter_);
        if (!h) return std::move(h).error();
        shared_.add(std::move(h).value());
      }
    }
    return std::unique_ptr<Client>(std::make_unique<SharedSqliteClient>(shared_, writers_));
  }
  TargetStats stats() const override { return TargetStats{counter_.max_open.load(), counter_.opened.load(), {}}; }
  reservoir::Status finish(std::chrono::milliseconds) override { return {}; }

 private:
  sq::Config config_;
  const MemorySql* sql_;
  std::chrono::milliseconds busy_;
  std::size_t shared_size_;
  std::mutex writers_;
  OpenCounter counter_;  // before shared_: its handles count their close in it
  std::mutex open_mu_;
  SharedHandles shared_;
};

class SqliteBackend final : public Backend {
 public:
  SqliteBackend(sq::Config config, std::string temp_dir, const BackendOptions& options)
      : config_(std::move(config)), temp_dir_(std::move(temp_dir)), options_(options) {}

  std::string kind() const override { return "sqlite"; }
  bool offers(Mode) const override { return true; }
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
      case Mode::shared:
        return std::unique_ptr<Target>(std::make_unique<RawSqliteTarget>(config_, &sql_, s.op_timeout,
                                                                         mode == Mode::shared ? s.pool.max_size : 0));
    }
    return reservoir::Error::make(reservoir::ErrorKind::internal, "unknown mode");
  }

  nlohmann::json versions() override {
    return {{"sqlite_library", sqlite3_libversion()},
            {"synchronous", std::string(sq::to_string(config_.synchronous))},
            {"locking", std::string(sq::to_string(config_.locking))},
            {"checkpoint", std::string(sq::to_string(sq::checkpoint_in_effect(config_)))},
            {"baseline_checkpoint", "on_commit"},
            {"journal_mode", "wal"}};
  }

  std::string setup_note() const override {
    const bool background = sq::checkpoint_in_effect(config_) == sq::Checkpoint::background;
    return std::string("sqlite: WAL, synchronous ") + std::string(sq::to_string(config_.synchronous)) + ", locking " +
           std::string(sq::to_string(config_.locking)) + " in every mode; checkpoints: " +
           (background ? "the pool's in the background (sqlite::Checkpoint::background), raw and shared in the commit "
                         "that fills the WAL (SQLite's default; --checkpoint on-commit runs the pool that way too)"
                       : "in the commit that fills the WAL in every mode (SQLite's default)");
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
  config.locking = options.locking == "per-transaction" ? sq::Locking::per_transaction : sq::Locking::process;
  config.checkpoint = options.checkpoint == "on-commit"    ? sq::Checkpoint::on_commit
                      : options.checkpoint == "background" ? sq::Checkpoint::background
                                                           : sq::Checkpoint::automatic;
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
