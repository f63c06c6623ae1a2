// Scenarios (seed 001: sequential, clients-5, clients-10; seed 004: concurrent-100,
// sustained, bursts) and their runner. Every latency is kept (not bucketed), so percentiles
// are exact and the chart shows the whole distribution.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "backend.hpp"

namespace bench {

struct ScenarioSpec {
  std::string name;
  int clients = 1;
  std::uint64_t ops = 0;                    // total operations, shared by the clients
  std::chrono::milliseconds duration{0};    // sustained: run this long instead of `ops`
  int bursts = 0;                           // bursts: this many bursts of
  int burst_ops = 0;                        //   burst_ops per client, all clients at once,
  std::chrono::milliseconds burst_gap{0};   //   idle for burst_gap between bursts
  std::string describe() const;
  // Operations the scenario asks for (0 for a timed one).
  std::uint64_t requested() const;
};

struct Figures {  // nanoseconds
  std::uint64_t count = 0;
  std::int64_t min = 0, p50 = 0, p95 = 0, p99 = 0, max = 0;
  double avg = 0;
};
// Exact percentiles of `samples` (sorted in place).
Figures figures_of(std::vector<std::int64_t>& samples);

struct ScenarioResult {
  ScenarioSpec spec;
  Mode mode = Mode::pooled;
  std::uint64_t ops_done = 0;    // operations that ran (succeeded or failed)
  std::uint64_t ops_failed = 0;
  bool capped = false;           // stopped by --max-seconds before every operation ran
  double elapsed_s = 0;          // time the clients were busy (bursts: without the gaps)
  double ops_per_s = 0;          // successful operations per second
  Figures latency;
  Figures acquire;               // pooled only (count 0 otherwise)
  Figures acquire_idle;          // pooled: the acquires during which no connection was opened
  std::map<std::string, std::uint64_t> errors_by_kind;
  std::string first_error;
  std::array<std::uint64_t, kOpKinds> by_kind{};
  std::uint64_t retrieve_hits = 0;
  std::int64_t final_count = -1;  // the table's row count after the scenario (a stats operation)
  std::vector<std::uint64_t> per_second;  // sustained: successful operations in each second
  // Latency distribution for the chart: (percentile 0..100, microseconds).
  std::vector<std::pair<double, double>> cdf;
  TargetStats target;
};

// Called about every 100 ms while a scenario runs: operations done, and the elapsed share 0..1.
using ProgressFn = void (*)(void* ctx, const std::string& label, double share);

struct RunnerSettings {
  std::uint64_t seed = 1;
  std::chrono::milliseconds max_time{60000};  // stops a scenario that runs longer (capped)
  ProgressFn progress = nullptr;
  void* progress_ctx = nullptr;
};

// Opens `mode`'s target on `backend`, runs the scenario, shuts the target down.
// Errors: the target could not open (the pool's error), or a client could not connect.
reservoir::Result<ScenarioResult> run_scenario(Backend& backend, Mode mode, const ScenarioSpec& spec,
                                               const WorkloadConfig& workload, const RunSettings& settings,
                                               const RunnerSettings& runner);

}  // namespace bench
