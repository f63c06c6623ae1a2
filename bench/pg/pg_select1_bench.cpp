// pg_select1_bench — `SELECT 1` round trips per second against a real server: raw libpq with
// one dedicated connection per thread (the ceiling) versus the reservoir pool.
//
//   reservoir_bench_pg [--url URL] [--threads 4] [--warmup 3] [--seconds 10] [--rounds 1]
//                      [--statements 1] [--reset SQL] [--cases a,b,...]
//
// URL defaults to RESERVOIR_TEST_PG_URL or the scripts/servers.sh env file. Cases:
//   raw          PQexec("SELECT 1") on a dedicated blocking connection per thread
//   direct       reservoir's pg::Connection, one per thread, no pool (query() with a deadline)
//   pool4        pool of 4: acquire, query("SELECT 1"), release (reset = DISCARD ALL, or --reset)
//   pool2        pool of 2, same
//   pool4_light  pool of 4 with reset_sql = "" (rollback-only reset: no round trip on return)
//   pool2_light  pool of 2, same
//   pool<N>[_light][_nocache][_noseed]  any size; _nocache turns the statement cache off (--cache N
//                sets its size); _noseed: reseed_random = false; _tracked: ResetMode::tracked
//                (the reset only after a lease whose command tags show session state)
// --workload point: each statement is `SELECT v FROM reservoir_bench_points WHERE id = $1` with a
// random id of 100,000 rows (the table is made on first use); raw uses PQexecParams.
// With --statements N one op is N `SELECT 1` round trips (raw: N PQexec; pool: one lease
// running N queries), which shows how the per-lease reset is spread over a lease's work.
// Each case: all threads start together, run `warmup` seconds, then `seconds` measured; ops/s
// = measured ops / measured time. With --rounds N the whole case list runs N times in turn
// (raw, pool, raw, pool, ...) so drift hits every case alike; the summary takes each case's
// median and compares it with raw's median. Prints one line per run, then a summary table
// and one JSON line per case.
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "reservoir/pg/connector.hpp"
#include "reservoir/typed_pool.hpp"

namespace {

using Steady = std::chrono::steady_clock;
using reservoir::Deadline;
using reservoir::SteadyClock;

struct Options {
  std::string url;
  int threads = 4;
  double warmup_s = 3;
  double seconds = 10;
  int rounds = 1;
  int statements = 1;  // SELECT 1 round trips per op (per lease for the pool cases)
  std::string reset_sql = reservoir::pg::ConnectorOptions{}.reset_sql;  // pool4 / pool2
  std::size_t cache = reservoir::pg::ConnectorOptions{}.statement_cache_size;
  std::string workload = "select1";  // or "point": SELECT by primary key, $1 random of 100,000
  std::vector<std::string> cases{"raw", "pool4", "pool2", "pool4_light", "pool2_light"};
};

struct alignas(128) Counter {
  std::atomic<std::uint64_t> ops{0};
  std::atomic<std::uint64_t> errors{0};
};

std::string default_url() {
  if (const char* u = std::getenv("RESERVOIR_TEST_PG_URL")) return u;
  const char* dir = std::getenv("RESERVOIR_SERVERS_DIR");
  std::ifstream in(std::string(dir ? dir : "/tmp/reservoir-servers") + "/postgres.env");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("RESERVOIR_TEST_PG_URL=")) return line.substr(22);
  }
  return {};
}

constexpr int kPointRows = 100000;
constexpr const char* kPointSql = "SELECT v FROM reservoir_bench_points WHERE id = $1";

// A cheap per-thread id source for the point select (xorshift; not a benchmark cost).
int next_id() {
  thread_local std::uint64_t x = 0x9e3779b97f4a7c15ull ^ reinterpret_cast<std::uintptr_t>(&x);
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return static_cast<int>(x % kPointRows) + 1;
}

void make_point_table(const std::string& url) {
  PGconn* c = PQconnectdb(url.c_str());
  PGresult* r = PQexec(c, "CREATE TABLE IF NOT EXISTS reservoir_bench_points (id int PRIMARY KEY, v text NOT NULL);"
                          "INSERT INTO reservoir_bench_points SELECT g, md5(g::text) FROM generate_series(1, 100000) g "
                          "ON CONFLICT DO NOTHING; ANALYZE reservoir_bench_points");
  if (PQresultStatus(r) != PGRES_COMMAND_OK) {
    std::fprintf(stderr, "point table: %s", PQerrorMessage(c));
    std::exit(1);
  }
  PQclear(r);
  PQfinish(c);
}

// One statement of the workload through reservoir.
bool one_statement(const Options& o, reservoir::pg::Connection& c, Deadline d) {
  if (o.workload == "point") {
    auto r = c.query(kPointSql, {reservoir::sql::Value(std::int64_t{next_id()})}, d);
    return r.ok() && r->size() == 1;
  }
  return c.query("SELECT 1", d).ok();
}

// Runs `op` on `threads` threads: warm-up, then the measured window. `op(thread)` returns
// false on error. Returns measured ops/s.
double run_phases(const Options& o, const std::function<bool(int)>& op, std::uint64_t* errors) {
  std::atomic<int> phase{0};  // 0 warm-up, 1 measure, 2 stop
  std::vector<Counter> counters(o.threads);
  std::vector<std::thread> ts;
  for (int t = 0; t < o.threads; ++t) {
    ts.emplace_back([&, t] {
      while (phase.load(std::memory_order_relaxed) != 2) {
        const bool ok = op(t);
        if (phase.load(std::memory_order_relaxed) != 1) continue;
        (ok ? counters[t].ops : counters[t].errors).fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup_s));
  const auto t0 = Steady::now();
  phase.store(1);
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  phase.store(2);
  const auto t1 = Steady::now();
  for (auto& t : ts) t.join();
  std::uint64_t ops = 0;
  *errors = 0;
  for (auto& c : counters) {
    ops += c.ops.load();
    *errors += c.errors.load();
  }
  return ops / std::chrono::duration<double>(t1 - t0).count();
}

double run_raw(const Options& o, std::uint64_t* errors) {
  std::vector<PGconn*> conns;
  for (int t = 0; t < o.threads; ++t) {
    PGconn* c = PQconnectdb(o.url.c_str());
    if (PQstatus(c) != CONNECTION_OK) {
      std::fprintf(stderr, "raw: connect failed: %s", PQerrorMessage(c));
      std::exit(1);
    }
    conns.push_back(c);
  }
  const double rate = run_phases(o, [&](int t) {
    bool ok = true;
    for (int i = 0; i < o.statements; ++i) {
      PGresult* r = nullptr;
      if (o.workload == "point") {
        const std::string id = std::to_string(next_id());
        const char* values[1] = {id.c_str()};
        r = PQexecParams(conns[t], kPointSql, 1, nullptr, values, nullptr, nullptr, 0);
        ok = ok && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
      } else {
        r = PQexec(conns[t], "SELECT 1");
        ok = ok && PQresultStatus(r) == PGRES_TUPLES_OK;
      }
      PQclear(r);
    }
    return ok;
  }, errors);
  for (PGconn* c : conns) PQfinish(c);
  return rate;
}

// reservoir's pg::Connection without the pool: splits the pool's cost from the query path's.
reservoir::pg::Connector connector_or_exit(const Options& o, reservoir::pg::ConnectorOptions copts = {}) {
  auto connector = reservoir::pg::Connector::create(o.url, std::move(copts));
  if (!connector) {
    std::fprintf(stderr, "%s\n", connector.error().message().c_str());
    std::exit(1);
  }
  return std::move(connector).value();
}

double run_direct(const Options& o, std::uint64_t* errors) {
  reservoir::pg::Connector connector = connector_or_exit(o);
  std::vector<std::unique_ptr<reservoir::pg::Connection>> conns;
  for (int t = 0; t < o.threads; ++t) {
    auto c = connector.connect(Deadline::after(SteadyClock::instance(), std::chrono::seconds(5)));
    if (!c) {
      std::fprintf(stderr, "%s\n", c.error().message().c_str());
      std::exit(1);
    }
    conns.push_back(std::move(c).value());
  }
  return run_phases(o, [&](int t) {
    const Deadline d = Deadline::after(SteadyClock::instance(), std::chrono::seconds(5));
    bool ok = true;
    for (int i = 0; i < o.statements; ++i) ok = one_statement(o, *conns[t], d) && ok;
    return ok;
  }, errors);
}

double run_pool(const Options& o, std::size_t size, bool light, bool cache, bool reseed, bool tracked,
                std::uint64_t* errors) {
  reservoir::pg::ConnectorOptions copts;
  if (tracked) copts.reset = reservoir::pg::ResetMode::tracked;
  copts.reseed_random = reseed;
  copts.reset_sql = light ? "" : o.reset_sql;
  copts.statement_cache_size = cache ? o.cache : 0;
  reservoir::pg::Connector connector = connector_or_exit(o, std::move(copts));
  reservoir::PoolConfig config;
  config.name = "bench";
  config.min_idle = size;
  config.max_size = size;
  config.max_concurrent_connects = size;
  config.init_mode = reservoir::InitMode::wait;
  auto pool = reservoir::TypedPool<reservoir::pg::Connector>::create(config, {}, std::move(connector));
  if (!pool) {
    std::fprintf(stderr, "%s\n", pool.error().message().c_str());
    std::exit(1);
  }
  const double rate = run_phases(o, [&](int) {
    const Deadline d = Deadline::after(SteadyClock::instance(), std::chrono::seconds(5));
    auto lease = pool->acquire(d);
    if (!lease) return false;
    bool ok = true;
    for (int i = 0; i < o.statements; ++i) ok = one_statement(o, *lease.value(), d) && ok;
    return ok;
  }, errors);
  (void)pool->shutdown(std::chrono::seconds(2));
  return rate;
}

Options parse(int argc, char** argv) {
  Options o;
  o.url = default_url();
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--url") o.url = v;
    else if (k == "--threads") o.threads = std::atoi(v.c_str());
    else if (k == "--warmup") o.warmup_s = std::atof(v.c_str());
    else if (k == "--seconds") o.seconds = std::atof(v.c_str());
    else if (k == "--rounds") o.rounds = std::max(1, std::atoi(v.c_str()));
    else if (k == "--reset") o.reset_sql = v;
    else if (k == "--cache") o.cache = static_cast<std::size_t>(std::atoi(v.c_str()));
    else if (k == "--workload") o.workload = v;
    else if (k == "--statements") o.statements = std::max(1, std::atoi(v.c_str()));
    else if (k == "--cases") {
      o.cases.clear();
      std::stringstream ss(v);
      for (std::string c; std::getline(ss, c, ',');) o.cases.push_back(c);
    }
  }
  return o;
}

double run_case(const Options& o, const std::string& c, std::uint64_t* errors) {
  if (c == "raw") return run_raw(o, errors);
  if (c == "direct") return run_direct(o, errors);
  // pool<N>[_light][_nocache][_noseed][_tracked]: pool of N; rollback-only reset; statement
  // cache off; no reseed of random() in the reset; ResetMode::tracked.
  if (c.starts_with("pool")) {
    const int size = std::atoi(c.c_str() + 4);
    if (size > 0) {
      return run_pool(o, static_cast<std::size_t>(size), c.find("_light") != std::string::npos,
                      c.find("_nocache") == std::string::npos, c.find("_noseed") == std::string::npos,
                      c.find("_tracked") != std::string::npos, errors);
    }
  }
  std::fprintf(stderr, "unknown case %s\n", c.c_str());
  std::exit(2);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n == 0 ? 0 : (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (o.url.empty()) {
    std::fprintf(stderr, "no server: pass --url or run scripts/servers.sh start postgres\n");
    return 2;
  }
  if (o.workload == "point") make_point_table(o.url);
  std::printf("threads %d, %d %s per op, warm-up %.1f s, measured %.1f s, rounds %d\n", o.threads, o.statements,
              o.workload == "point" ? "point selects" : "SELECT 1", o.warmup_s, o.seconds, o.rounds);
  std::map<std::string, std::vector<double>> rates;
  std::map<std::string, std::uint64_t> errors;
  for (int round = 1; round <= o.rounds; ++round) {
    for (const std::string& c : o.cases) {
      std::uint64_t e = 0;
      const double rate = run_case(o, c, &e);
      rates[c].push_back(rate);
      errors[c] += e;
      std::printf("round %d %-12s %10.0f ops/s  errors %llu\n", round, c.c_str(), rate, static_cast<unsigned long long>(e));
      std::fflush(stdout);
    }
  }
  const double raw = rates.count("raw") ? median(rates["raw"]) : 0;
  std::printf("\n%-12s %8s %12s %8s %8s %8s\n", "case", "threads", "median/s", "vs raw", "spread", "errors");
  for (const std::string& c : o.cases) {
    if (!rates.count(c)) continue;
    auto& v = rates[c];
    const double m = median(v);
    const double spread = m > 0 ? (*std::max_element(v.begin(), v.end()) - *std::min_element(v.begin(), v.end())) / m : 0;
    const double ratio = raw > 0 ? m / raw : 0;
    std::printf("%-12s %8d %12.0f %7.1f%% %7.1f%% %8llu\n", c.c_str(), o.threads, m, ratio * 100, spread * 100,
                static_cast<unsigned long long>(errors[c]));
    std::string all;
    for (double r : v) {
      if (!all.empty()) all += ',';
      all += std::to_string(static_cast<long long>(r));
    }
    std::printf("JSON {\"case\":\"%s\",\"threads\":%d,\"ops_per_s_median\":%.1f,\"rounds_ops_per_s\":[%s],"
                "\"vs_raw\":%.4f,\"errors\":%llu,\"statements_per_op\":%d,\"workload\":\"%s\",\"warmup_s\":%.1f,\"measure_s\":%.1f}\n",
                c.c_str(), o.threads, m, all.c_str(), ratio, static_cast<unsigned long long>(errors[c]), o.statements,
                o.workload.c_str(), o.warmup_s, o.seconds);
    rates.erase(c);
  }
  return 0;
}
