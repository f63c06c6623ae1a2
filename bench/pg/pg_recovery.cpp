// reservoir_pg_recovery [REPS] [--run|--breaker|--breaker-test|--breaker-default]: how soon
// calls succeed again after the server comes back, in the shape of the fault campaign in
// issue 9: a pool of 4 (default config otherwise), 8 threads, each calling
// SELECT pg_sleep(0.001) with a 2 s deadline in a loop: acquire + query (default), through
// run() (--run: its default retry policy), or run() with a breaker as the pool's gate
// (--breaker: 3 failures, open 50 ms; --breaker-test: the PgDatabaseDown test's breaker, 3
// failures, open 250 ms doubling to 1 s; --breaker-default: BreakerConfig{}). Two phases per
// repetition: SIGKILL of the postmaster, restart after 5 s; a clean stop for 10 s, then start.
// Prints, per phase, the time from "pg_ctl start -w returned" (the server accepts
// connections) to the first successful call, and the connect attempts per second during the
// outage. Needs the server of scripts/servers.sh (source its postgres.env first): it stops and
// starts that server.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "reservoir/breaker.hpp"
#include "reservoir/pg/connector.hpp"
#include "reservoir/run.hpp"

namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) {
    std::fprintf(stderr, "%s is unset: source the postgres.env that scripts/servers.sh wrote\n", name);
    std::exit(2);
  }
  return v;
}

int pg_ctl(const std::string& args) {
  const std::string cmd = "runuser -u " + env("RESERVOIR_TEST_PG_USER") + " -- " + env("RESERVOIR_TEST_PG_BIN") +
                          "/pg_ctl -D " + env("RESERVOIR_TEST_PG_DATA") + " " + args + " >/dev/null 2>&1";
  return std::system(cmd.c_str());
}

void kill_postmaster() {
  std::ifstream pidfile(env("RESERVOIR_TEST_PG_DATA") + "/postmaster.pid");
  int pid = -1;
  pidfile >> pid;
  if (pid > 0) ::kill(pid, SIGKILL);
  // Its children notice the postmaster is gone and exit; the shared memory goes with them.
  std::this_thread::sleep_for(500ms);
}

// RECOVERY_TRACE=1: after the server accepts connections again, print the breaker's transitions
// and the calls that failed (up to 40 lines per phase), with the time since it accepts.
const bool g_trace = std::getenv("RECOVERY_TRACE") != nullptr;
std::atomic<std::int64_t> g_accepting_ns{0};
std::atomic<int> g_trace_lines{0};

void trace(const std::string& what) {
  const std::int64_t at = g_accepting_ns.load();
  if (!g_trace || at == 0 || g_trace_lines.fetch_add(1) >= 40) return;
  const double ms = static_cast<double>(Steady::now().time_since_epoch().count() - at) / 1e6;
  std::fprintf(stderr, "  +%8.1f ms  %s\n", ms, what.c_str());
}

struct Phase {
  double first_ok_ms;
  double connects_per_s;
};

class Load {
 public:
  Load(bool with_run, std::optional<reservoir::BreakerConfig> breaker) : with_run_(with_run) {
    auto connector = reservoir::pg::Connector::create(env("RESERVOIR_TEST_PG_URL"));
    if (!connector) {
      std::fprintf(stderr, "%s\n", connector.error().message().c_str());
      std::exit(1);
    }
    reservoir::PoolOptions options;
    if (breaker) {
      breaker_ =
          std::move(reservoir::CircuitBreaker::create(connector->endpoint(), *breaker, reservoir::SteadyClock::instance()))
              .value();
      options.connect_gate = breaker_;
      breaker_->add_listener([](reservoir::BreakerState from, reservoir::BreakerState to) {
        trace(std::string("breaker ") + std::string(to_string(from)) + " -> " + std::string(to_string(to)));
      });
    }
    reservoir::PoolConfig config;
    config.max_size = 4;
    pool_.emplace(std::move(reservoir::TypedPool<reservoir::pg::Connector>::create(config, options,
                                                                                   std::move(connector).value()))
                      .value());
    run_options_.timeout = 2s;
    run_options_.idempotent = true;
    run_options_.breaker = breaker_;
    for (int i = 0; i < 8; ++i) threads_.emplace_back([this] { loop(); });
  }
  ~Load() {
    stop_ = true;
    for (auto& t : threads_) t.join();
  }
  // The first successful call that ended after `t`.
  Steady::time_point first_ok_after(Steady::time_point t) {
    std::lock_guard g(mu_);
    Steady::time_point best = Steady::time_point::max();
    for (auto e : ok_ends_) {
      if (e >= t) best = std::min(best, e);
    }
    return best;
  }
  std::uint64_t connect_attempts() const {
    const auto s = pool_->stats();
    return s.created + s.failed_connects;
  }

 private:
  bool call() {
    if (with_run_) {
      auto r = reservoir::run(*pool_, [](reservoir::pg::Connection& c, reservoir::Attempt& a) {
               return c.query("SELECT pg_sleep(0.001)", a.deadline());
             }, run_options_);
      if (!r && r.error().kind() != reservoir::ErrorKind::circuit_open) trace("call failed: " + r.error().message());
      return r.ok();
    }
    const auto deadline = reservoir::Deadline::after(reservoir::SteadyClock::instance(), 2s);
    auto lease = pool_->acquire(deadline);
    if (!lease) return false;
    auto r = (*lease)->query("SELECT pg_sleep(0.001)", deadline);
    if (!r) lease->discard();
    return r.ok();
  }

  void loop() {
    while (!stop_) {
      if (call()) {
        std::lock_guard g(mu_);
        ok_ends_.push_back(Steady::now());
      } else {
        std::this_thread::sleep_for(1ms);  // a refusal answers at once: don't spin
      }
    }
  }

  const bool with_run_;
  std::shared_ptr<reservoir::CircuitBreaker> breaker_;
  std::optional<reservoir::TypedPool<reservoir::pg::Connector>> pool_;
  reservoir::RunOptions run_options_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::vector<Steady::time_point> ok_ends_;
};

double ms(Steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

Phase outage(Load& load, bool kill, std::chrono::seconds down) {
  g_accepting_ns = 0;
  g_trace_lines = 0;
  const std::uint64_t before = load.connect_attempts();
  const auto stop_at = Steady::now();
  if (kill) kill_postmaster();
  else pg_ctl("stop -m fast -w -t 30");
  std::this_thread::sleep_for(down);
  const double outage_s = std::chrono::duration<double>(Steady::now() - stop_at).count();
  const std::uint64_t during = load.connect_attempts() - before;
  // After a SIGKILL the old backends may hold the shared memory a moment longer: retry.
  int tries = 0;
  while (pg_ctl("start -w -t 60 -l " + env("RESERVOIR_TEST_PG_DATA") + "/../server.log") != 0) {
    if (++tries == 40) {
      std::fprintf(stderr, "the server did not start again\n");
      std::exit(1);
    }
    std::this_thread::sleep_for(250ms);
  }
  const auto accepting = Steady::now();
  g_accepting_ns = accepting.time_since_epoch().count();
  std::this_thread::sleep_for(3s);
  const auto first = load.first_ok_after(accepting);
  return {first == Steady::time_point::max() ? -1.0 : ms(first - accepting), static_cast<double>(during) / outage_s};
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 4;
  bool with_run = false;
  std::optional<reservoir::BreakerConfig> breaker;
  const char* what = "acquire + query, default config";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--breaker") {
      breaker = reservoir::BreakerConfig{.consecutive_failures = 3, .open_time = 50ms};
      what = "run() + breaker as gate (3 failures, open 50 ms)";
    } else if (a == "--breaker-test") {
      breaker = reservoir::BreakerConfig{
          .consecutive_failures = 3, .open_time = 250ms, .open_time_multiplier = 2.0, .max_open_time = 1000ms};
      what = "run() + breaker as gate (3 failures, open 250 ms doubling to 1 s)";
    } else if (a == "--breaker-default") {
      breaker = reservoir::BreakerConfig{};
      what = "run() + breaker as gate (BreakerConfig{})";
    } else if (a == "--run") {
      what = "run(), default retry policy";
    } else {
      reps = std::max(1, std::atoi(argv[i]));
      continue;
    }
    with_run = true;
  }
  std::printf("%s, pool 4, 8 threads, SELECT pg_sleep(0.001) with 2 s deadlines\n", what);
  std::printf("rep  kill:first_ok_ms  kill:connects/s  stop:first_ok_ms  stop:connects/s\n");
  std::vector<double> kills, stops;
  for (int i = 0; i < reps; ++i) {
    Load load(with_run, breaker);
    std::this_thread::sleep_for(1s);
    const Phase k = outage(load, true, 5s);
    const Phase s = outage(load, false, 10s);
    kills.push_back(k.first_ok_ms);
    stops.push_back(s.first_ok_ms);
    std::printf("%3d  %15.1f  %15.1f  %16.1f  %15.1f\n", i + 1, k.first_ok_ms, k.connects_per_s, s.first_ok_ms,
                s.connects_per_s);
    std::fflush(stdout);
  }
  std::sort(kills.begin(), kills.end());
  std::sort(stops.begin(), stops.end());
  std::printf("med  %15.1f  %15s  %16.1f\n", kills[kills.size() / 2], "", stops[stops.size() / 2]);
}
