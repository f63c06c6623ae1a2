// reservoir-demo: a TypedPool<sqlite::Connector> on a store file under a short workload —
// sequential operations, then 5 and 10 concurrent clients (insert + select each) — printing
// throughput, latency percentiles and the pool's stats. Exits non-zero on any error.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "reservoir/histogram.hpp"
#include "reservoir/sqlite/connector.hpp"
#include "reservoir/typed_pool.hpp"

using namespace reservoir;
using SqlitePool = TypedPool<sqlite::Connector>;

namespace {

const Clock& clock_ref() { return SteadyClock::instance(); }

struct PhaseResult {
  std::uint64_t ops = 0;
  Duration elapsed{0};
  LatencySummary latency;
  std::uint64_t errors = 0;
  std::string first_error;
};

// One operation: borrow, insert a row, read it back by id, return the connection.
Status one_op(SqlitePool& pool, std::int64_t client, std::int64_t seq, Duration op_timeout) {
  const Deadline d = Deadline::after(clock_ref(), op_timeout);
  auto lease = pool.acquire(d);
  if (!lease) return std::move(lease).error();
  auto& conn = **lease;
  auto ins = conn.execute("INSERT INTO demo_kv(client, seq, payload) VALUES (?1, ?2, ?3)",
                          {client, seq, std::string("payload-") + std::to_string(seq)}, d);
  if (!ins) return std::move(ins).error();
  auto rows = conn.query("SELECT payload FROM demo_kv WHERE id = ?1", {conn.last_insert_rowid()}, d);
  if (!rows) return std::move(rows).error();
  if (rows->size() != 1) return Error::make(ErrorKind::internal, "inserted row not found");
  return {};
}

PhaseResult run_phase(SqlitePool& pool, int clients, std::uint64_t total_ops, Duration op_timeout, Duration cap) {
  LatencyHistogram hist;
  std::atomic<std::uint64_t> next{0}, done{0}, errors{0};
  std::mutex mu;
  std::string first_error;
  const Deadline stop = Deadline::after(clock_ref(), cap);  // keeps the demo bounded on a slow disk
  const TimePoint start = clock_ref().now();
  auto worker = [&](int client) {
    for (;;) {
      const std::uint64_t seq = next.fetch_add(1);
      if (seq >= total_ops || stop.expired()) return;
      const TimePoint t0 = clock_ref().now();
      Status st = one_op(pool, client, static_cast<std::int64_t>(seq), op_timeout);
      hist.record(clock_ref().now() - t0);
      done.fetch_add(1);
      if (!st) {
        errors.fetch_add(1);
        std::lock_guard g(mu);
        if (first_error.empty()) first_error = st.error().message();
      }
    }
  };
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) threads.emplace_back(worker, c);
  for (auto& t : threads) t.join();
  return PhaseResult{done.load(), clock_ref().now() - start, hist.summary(), errors.load(), first_error};
}

std::string us(Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", std::chrono::duration<double, std::micro>(d).count());
  return buf;
}

void print_phase(const std::string& name, const PhaseResult& r) {
  const double secs = std::chrono::duration<double>(r.elapsed).count();
  std::printf("%-14s %8llu %10.0f %10s %10s %10s %8llu\n", name.c_str(), static_cast<unsigned long long>(r.ops),
              secs > 0 ? static_cast<double>(r.ops) / secs : 0.0, us(r.latency.p50).c_str(), us(r.latency.p95).c_str(),
              us(r.latency.p99).c_str(), static_cast<unsigned long long>(r.errors));
}

Status prepare_schema(SqlitePool& pool) {
  const Deadline d = Deadline::after(clock_ref(), std::chrono::seconds(5));
  auto lease = pool.acquire(d);
  if (!lease) return std::move(lease).error();
  auto r = (*lease)->execute(
      "CREATE TABLE IF NOT EXISTS demo_kv(id INTEGER PRIMARY KEY, client INTEGER, seq INTEGER, payload TEXT);"
      "DELETE FROM demo_kv;",
      d);
  if (!r) return std::move(r).error();
  return {};
}

struct DemoOptions {
  std::string path = "./reservoir-demo.db";
  std::uint64_t ops = 1000;
  std::vector<int> client_counts{5, 10};
  int op_timeout_ms = 2000;
  sqlite::Synchronous synchronous = sqlite::Synchronous::normal;
};

int fail(const std::string& what, const Error& e) {
  std::fprintf(stderr, "reservoir-demo: %s: %s\n", what.c_str(), e.message().c_str());
  return 1;
}

// Runs every phase; returns the number of failed operations and the first failure.
std::pair<std::uint64_t, std::string> run_phases(SqlitePool& pool, const DemoOptions& o) {
  std::printf("%-14s %8s %10s %10s %10s %10s %8s\n", "phase", "ops", "ops/s", "p50 us", "p95 us", "p99 us", "errors");
  const Duration op_timeout = std::chrono::milliseconds(o.op_timeout_ms);
  // The whole run stays under ~10 s: phases share 6 s, and an operation in flight when its
  // phase stops is bounded by its own deadline.
  const Duration phase_cap = std::chrono::seconds(6) / static_cast<int>(o.client_counts.size() + 1);
  std::uint64_t errors = 0;
  std::string first_error;
  auto run = [&](const std::string& name, int clients) {
    PhaseResult r = run_phase(pool, clients, o.ops, op_timeout, phase_cap);
    print_phase(name, r);
    errors += r.errors;
    if (first_error.empty()) first_error = r.first_error;
  };
  run("sequential", 1);
  for (int c : o.client_counts) run(std::to_string(c) + " clients", c);
  return {errors, first_error};
}

int run_demo(const DemoOptions& o) {
  const int max_clients = *std::max_element(o.client_counts.begin(), o.client_counts.end());
  PoolConfig pool_config{.name = "demo", .min_idle = 2, .max_size = static_cast<std::size_t>(std::max(max_clients, 2)),
                         .init_mode = InitMode::fail_fast};
  auto connector = sqlite::Connector::create({.path = o.path, .synchronous = o.synchronous, .program = "reservoir-demo"});
  if (!connector) return fail("bad store settings", connector.error());
  auto pool = SqlitePool::create(pool_config, PoolOptions{}, std::move(connector).value());
  if (!pool) return fail("cannot open the pool", pool.error());
  if (auto st = prepare_schema(*pool); !st) return fail("schema", st.error());
  std::printf("reservoir-demo: store %s (WAL, synchronous=%s), pool max_size=%zu; owner record in %s.lock\n",
              o.path.c_str(), std::string(sqlite::to_string(pool->connector().config().synchronous)).c_str(),
              pool_config.max_size, o.path.c_str());
  const auto [errors, first_error] = run_phases(*pool, o);
  std::printf("pool: %s\n", pool->stats().to_string().c_str());
  if (auto st = pool->shutdown(std::chrono::seconds(2)); !st) return fail("shutdown", st.error());
  if (errors > 0) {
    std::fprintf(stderr, "reservoir-demo: %llu operations failed; first: %s\n",
                 static_cast<unsigned long long>(errors), first_error.c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"reservoir-demo: a bounded connection pool on an embedded SQLite store"};
  DemoOptions o;
  app.add_option("db", o.path, "store file (created if missing; its directory must exist)")->capture_default_str();
  app.add_option("--ops", o.ops, "operations per phase (insert + select each)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--clients", o.client_counts, "concurrent client counts, one phase each")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--op-timeout-ms", o.op_timeout_ms, "deadline of each operation")
      ->capture_default_str()
      ->check(CLI::Range(1, 60000));
  const std::map<std::string, sqlite::Synchronous> levels{{"off", sqlite::Synchronous::off},
                                                         {"normal", sqlite::Synchronous::normal},
                                                         {"full", sqlite::Synchronous::full},
                                                         {"extra", sqlite::Synchronous::extra}};
  std::string level = "normal";
  app.add_option("--synchronous", level, "PRAGMA synchronous: off, normal, full, extra")
      ->capture_default_str()
      ->check(CLI::IsMember({"off", "normal", "full", "extra"}));
  CLI11_PARSE(app, argc, argv);
  o.synchronous = levels.at(level);
  return run_demo(o);
}
