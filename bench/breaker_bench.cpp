// bench/breaker_bench.cpp — what resilience costs per call: the breaker's open-state rejection
// (the fail-fast path, which must stay well under a microsecond), its closed-state admission,
// the ConnectGate path a pool takes before each connect, and run()'s overhead over a bare
// acquire/release on a healthy pool.
#include <benchmark/benchmark.h>

#include <chrono>

#include "reservoir/breaker.hpp"
#include "reservoir/run.hpp"

namespace {

using reservoir::BreakerConfig;
using reservoir::CircuitBreaker;
using reservoir::SteadyClock;

std::shared_ptr<CircuitBreaker> open_breaker() {
  BreakerConfig config;
  config.consecutive_failures = 1;
  config.open_time = std::chrono::hours(1);
  config.max_open_time = std::chrono::hours(1);
  auto breaker = std::move(CircuitBreaker::create("db.internal.example:5432", config, SteadyClock::instance())).value();
  auto permit = breaker->allow();
  breaker->record_failure(*permit);
  return breaker;
}

// allow() in the open state: one clock read, two atomic loads, one message allocation.
void BM_BreakerRejectOpen(benchmark::State& state) {
  auto breaker = open_breaker();
  for (auto _ : state) {
    auto r = breaker->allow();
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_BreakerRejectOpen)->ThreadRange(1, 2);

// check(): the pre-acquire peek run() makes.
void BM_BreakerCheckOpen(benchmark::State& state) {
  auto breaker = open_breaker();
  for (auto _ : state) {
    auto s = breaker->check();
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_BreakerCheckOpen);

// The pool's gate before a connect while the endpoint is down.
void BM_GateAllowConnectOpen(benchmark::State& state) {
  auto breaker = open_breaker();
  reservoir::ConnectGate& gate = *breaker;
  for (auto _ : state) {
    auto s = gate.admit();
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_GateAllowConnectOpen);

// The healthy path: admission (lock-free) plus recording a success (one short lock).
void BM_BreakerClosedAllowAndRecord(benchmark::State& state) {
  static std::shared_ptr<CircuitBreaker> breaker;
  if (state.thread_index() == 0) {
    breaker = std::move(CircuitBreaker::create("db:5432", {}, SteadyClock::instance())).value();
  }
  for (auto _ : state) {
    auto p = breaker->allow();
    breaker->record_success(*p);
  }
}
BENCHMARK(BM_BreakerClosedAllowAndRecord)->ThreadRange(1, 2);

// ---- run() over a bare acquire/release ------------------------------------------------------

struct NullConnector {
  using connection = int;
  reservoir::Result<std::unique_ptr<int>> connect(reservoir::Deadline) { return std::make_unique<int>(0); }
  reservoir::Status check(int&, reservoir::CheckDepth, reservoir::Deadline) { return {}; }
  reservoir::Status reset(int&, reservoir::Deadline) { return {}; }
  void close(std::unique_ptr<int>, reservoir::Deadline) noexcept {}
  bool is_broken(const int&) const noexcept { return false; }
  bool is_retryable(const reservoir::Error& e) const noexcept { return e.retryable(); }
  std::string endpoint() const { return "null"; }
};

reservoir::TypedPool<NullConnector> null_pool() {
  reservoir::PoolConfig config;
  config.min_idle = 1;
  config.max_size = 4;
  config.validate_on_checkout = false;
  reservoir::PoolOptions options;
  options.start_maintainer = false;
  return std::move(reservoir::TypedPool<NullConnector>::create(config, options)).value();
}

void BM_AcquireReleaseBaseline(benchmark::State& state) {
  auto pool = null_pool();
  for (auto _ : state) {
    auto lease = pool.acquire();
    benchmark::DoNotOptimize(**lease);
  }
}
BENCHMARK(BM_AcquireReleaseBaseline);

void BM_RunSuccess(benchmark::State& state) {
  auto pool = null_pool();
  for (auto _ : state) {
    auto r = reservoir::run(pool, [](int& c) -> reservoir::Result<int> { return c; });
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_RunSuccess);

void BM_RunSuccessWithBreakerAndBudget(benchmark::State& state) {
  auto pool = null_pool();
  reservoir::RunOptions options;
  options.breaker = std::move(CircuitBreaker::create("null", {}, SteadyClock::instance())).value();
  options.budget = std::move(reservoir::RetryBudget::create(SteadyClock::instance())).value();
  for (auto _ : state) {
    auto r = reservoir::run(pool, [](int& c) -> reservoir::Result<int> { return c; }, options);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_RunSuccessWithBreakerAndBudget);

}  // namespace
