#include "options.hpp"

#include <regex>

#include <CLI/CLI.hpp>

#ifndef RESERVOIR_VERSION
#define RESERVOIR_VERSION "unknown"
#endif

namespace bench {

namespace {

// CLI11 validators return an empty string when the value is fine, else what is wrong (CLI11
// prefixes the option's name).
std::string check_target(const std::string& uri) {
  for (const char* scheme : {"sqlite:", "postgresql://", "postgres://", "etcd+http://", "http://"}) {
    if (uri.starts_with(scheme)) return {};
  }
  const auto colon = uri.find(':');
  return "unsupported target \"" + (colon == std::string::npos ? uri : uri.substr(0, colon + 1)) +
         "…\": expected sqlite:[PATH], postgresql://…, etcd+http://HOST:PORT or http://HOST:PORT/PATH";
}

std::string check_mix(const std::string& text) {
  Mix ignored;
  return parse_mix(text, ignored);
}

std::string check_table(const std::string& name) {
  static const std::regex ident("[A-Za-z_][A-Za-z0-9_]{0,62}");
  return std::regex_match(name, ident) ? std::string() : "expected a plain SQL identifier ([A-Za-z_][A-Za-z0-9_]*, at most 63)";
}

// Declares every option on `app`, bound to `o`.
void add_options(CLI::App& app, Options& o) {
  app.add_option("--target", o.target,
                 "what to run against: sqlite: (a fresh temporary store, removed afterwards unless --keep), "
                 "sqlite:PATH (a store file; its directory must exist), postgresql://USER@HOST:PORT/DB, "
                 "etcd+http://HOST:PORT (the memory workload through etcd's v3 JSON gateway), or "
                 "http://HOST:PORT/PATH (with --workload get)")
      ->capture_default_str()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
      ->check(CLI::Validator(check_target, "URI"));
  app.add_option("--workload", o.workload,
                 "the workload: memory (seed 000's store: store, retrieve, stats), or get (every operation a GET "
                 "of an http:// target's URL; --mix does not apply)")
      ->capture_default_str()
      ->check(CLI::IsMember({"memory", "get"}));
  app.add_option("--mix", o.mix_text,
                 "read/write percentages (retrieve/store), or retrieve/store/stats, e.g. 80/20 or 79/20/1")
      ->capture_default_str()
      ->check(CLI::Validator(check_mix, "R/W[/S]"));
  app.add_option("--keys", o.work.keys, "distinct memory keys; each is stored once before the scenarios")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{10'000'000}));
  app.add_option("--content-bytes", o.work.content_bytes, "size of a stored memory's content")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}));
  app.add_option("--table", o.work.table, "table the workload uses (created if missing, emptied, dropped afterwards "
                                          "on PostgreSQL unless --keep)")
      ->capture_default_str()
      ->check(CLI::Validator(check_table, "NAME"));
  app.add_option("--scenarios", o.scenarios,
                 "scenarios to run, comma-separated: sequential (1 client), clients-5, clients-10, concurrent-100, "
                 "sustained (--duration), bursts")
      ->capture_default_str()
      ->delimiter(',')
      ->check(CLI::IsMember(kScenarios));
  app.add_option("--baseline", o.baselines,
                 "baselines run next to every scenario, comma-separated: raw (the backend's own client library, "
                 "one connection per thread, no pool), shared (sqlite: only: --pool-size raw handles shared by the "
                 "clients through the plainest pool, a mutex, a condition variable and a free list, with no deadline, "
                 "check or reset: what sharing the connections costs, apart from reservoir), unpooled (a connection "
                 "per operation), none; by default raw, and shared where the backend offers it")
      ->capture_default_str()
      ->delimiter(',')
      ->check(CLI::IsMember({"raw", "shared", "unpooled", "none"}));
  app.add_option("--ops", o.ops, "operations in clients-5, clients-10 and concurrent-100 (shared by the clients)")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100'000'000}));
  app.add_option("--sequential-ops", o.sequential_ops, "operations in sequential (seed 001: 1000)")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100'000'000}));
  app.add_option("--duration", o.duration_s, "seconds of sustained load")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  app.add_option("--sustained-clients", o.sustained_clients, "clients in sustained")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--bursts", o.bursts, "bursts in bursts")->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_option("--burst-clients", o.burst_clients, "clients released at once in each burst")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--burst-ops", o.burst_ops, "operations per client per burst")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  app.add_option("--burst-gap-ms", o.burst_gap_ms, "idle time between bursts")
      ->capture_default_str()
      ->check(CLI::Range(0, 600'000));
  app.add_option("--pool-size", o.pool_size, "the pool's max_size (most connections open, leased or idle)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{4096}));
  app.add_option("--queue-bypass-ms", o.queue_bypass_ms,
                 "the pool's queue_bypass: how long running clients may take returned connections ahead of a "
                 "queued one (0: strict FIFO handoff)")
      ->capture_default_str()
      ->check(CLI::Range(0, 3'600'000));
  app.add_option("--op-timeout-ms", o.op_timeout_ms, "deadline of each operation (run()'s timeout: acquire, retries, "
                                                     "the statement)")
      ->capture_default_str()
      ->check(CLI::Range(1, 3'600'000));
  app.add_option("--connect-timeout-ms", o.connect_timeout_ms, "deadline of each connect")
      ->capture_default_str()
      ->check(CLI::Range(1, 3'600'000));
  app.add_option("--synchronous", o.synchronous, "SQLite PRAGMA synchronous (WAL mode): off, normal, full, extra")
      ->capture_default_str()
      ->check(CLI::IsMember({"off", "normal", "full", "extra"}));
  app.add_option("--locking", o.locking,
                 "sqlite: how the store file is locked, for the pool and the raw and shared baselines alike: "
                 "process (sqlite::Locking::process, the library default: this process locks the file once and its "
                 "connections coordinate in memory) or per-transaction (SQLite's default: file locks for every "
                 "transaction)")
      ->capture_default_str()
      ->check(CLI::IsMember({"process", "per-transaction"}));
  app.add_option("--checkpoint", o.checkpoint,
                 "sqlite: who copies the WAL back into the store for the pool's connections (sqlite::Checkpoint): "
                 "automatic (the library default: background with --synchronous off or normal, on-commit with full "
                 "or extra), background (a thread of the process, while writers go on) or on-commit (SQLite's "
                 "default: the commit that fills the WAL, while the other writers wait). The raw and shared baselines "
                 "always checkpoint on commit, as SQLite does without a thread of its own")
      ->capture_default_str()
      ->check(CLI::IsMember({"automatic", "background", "on-commit"}));
  app.add_option("--resilience", o.resilience,
                 "what run() gets: full (a RetryBudget and a CircuitBreaker that is also the pool's ConnectGate, as "
                 "an application should write it) or deadline (its deadline and retry policy only, to measure what "
                 "the two cost)")
      ->capture_default_str()
      ->check(CLI::IsMember({"full", "deadline"}));
  app.add_option("--write-turns", o.write_turns,
                 "sqlite: on (a store takes its turn at the store's writer gate before it borrows a connection, "
                 "sqlite::WriteTurn, so queued writers hold none) or off (it borrows first and queues at the gate "
                 "holding the connection)")
      ->capture_default_str()
      ->check(CLI::IsMember({"on", "off"}));
  app.add_option("--pg-reset", o.pg_reset, "PostgreSQL reset on return: discard (rollback + DISCARD ALL, the "
                                           "library default), tracked (DISCARD ALL only after statements whose "
                                           "command tags show session state) or rollback (rollback only)")
      ->capture_default_str()
      ->check(CLI::IsMember({"discard", "tracked", "rollback"}));
  // The last --json/--chart/--target wins, so scripts/demo.sh's defaults can be overridden.
  app.add_option("--json", o.json_path, "write every figure, the machine, the versions and the config to this file")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--chart", o.chart_path, "draw the latency distribution per scenario to this PNG (gnuplot)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_flag("--keep", o.keep, "keep the temporary store (sqlite:) or the table (PostgreSQL) afterwards");
  app.add_flag("--strict", o.strict, "exit 3 when any criterion fails (by default only connections above the pool "
                                     "size and failed operations do)");
  app.add_flag("--no-progress", o.no_progress, "no progress bar (it is only drawn when stdout is a terminal)");
  app.add_option("--seed", o.seed, "seed of the operations' random draw")->capture_default_str();
  app.add_option("--max-seconds", o.max_seconds, "stop a scenario that runs longer than this (reported as capped)")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 86400.0));
  app.add_option("--admin", o.admin_port,
                 "while it runs, serve the admin endpoint on 127.0.0.1:PORT (0: any free port, printed): "
                 "/dashboard, /metrics (Prometheus), /stats.json, /healthz, /events; each scenario's pool, "
                 "breaker and retry budget are labelled with the scenario's name")
      ->check(CLI::Range(0, 65535));
}

}  // namespace

std::optional<int> parse_command_line(int argc, char** argv, Options& o) {
  CLI::App app{"reservoir-bench: the memory workload through reservoir's pool (every operation via reservoir::run()), "
               "next to baselines without it, in seed 001's scenarios and seed 004's load shapes. Prints a table per "
               "scenario and seed 001's criteria as PASS/FAIL lines.\n"
               "Exit codes: 0 ran; 1 could not run (e.g. unreachable backend); 2 usage error; 3 a criterion that "
               "fails the run failed (connections above the pool size, failed operations; any with --strict)."};
  add_options(app, o);
  app.set_version_flag("--version", RESERVOIR_VERSION);
  try {
    app.parse(argc, argv);
    o.baselines_given = app.count("--baseline") > 0;
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help, the version, or the error naming the argument
    return code == 0 ? 0 : 2;
  }
  return std::nullopt;
}

std::vector<ScenarioSpec> scenario_specs(const Options& o) {
  std::vector<ScenarioSpec> out;
  for (const std::string& name : o.scenarios) {
    ScenarioSpec s;
    s.name = name;
    if (name == "sequential") {
      s.clients = 1;
      s.ops = o.sequential_ops;
    } else if (name == "clients-5" || name == "clients-10" || name == "concurrent-100") {
      s.clients = name == "clients-5" ? 5 : name == "clients-10" ? 10 : 100;
      s.ops = o.ops;
    } else if (name == "sustained") {
      s.clients = o.sustained_clients;
      s.duration = std::chrono::milliseconds(static_cast<long>(o.duration_s * 1000));
    } else if (name == "bursts") {
      s.clients = o.burst_clients;
      s.bursts = o.bursts;
      s.burst_ops = o.burst_ops;
      s.burst_gap = std::chrono::milliseconds(o.burst_gap_ms);
    }
    out.push_back(s);
  }
  return out;
}

}  // namespace bench
