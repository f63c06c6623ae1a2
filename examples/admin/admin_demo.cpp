// admin_demo — a pooled SQLite store under load, watched through the admin endpoint.
//
//   reservoir_example_admin --port 9187 --seconds 120
//   then open http://127.0.0.1:9187/dashboard (or curl /metrics, /healthz, /stats.json, /events)
//
// Workers run a read/write key-value workload through reservoir::run() on a pool smaller than
// the number of workers (so some acquires queue), with a circuit breaker as the pool's connect
// gate and a retry budget; every run() outcome is counted under a declared operation name.
// Every few seconds one worker holds its lease for long enough to be reported as a slow
// acquire for the others, and one lease is kept past the leak threshold.
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <random>
#include <thread>
#include <vector>

#include "reservoir/admin/server.hpp"
#include "reservoir/run.hpp"
#include "reservoir/sqlite/connector.hpp"

using namespace reservoir;
using namespace std::chrono_literals;

namespace {

std::atomic<bool> stop_requested{false};
void on_signal(int) { stop_requested = true; }

using SqlitePool = TypedPool<sqlite::Connector>;

void worker(SqlitePool& pool, const RunOptions& base, metrics::OperationCounters& reads,
            metrics::OperationCounters& writes, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> key(1, 1000), pct(1, 100), hold_us(100, 3000), think_us(0, 4000);
  while (!stop_requested) {
    RunReport report;
    RunOptions options = base;
    options.report = &report;
    const bool write = pct(rng) <= 20;
    const int k = key(rng);
    const int hold = hold_us(rng);
    Status s;
    if (write) {
      s = run(pool, [&](sqlite::Connection& c) -> Status {
            auto r = c.execute("INSERT OR REPLACE INTO kv VALUES (?1, ?2)", {std::int64_t{k}, std::int64_t{hold}},
                               Deadline::after(SteadyClock::instance(), 1s));
            std::this_thread::sleep_for(std::chrono::microseconds(hold));  // the caller's own work, lease held
            return r ? Status{} : Status(std::move(r).error());
          }, options);
    } else {
      s = run(pool, [&](sqlite::Connection& c) -> Status {
            auto r = c.query("SELECT v FROM kv WHERE k = ?1", {std::int64_t{k}}, Deadline::after(SteadyClock::instance(), 1s));
            std::this_thread::sleep_for(std::chrono::microseconds(hold));
            return r ? Status{} : Status(std::move(r).error());
          }, options);
    }
    (write ? writes : reads).record(report, s.ok());
    std::this_thread::sleep_for(std::chrono::microseconds(think_us(rng)));  // between requests, no lease
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"reservoir admin endpoint demo: a loaded SQLite pool with /metrics, /healthz, /dashboard"};
  std::uint16_t port = 9187;
  int seconds = 60;
  int workers = 8;
  std::size_t pool_size = 4;
  std::string address = "127.0.0.1";
  app.add_option("--port", port, "admin endpoint port (0: any free port)");
  app.add_option("--address", address, "admin endpoint address (loopback only in this demo)");
  app.add_option("--seconds", seconds, "how long the load runs (0: until Ctrl-C)");
  app.add_option("--workers", workers, "load threads")->check(CLI::Range(1, 256));
  app.add_option("--pool-size", pool_size, "pool max_size")->check(CLI::Range(1, 64));
  CLI11_PARSE(app, argc, argv);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  const auto dir = std::filesystem::temp_directory_path() / ("reservoir-admin-demo-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto connector = sqlite::Connector::create({.path = (dir / "demo.db").string()});
  if (!connector) { std::fprintf(stderr, "%s\n", connector.error().message().c_str()); return 1; }

  auto events = std::make_shared<admin::EventRing>();
  auto breaker = CircuitBreaker::create("sqlite:" + (dir / "demo.db").string(), {}, SteadyClock::instance()).value();
  events->watch(*breaker);
  PoolConfig config;
  config.name = "demo";
  config.max_size = pool_size;
  config.slow_acquire_threshold = 20ms;
  config.leak_detection_threshold = 5s;
  PoolOptions options;
  options.listener = events;
  options.connect_gate = breaker;
  auto created = SqlitePool::create(config, options, std::move(connector).value());
  if (!created) { std::fprintf(stderr, "%s\n", created.error().message().c_str()); return 1; }
  auto pool = std::make_shared<SqlitePool>(std::move(created).value());
  (void)pool->acquire().value()->execute("CREATE TABLE IF NOT EXISTS kv (k INTEGER PRIMARY KEY, v INTEGER)",
                                         Deadline::after(SteadyClock::instance(), 1s));

  auto registry = std::make_shared<metrics::Registry>();
  registry->add_pool(pool);
  registry->add_breaker(breaker);
  auto budget = RetryBudget::create(SteadyClock::instance()).value();
  registry->add_retry_budget("demo", budget);
  auto reads = registry->declare_operation("read").value();
  auto writes = registry->declare_operation("write").value();

  auto server = admin::AdminServer::start(registry, {.address = address, .port = port, .events = events});
  if (!server) { std::fprintf(stderr, "%s\n", server.error().message().c_str()); return 1; }
  std::printf("admin endpoint: http://%s:%u/dashboard  (/metrics /healthz /stats.json /events)\n",
              address.c_str(), static_cast<unsigned>((*server)->port()));
  std::fflush(stdout);

  RunOptions run_options{.timeout = 2s, .idempotent = true, .budget = budget, .breaker = breaker};
  std::vector<std::thread> threads;
  for (int i = 0; i < workers; ++i)
    threads.emplace_back(worker, std::ref(*pool), std::cref(run_options), std::ref(*reads), std::ref(*writes), 1234u + i);
  // One lease held past the leak threshold, early on, so /events shows a leak with its file:line.
  std::thread leaker([&] {
    auto lease = pool->acquire();
    for (int i = 0; i < 70 && !stop_requested; ++i) std::this_thread::sleep_for(100ms);
    pool->untyped().run_maintenance();
  });
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!stop_requested && (seconds == 0 || std::chrono::steady_clock::now() < end)) std::this_thread::sleep_for(100ms);
  stop_requested = true;
  leaker.join();
  for (auto& t : threads) t.join();
  (*server)->stop();
  std::printf("%s\n", pool->untyped().stats().to_string().c_str());
  pool.reset();
  std::filesystem::remove_all(dir);
  return 0;
}
