// One retrieve by key (reservoir-bench's read), layer by layer, on one thread: the sqlite3 C
// API alone (with SQLite's default locking, and with the unix-excl VFS that
// sqlite::Locking::process opens), then sqlite::Connection, then a pool's lease around it,
// then run(): what each layer adds to a point read. Figures: bench/sqlite/README.md.
#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "reservoir/breaker.hpp"
#include "reservoir/retry_budget.hpp"
#include "reservoir/run.hpp"
#include "reservoir/sqlite/connector.hpp"
#include "reservoir/typed_pool.hpp"

namespace {

namespace sq = reservoir::sqlite;
using reservoir::Deadline;
using reservoir::SteadyClock;
using reservoir::sql::Value;

constexpr int kKeys = 1000;
const char* const kRetrieve = "SELECT content, created_ms FROM memory WHERE key = ?1";

std::string key_of(int i) { return "memory-" + std::to_string(i); }

// A store of kKeys memories in a fresh temporary directory, removed at exit.
struct Store {
  std::string dir;
  std::string path;
  Store() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "reservoir-sqlite-bench-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir = tmpl;
    path = dir + "/memory.db";
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; CREATE TABLE memory (key TEXT PRIMARY KEY, content TEXT, created_ms "
                 "INTEGER); WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM n WHERE i < 999) INSERT INTO "
                 "memory SELECT 'memory-' || i, printf('%.100c', 'x'), i FROM n",
                 nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }
  ~Store() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

Store& store() {
  static Store s;
  return s;
}

sq::Connector connector() {
  auto c = sq::Connector::create(sq::Config{.path = store().path});
  if (!c) std::abort();
  return std::move(c).value();
}

void raw_reads(benchmark::State& state, const char* vfs) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(store().path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, vfs);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v3(db, kRetrieve, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  std::string content;
  int i = 0;
  for (auto _ : state) {
    const std::string key = key_of(i++ % kKeys);
    sqlite3_bind_text(stmt, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      content.assign(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)),
                     static_cast<std::size_t>(sqlite3_column_bytes(stmt, 0)));
      benchmark::DoNotOptimize(sqlite3_column_int64(stmt, 1));
    }
    sqlite3_reset(stmt);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}
void BM_raw_sqlite3(benchmark::State& state) { raw_reads(state, nullptr); }
BENCHMARK(BM_raw_sqlite3);
void BM_raw_sqlite3_unix_excl(benchmark::State& state) { raw_reads(state, "unix-excl"); }
BENCHMARK(BM_raw_sqlite3_unix_excl);

void BM_connection(benchmark::State& state) {
  auto c = connector();
  auto conn = c.connect(Deadline::after(SteadyClock::instance(), std::chrono::seconds(5)));
  if (!conn) std::abort();
  int i = 0;
  for (auto _ : state) {
    const Value params[] = {Value(key_of(i++ % kKeys))};
    auto rows = (*conn)->query_row(kRetrieve, params, Deadline::after(SteadyClock::instance(), std::chrono::seconds(5)));
    if (!rows || rows->empty()) std::abort();
  }
}
BENCHMARK(BM_connection);

// The same read into reused variables (scan_row): no sql::Rows, no allocation.
void BM_connection_scan_row(benchmark::State& state) {
  auto c = connector();
  auto conn = c.connect(Deadline::after(SteadyClock::instance(), std::chrono::seconds(5)));
  if (!conn) std::abort();
  std::string content;
  std::int64_t created = 0;
  int i = 0;
  for (auto _ : state) {
    const Value params[] = {Value(key_of(i++ % kKeys))};
    auto found = (*conn)->scan_row(kRetrieve, params, Deadline::after(SteadyClock::instance(), std::chrono::seconds(5)),
                                   content, created);
    if (!found || !*found) std::abort();
  }
}
BENCHMARK(BM_connection_scan_row);

using Pool = reservoir::TypedPool<sq::Connector>;

Pool make_pool() {
  auto p = Pool::create({.max_size = 1}, {}, connector());
  if (!p) std::abort();
  return std::move(p).value();
}

void BM_lease(benchmark::State& state) {
  Pool pool = make_pool();
  int i = 0;
  for (auto _ : state) {
    auto lease = pool.acquire();
    if (!lease) std::abort();
    const Value params[] = {Value(key_of(i++ % kKeys))};
    auto rows = (*lease)->query_row(kRetrieve, params, Deadline::after(SteadyClock::instance(), std::chrono::seconds(5)));
    if (!rows || rows->empty()) std::abort();
  }
}
BENCHMARK(BM_lease);

void run_reads(benchmark::State& state, Pool& pool, const reservoir::RunOptions& options) {
  int i = 0;
  for (auto _ : state) {
    const Value params[] = {Value(key_of(i++ % kKeys))};
    auto st = reservoir::run(
        pool,
        [&](sq::Connection& conn, reservoir::Attempt& a) -> reservoir::Status {
          auto rows = conn.query_row(kRetrieve, params, a.deadline());
          if (!rows) return std::move(rows).error();
          return {};
        },
        options);
    if (!st) std::abort();
  }
}

void BM_run_deadline(benchmark::State& state) {
  Pool pool = make_pool();
  reservoir::RunOptions options;
  options.idempotent = true;
  run_reads(state, pool, options);
}
BENCHMARK(BM_run_deadline);

// A pool whose connect gate is a CircuitBreaker, and run() options with that breaker and a
// RetryBudget, as an application should write it.
struct GuardedPool {
  Pool pool;
  reservoir::RunOptions options;
};

GuardedPool guarded_pool() {
  const reservoir::Clock& clock = SteadyClock::instance();
  auto breaker = reservoir::CircuitBreaker::create("bench", {}, clock);
  auto budget = reservoir::RetryBudget::create(clock);
  if (!breaker || !budget) std::abort();
  reservoir::PoolOptions po;
  po.connect_gate = *breaker;
  auto p = Pool::create({.max_size = 1}, std::move(po), connector());
  if (!p) std::abort();
  reservoir::RunOptions options;
  options.idempotent = true;
  options.breaker = std::move(breaker).value();
  options.budget = std::move(budget).value();
  return GuardedPool{std::move(p).value(), std::move(options)};
}

void BM_run_breaker_budget(benchmark::State& state) {
  GuardedPool g = guarded_pool();
  run_reads(state, g.pool, g.options);
}
BENCHMARK(BM_run_breaker_budget);

// The same, the read through scan_row(): what reservoir-bench runs.
void BM_run_scan_row(benchmark::State& state) {
  GuardedPool g = guarded_pool();
  std::string content;
  std::int64_t created = 0;
  int i = 0;
  for (auto _ : state) {
    const Value params[] = {Value(key_of(i++ % kKeys))};
    auto found = reservoir::run(
        g.pool,
        [&](sq::Connection& conn, reservoir::Attempt& a) {
          return conn.scan_row(kRetrieve, params, a.deadline(), content, created);
        },
        g.options);
    if (!found || !*found) std::abort();
  }
}
BENCHMARK(BM_run_scan_row);

}  // namespace

BENCHMARK_MAIN();
