// reservoir-bench: the seeds' benchmark as a tool. The `memory` workload (seed 000) through
// reservoir::run() on a pool, next to baselines without the pool, in seed 001's scenarios and
// seed 004's load shapes; prints a table per scenario and seed 001's criteria as PASS/FAIL.
//
// Exit codes: 0 ran (criteria printed); 1 could not run (unreachable backend, I/O); 2 usage
// error (names the argument); 3 a criterion that fails the run failed (connections above the
// pool size, failed operations; with --strict, any).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "backend.hpp"
#include "chart.hpp"
#include "options.hpp"
#include "reservoir/admin/server.hpp"
#include "report.hpp"
#include "scenario.hpp"

#ifndef RESERVOIR_VERSION
#define RESERVOIR_VERSION "unknown"
#endif

namespace bench {
namespace {

constexpr int kExitCannotRun = 1;
constexpr int kExitUsage = 2;
constexpr int kExitCriterion = 3;

int fail(const std::string& what, int code) {
  std::fflush(stdout);
  std::fprintf(stderr, "reservoir-bench: %s\n", what.c_str());
  return code;
}

void draw_progress(void*, const std::string& label, double share) {
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(share * kWidth + 0.5);
  std::printf("\r\033[K  %-26s [%s%s] %3.0f%%", label.c_str(), std::string(static_cast<std::size_t>(filled), '#').c_str(),
              std::string(static_cast<std::size_t>(kWidth - filled), '.').c_str(), share * 100);
  std::fflush(stdout);
}

RunSettings run_settings(const Options& o) {
  RunSettings s;
  s.pool.name = "reservoir-bench";
  s.pool.max_size = o.pool_size;
  s.pool.queue_bypass = std::chrono::milliseconds(o.queue_bypass_ms);
  s.pool.connect_timeout = std::chrono::milliseconds(o.connect_timeout_ms);
  s.pool.acquire_timeout = std::chrono::milliseconds(o.op_timeout_ms);
  s.op_timeout = std::chrono::milliseconds(o.op_timeout_ms);
  s.connect_timeout = std::chrono::milliseconds(o.connect_timeout_ms);
  s.breaker_and_budget = o.resilience == "full";
  s.write_turns = o.write_turns == "on";
  return s;
}

// The default baselines leave out what the backend does not offer; named ones are checked.
std::vector<Mode> modes_of(const Options& o, const Backend& b) {
  std::vector<Mode> modes{Mode::pooled};
  for (const auto& name : o.baselines) {
    const Mode m = name == "raw" ? Mode::raw : name == "shared" ? Mode::shared : Mode::unpooled;
    if (!o.baselines_given && !b.offers(m)) continue;
    if (name != "none" && std::find(modes.begin(), modes.end(), m) == modes.end()) modes.push_back(m);
  }
  return modes;
}

int run(const Options& o) {
  RunSettings settings = run_settings(o);
  BackendOptions bo{.pg_reset = o.pg_reset, .synchronous = o.synchronous, .locking = o.locking, .checkpoint = o.checkpoint, .settings = settings};
  auto backend = make_backend(o.target, bo);
  if (!backend) {
    const auto kind = backend.error().kind();
    const bool usage = kind == reservoir::ErrorKind::invalid_argument || kind == reservoir::ErrorKind::invalid_config;
    return fail("--target: " + backend.error().message(), usage ? kExitUsage : kExitCannotRun);
  }
  if (const std::string why = (*backend)->refuses(o.work); !why.empty()) return fail("--workload: " + why, kExitUsage);
  Backend& b = **backend;
  const auto modes = modes_of(o, b);
  for (Mode m : modes) {
    if (!b.offers(m)) {
      return fail("--baseline: " + std::string(to_string(m)) + " is not offered by the " + b.kind() + " backend",
                  kExitUsage);
    }
  }
  std::string mode_names;
  for (Mode m : modes) mode_names += (mode_names.empty() ? "" : ", ") + std::string(to_string(m));
  std::printf("reservoir-bench %s: %s workload %s over %lld keys on %s %s; pool of %zu; modes: %s\n", RESERVOIR_VERSION,
              o.workload.c_str(), to_string(o.work.mix).c_str(), static_cast<long long>(o.work.keys), b.kind().c_str(),
              b.endpoint().c_str(), o.pool_size, mode_names.c_str());
  if (const std::string note = b.setup_note(); !note.empty()) std::printf("%s\n", note.c_str());
  std::fflush(stdout);
  // --admin: one registry and endpoint for the whole run; each pooled target registers itself.
  std::unique_ptr<reservoir::admin::AdminServer> admin;
  if (o.admin_port >= 0) {
    settings.registry = std::make_shared<reservoir::metrics::Registry>();
    settings.events = std::make_shared<reservoir::admin::EventRing>();
    auto started = reservoir::admin::AdminServer::start(
        settings.registry, {.port = static_cast<std::uint16_t>(o.admin_port), .events = settings.events});
    if (!started) {
      b.cleanup(o.keep);
      return fail("--admin: cannot serve on 127.0.0.1:" + std::to_string(o.admin_port) + ": " +
                      started.error().message(),
                  kExitCannotRun);
    }
    admin = std::move(started).value();
    std::printf("admin: http://127.0.0.1:%u/dashboard\n", static_cast<unsigned>(admin->port()));
    std::fflush(stdout);
  }
  JsonDocument doc;  // the start time and the machine's load, now
  if (auto st = b.prepare(o.work); !st) {
    b.cleanup(o.keep);
    return fail("cannot prepare the " + b.kind() + " target: " + st.error().message(), kExitCannotRun);
  }

  RunnerSettings runner;
  runner.seed = o.seed;
  runner.max_time = std::chrono::milliseconds(static_cast<long>(o.max_seconds * 1000));
  const bool progress = !o.no_progress && isatty(STDOUT_FILENO) == 1;
  if (progress) runner.progress = draw_progress;

  std::vector<ScenarioGroup> groups;
  for (const ScenarioSpec& spec : scenario_specs(o)) {
    ScenarioGroup g{spec, {}};
    RunSettings scenario_settings = settings;
    if (admin) scenario_settings.pool.name = spec.name;  // the `pool` label on the endpoint
    for (Mode m : modes) {
      auto r = run_scenario(b, m, spec, o.work, scenario_settings, runner);
      if (progress) std::printf("\r\033[K");
      if (!r) {
        const std::string msg = spec.name + " (" + std::string(to_string(m)) + "): " + r.error().message();
        b.cleanup(o.keep);
        return fail(msg, kExitCannotRun);
      }
      g.runs.push_back(std::move(r).value());
      // The next mode starts with nothing of this one's left to write back: a store's last
      // checkpoint leaves megabytes of dirty pages, whose writeback landed in the next mode's
      // time (raw after a pooled run that checkpointed in the background made ~8% fewer
      // operations than after one that checkpointed in its commits).
      ::sync();
    }
    print_table(stdout, g, o);
    std::fflush(stdout);
    groups.push_back(std::move(g));
  }
  if (admin) admin->stop(std::chrono::seconds(1));
  const auto criteria = judge(groups, o);
  print_criteria(stdout, criteria);
  int code = 0;
  for (const auto& c : criteria) {
    if (!c.pass && (c.fails_run || o.strict)) code = kExitCriterion;
  }

  int io_code = 0;
  if (!o.json_path.empty()) {
    std::ofstream out(o.json_path);
    out << doc.finish(b, o, groups, criteria, code) << '\n';
    if (!out) {
      io_code = fail("--json: cannot write " + o.json_path, kExitCannotRun);
    } else {
      std::printf("json: %s\n", o.json_path.c_str());
    }
  }
  if (!o.chart_path.empty()) {
    const std::string title = "reservoir-bench: latency distribution (" + o.workload + " " + to_string(o.work.mix) + ", " +
                              b.kind() + ", pool of " + std::to_string(o.pool_size) + ")";
    if (auto st = draw_chart(o.chart_path, groups, title); !st) {
      io_code = fail(st.error().message(), kExitCannotRun);
    } else {
      std::printf("chart: %s\n", o.chart_path.c_str());
    }
  }
  if (const std::string note = b.cleanup(o.keep); !note.empty()) std::printf("%s\n", note.c_str());
  return io_code != 0 ? io_code : code;
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  bench::Options o;
  if (const auto code = bench::parse_command_line(argc, argv, o)) return *code;
  if (const std::string why = bench::parse_mix(o.mix_text, o.work.mix); !why.empty()) {
    return bench::fail("--mix: " + why, bench::kExitUsage);
  }
  o.work.kind = o.workload;
  if (o.workload == "get") o.work.mix = {.retrieve = 100, .store = 0, .stats = 0};  // every operation a GET
  return bench::run(o);
}
