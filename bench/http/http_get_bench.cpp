// http_get_bench — small GETs (nginx's 100-byte /small) per second, 4 client threads:
// reservoir's pool of keep-alive connections vs a new connection per request (seed 003's
// "before") vs wrk (the ceiling: C, epoll, keep-alive), in alternating rounds of one sitting.
//
//   reservoir_bench_http [--url URL] [--path /small] [--threads 4] [--pool 4] [--warmup 2]
//                        [--seconds 5] [--rounds 3] [--cases pool,per_request,wrk,coroutine]
//                        [--in-flight 64]
//
// URL defaults to RESERVOIR_TEST_NGINX_BENCH_URL or the scripts/servers.sh nginx.env (the
// bench listener: ordinary keep-alive). Cases:
//   pool         TypedPool<http::Connector> of --pool: acquire, GET, release (checkout check at
//                its default: skipped for connections used in the last 500 ms)
//   per_request  http::Connector::connect, GET, close: a new TCP connection per request
//   wrk          `wrk -t2 -c<pool> -d<seconds>s --latency URL` (Debian's wrk)
//   coroutine    one thread, one io_context, --in-flight coroutines (default 64) each looping
//                async_acquire + http::async_request on a pool of --pool; compare with `pool`
//                at --threads 8 --pool 8 (the blocking client on 8 threads), same sitting
// Each case runs `warmup` seconds, then `seconds` measured. Prints one line per run (with the
// client process's CPU time per request; 0 for wrk, another process), then the medians and the ratios the issue asks for (pool / wrk, pool / per_request).
#include <CLI/CLI.hpp>
#include <sys/resource.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "reservoir/asio/acquire.hpp"
#include "reservoir/http/connector.hpp"
#include "reservoir/http_asio/async_request.hpp"
#include "reservoir/typed_pool.hpp"

namespace {

using Steady = std::chrono::steady_clock;
using reservoir::Deadline;
using reservoir::SteadyClock;
namespace http = reservoir::http;

struct Options {
  std::string url;
  std::string path = "/small";
  int threads = 4;
  int pool = 4;
  double warmup = 2;
  double seconds = 5;
  int rounds = 3;
  int in_flight = 64;
  std::vector<std::string> cases{"pool", "per_request", "wrk"};
};

struct Run {
  double rps = 0;
  double p50_us = 0;
  double p99_us = 0;
  long errors = 0;
  double cpu_us = 0;  // the client process's CPU time (user + system) per request
};

// The process's CPU time (user + system), all threads: CPU per request holds up far better
// than requests/s on a machine shared with other loads.
double process_cpu_us() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto us = [](const timeval& t) { return double(t.tv_sec) * 1e6 + double(t.tv_usec); };
  return us(u.ru_utime) + us(u.ru_stime);
}

std::string default_url() {
  if (const char* v = std::getenv("RESERVOIR_TEST_NGINX_BENCH_URL")) return v;
  const char* dir = std::getenv("RESERVOIR_SERVERS_DIR");
  std::ifstream in(std::string(dir ? dir : "/tmp/reservoir-servers") + "/nginx.env");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("RESERVOIR_TEST_NGINX_BENCH_URL=", 0) == 0) return line.substr(line.find('=') + 1);
  }
  return {};
}

Deadline in(std::chrono::milliseconds d) { return Deadline::after(SteadyClock::instance(), d); }

Run summarize(std::vector<float>& all, long n, long errors, double elapsed, double cpu_us) {
  std::sort(all.begin(), all.end());
  auto q = [&](double p) { return all.empty() ? 0.0 : double(all[static_cast<std::size_t>(p * double(all.size() - 1))]); };
  return Run{double(n) / elapsed, q(0.5), q(0.99), errors, n > 0 ? cpu_us / double(n) : 0};
}

// Runs `op` on every thread for warmup + seconds; counts and times the measured part.
template <class Op>
Run measure(const Options& o, Op op) {
  std::atomic<bool> measuring{false}, stop{false};
  std::atomic<long> errors{0};
  std::vector<std::vector<float>> lat(o.threads);
  std::vector<long> counts(o.threads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) {
    threads.emplace_back([&, t] {
      lat[t].reserve(1 << 20);
      while (!stop.load(std::memory_order_relaxed)) {
        auto t0 = Steady::now();
        bool ok = op();
        bool m = measuring.load(std::memory_order_relaxed);
        if (!ok) {
          if (m) ++errors;
          continue;
        }
        if (m) {
          ++counts[t];
          lat[t].push_back(std::chrono::duration<float, std::micro>(Steady::now() - t0).count());
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup));
  measuring = true;
  auto start = Steady::now();
  double cpu0 = process_cpu_us();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  measuring = false;
  double cpu = process_cpu_us() - cpu0;
  double elapsed = std::chrono::duration<double>(Steady::now() - start).count();
  stop = true;
  for (auto& th : threads) th.join();
  std::vector<float> all;
  long n = 0;
  for (int t = 0; t < o.threads; ++t) {
    n += counts[t];
    all.insert(all.end(), lat[t].begin(), lat[t].end());
  }
  return summarize(all, n, errors.load(), elapsed, cpu);
}

bool good(const reservoir::Result<http::Response>& r) { return r && r->status == 200 && r->body.size() == 100; }

reservoir::TypedPool<http::Connector> make_pool(const Options& o) {
  reservoir::PoolConfig config;
  config.name = "bench-http";
  config.max_size = static_cast<std::size_t>(o.pool);
  config.min_idle = static_cast<std::size_t>(o.pool);
  auto connector = http::Connector::create(o.url);
  if (!connector) {
    std::fprintf(stderr, "%s\n", connector.error().message().c_str());
    std::exit(1);
  }
  auto pool = reservoir::TypedPool<http::Connector>::create(config, {}, std::move(connector).value());
  if (!pool) {
    std::fprintf(stderr, "%s\n", pool.error().message().c_str());
    std::exit(1);
  }
  return std::move(pool).value();
}

Run run_pool(const Options& o) {
  auto pool = make_pool(o);
  const auto req = http::Request::get(o.path);
  return measure(o, [&] {
    auto lease = pool.acquire(in(std::chrono::milliseconds(2000)));
    return lease && good((*lease)->request(req, in(std::chrono::milliseconds(2000))));
  });
}

// One thread: --in-flight coroutines share the pool through async_acquire and async_request.
Run run_coroutine(const Options& o) {
  namespace net = boost::asio;
  auto pool = make_pool(o);
  const auto req = http::Request::get(o.path);
  net::io_context io(1);
  bool measuring = false, stop = false;
  long n = 0, errors = 0;
  std::vector<float> lat;
  lat.reserve(1 << 21);
  auto client = [&]() -> net::awaitable<void> {
    while (!stop) {
      auto t0 = Steady::now();
      auto lease = co_await reservoir::asio::async_acquire(pool, in(std::chrono::milliseconds(2000)), net::use_awaitable);
      bool ok = false;
      if (lease) {
        auto r = co_await http::async_request(*lease, req, in(std::chrono::milliseconds(2000)), net::use_awaitable);
        ok = good(r);
      }
      if (!measuring) continue;
      if (!ok) {
        ++errors;
        continue;
      }
      ++n;
      lat.push_back(std::chrono::duration<float, std::micro>(Steady::now() - t0).count());
    }
  };
  for (int i = 0; i < o.in_flight; ++i) net::co_spawn(io, client(), net::detached);
  net::steady_timer phase(io);
  Steady::time_point start;
  double elapsed = o.seconds, cpu = 0;
  phase.expires_after(std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(o.warmup)));
  phase.async_wait([&](auto) {
    measuring = true;
    start = Steady::now();
    cpu = process_cpu_us();
    phase.expires_after(std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(o.seconds)));
    phase.async_wait([&](auto) {
      measuring = false;
      stop = true;
      elapsed = std::chrono::duration<double>(Steady::now() - start).count();
      cpu = process_cpu_us() - cpu;
    });
  });
  io.run();  // returns when every coroutine saw `stop`
  return summarize(lat, n, errors, elapsed, cpu);
}

Run run_per_request(const Options& o) {
  auto connector = http::Connector::create(o.url).value();
  const auto req = http::Request::get(o.path);
  return measure(o, [&] {
    auto conn = connector.connect(in(std::chrono::milliseconds(2000)));
    if (!conn) return false;
    bool ok = good((*conn)->request(req, in(std::chrono::milliseconds(2000))));
    connector.close(std::move(conn).value(), in(std::chrono::milliseconds(100)));
    return ok;
  });
}

double wrk_us(const std::string& v) {
  double x = std::atof(v.c_str());
  if (v.find("ms") != std::string::npos) return x * 1000;
  if (v.find("us") != std::string::npos) return x;
  if (v.find('s') != std::string::npos) return x * 1e6;
  return x;
}

Run run_wrk(const Options& o) {
  std::ostringstream cmd;
  cmd << "wrk -t2 -c" << o.pool << " -d" << static_cast<int>(o.seconds + o.warmup) << "s --latency " << o.url << o.path
      << " 2>&1";
  FILE* p = ::popen(cmd.str().c_str(), "r");
  if (p == nullptr) return {};
  Run r;
  char line[512];
  while (std::fgets(line, sizeof line, p)) {
    std::istringstream in(line);
    std::string a, b;
    in >> a >> b;
    if (a == "Requests/sec:") r.rps = std::atof(b.c_str());
    if (a == "50%") r.p50_us = wrk_us(b);
    if (a == "99%") r.p99_us = wrk_us(b);
    if (a == "Non-2xx") r.errors = 1;
  }
  ::pclose(p);
  return r;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  o.url = default_url();
  CLI::App app{"small GETs per second: reservoir pool vs a connection per request vs wrk"};
  app.add_option("--url", o.url, "nginx origin (default: the servers.sh bench listener)");
  app.add_option("--path", o.path);
  app.add_option("--threads", o.threads)->check(CLI::Range(1, 256));
  app.add_option("--pool", o.pool)->check(CLI::Range(1, 256));
  app.add_option("--warmup", o.warmup);
  app.add_option("--seconds", o.seconds);
  app.add_option("--rounds", o.rounds)->check(CLI::Range(1, 100));
  app.add_option("--cases", o.cases)->delimiter(',');
  app.add_option("--in-flight", o.in_flight, "coroutines in flight (coroutine case)")->check(CLI::Range(1, 100000));
  CLI11_PARSE(app, argc, argv);
  if (o.url.empty()) {
    std::fprintf(stderr, "no URL: pass --url or run scripts/servers.sh start nginx\n");
    return 2;
  }
  std::map<std::string, std::vector<double>> rps, cpu;
  for (int round = 1; round <= o.rounds; ++round) {
    for (const auto& c : o.cases) {
      Run r = c == "pool"          ? run_pool(o)
              : c == "per_request" ? run_per_request(o)
              : c == "coroutine"   ? run_coroutine(o)
                                   : run_wrk(o);
      rps[c].push_back(r.rps);
      cpu[c].push_back(r.cpu_us);
      std::printf("round %d %-12s rps=%9.0f p50_us=%7.1f p99_us=%7.1f errors=%ld cpu_us/req=%.2f\n", round, c.c_str(),
                  r.rps, r.p50_us, r.p99_us, r.errors, r.cpu_us);
      std::fflush(stdout);
    }
  }
  std::printf("\nmedians over %d rounds (threads=%d pool=%d, %.0f s measured after %.0f s warm-up):\n", o.rounds,
              o.threads, o.pool, o.seconds, o.warmup);
  for (const auto& [c, v] : rps) {
    std::printf("  %-12s %9.0f req/s, %.2f us CPU/req\n", c.c_str(), median(v), median(cpu[c]));
  }
  if (rps.count("pool") && rps.count("wrk") && median(rps["wrk"]) > 0) {
    std::printf("  pool / wrk         = %.1f%%\n", 100 * median(rps["pool"]) / median(rps["wrk"]));
  }
  if (rps.count("pool") && rps.count("coroutine") && median(rps["pool"]) > 0) {
    std::printf("  coroutine / pool   = %.1f%% (1 thread, %d in flight vs %d threads)\n",
                100 * median(rps["coroutine"]) / median(rps["pool"]), o.in_flight, o.threads);
  }
  if (rps.count("pool") && rps.count("per_request") && median(rps["per_request"]) > 0) {
    std::printf("  pool / per_request = %.1fx\n", median(rps["pool"]) / median(rps["per_request"]));
  }
  return 0;
}
