// reservoir-bench's command line: every option, its default and what it allows.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "scenario.hpp"
#include "workload.hpp"

namespace bench {

inline const std::vector<std::string> kScenarios{"sequential", "clients-5", "clients-10", "concurrent-100", "sustained",
                                                  "bursts"};

struct Options {
  std::string target = "sqlite:";
  std::string workload = "memory";
  std::string mix_text = "80/20";
  WorkloadConfig work;
  std::vector<std::string> scenarios = kScenarios;
  std::vector<std::string> baselines{"raw", "shared"};
  bool baselines_given = false;  // --baseline on the command line (else shared only where offered)
  std::uint64_t ops = 100000;  // seed 001 asked 1000: over in ~20 ms, it measures thread start and first connects
  std::uint64_t sequential_ops = 1000;
  double duration_s = 3;
  int sustained_clients = 10;
  int bursts = 5;
  int burst_clients = 50;
  int burst_ops = 20;
  int burst_gap_ms = 100;
  std::size_t pool_size = 5;
  int queue_bypass_ms = 1;
  int op_timeout_ms = 5000;
  int connect_timeout_ms = 5000;
  std::string synchronous = "normal";
  std::string locking = "process";
  std::string checkpoint = "automatic";  // sqlite: the pool's checkpointing (sqlite::Checkpoint)
  std::string pg_reset = "discard";
  std::string resilience = "full";
  std::string write_turns = "on";  // sqlite: writers queue for the store before they borrow
  std::string json_path;
  std::string chart_path;
  bool keep = false;
  bool strict = false;
  bool no_progress = false;
  std::uint64_t seed = 1;
  double max_seconds = 60;
  int admin_port = -1;  // --admin: -1 none, 0 any free port
};

// Parses the command line into `o` (CLI11 stays in options.cpp: it is the slowest header to
// compile). nullopt: run; else the exit code: 0 after --help or --version, 2 after a usage
// error, printed naming the argument.
std::optional<int> parse_command_line(int argc, char** argv, Options& o);

// The scenarios `o` selects, in the order given.
std::vector<ScenarioSpec> scenario_specs(const Options& o);

}  // namespace bench
