// bench/breaker_bench.cpp — what a circuit breaker costs per call: the open-state rejection
// (the fail-fast path, which must stay well under a microsecond), the closed-state admission,
// and the ConnectGate path a pool takes before each connect.
#include <benchmark/benchmark.h>

#include <chrono>

#include "reservoir/breaker.hpp"

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
    auto s = gate.allow_connect();
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

}  // namespace
