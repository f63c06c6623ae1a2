// reservoir-bench as a user runs it: a child process, its exit code, stdout/stderr, and the
// files it writes. Sizes are tiny: these tests check behaviour and consistency, never speed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

extern char** environ;

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Outcome {
  int exit_code = -1;  // -1: killed at the time limit (a hang)
  std::string out;
  std::string err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "reservoir-bench-test-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Starts the tool with `args`, its stdout and stderr going to the files `out_path` and
// `err_path`. Returns its pid, or -1 (then `error` says why).
pid_t spawn_tool(const std::vector<std::string>& args, const std::string& out_path, const std::string& err_path,
                 std::string& error) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> all{RESERVOIR_BENCH_TOOL};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, RESERVOIR_BENCH_TOOL, &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    error = "posix_spawn failed: " + std::to_string(rc);
    return -1;
  }
  return pid;
}

// Waits for `pid` until `stop`; kills it then (exit_code -1).
Outcome wait_tool(pid_t pid, std::chrono::steady_clock::time_point stop, const std::string& out_path,
                  const std::string& err_path) {
  Outcome o;
  int status = 0;
  for (;;) {
    const pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (std::chrono::steady_clock::now() >= stop) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      o.out = slurp(out_path);
      o.err = slurp(err_path) + "\n[killed at the time limit]";
      return o;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  o.out = slurp(out_path);
  o.err = slurp(err_path);
  return o;
}

// Runs the tool with `args`; kills it after `limit` (exit_code -1 then).
Outcome run_tool(const std::vector<std::string>& args, std::chrono::seconds limit = std::chrono::seconds(180)) {
  TempDir io;
  const std::string out_path = (io.path() / "out").string();
  const std::string err_path = (io.path() / "err").string();
  Outcome o;
  const pid_t pid = spawn_tool(args, out_path, err_path, o.err);
  if (pid < 0) return o;
  return wait_tool(pid, std::chrono::steady_clock::now() + limit, out_path, err_path);
}

std::string describe(const Outcome& o) {
  return "exit " + std::to_string(o.exit_code) + "\n--- stdout ---\n" + o.out + "\n--- stderr ---\n" + o.err;
}

// A scripts/servers.sh address: the variable `name` from the environment, or from `file`
// in the servers' directory.
std::string server_env(const std::string& name, const std::string& file) {
  if (const char* u = std::getenv(name.c_str()); u && *u) return u;
  const char* dir = std::getenv("RESERVOIR_SERVERS_DIR");
  std::ifstream in(std::string(dir ? dir : "/tmp/reservoir-servers") + "/" + file);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(name + "=")) return line.substr(name.size() + 1);
  }
  return {};
}

std::string pg_url() { return server_env("RESERVOIR_TEST_PG_URL", "postgres.env"); }

// Every scenario, tiny, with both baselines.
std::vector<std::string> short_run_args() {
  return {"--scenarios", "sequential,clients-5,clients-10,concurrent-100,sustained,bursts",
          "--baseline", "raw,unpooled", "--sequential-ops", "100", "--ops", "200", "--duration", "0.3",
          "--bursts", "2", "--burst-clients", "10", "--burst-ops", "5", "--burst-gap-ms", "10", "--keys", "100"};
}

const std::vector<std::string> kScenarios{"sequential", "clients-5", "clients-10", "concurrent-100", "sustained", "bursts"};
const std::vector<std::string> kModes{"pooled", "raw", "unpooled"};

// Figures that must agree with each other in every result, whatever the speed.
void expect_consistent(const json& doc, std::int64_t keys, std::uint64_t pool_size) {
  ASSERT_TRUE(doc.contains("results"));
  for (const json& r : doc["results"]) {
    SCOPED_TRACE(r["scenario"].get<std::string>() + " " + r["mode"].get<std::string>());
    const auto done = r["ops_done"].get<std::uint64_t>();
    EXPECT_EQ(r["ops_failed"].get<std::uint64_t>(), 0u) << r["first_error"];
    EXPECT_FALSE(r["capped"].get<bool>());
    if (r["ops_requested"].get<std::uint64_t>() > 0) {
      EXPECT_EQ(done, r["ops_requested"].get<std::uint64_t>());
    }
    EXPECT_GT(done, 0u);
    std::uint64_t by_kind = 0;
    for (auto& [kind, n] : r["ops_by_kind"].items()) by_kind += n.get<std::uint64_t>();
    EXPECT_EQ(by_kind, done);
    EXPECT_EQ(r["latency_us"]["count"].get<std::uint64_t>(), done);
    const json& l = r["latency_us"];
    EXPECT_LE(l["min"].get<double>(), l["p50"].get<double>());
    EXPECT_LE(l["p50"].get<double>(), l["p95"].get<double>());
    EXPECT_LE(l["p95"].get<double>(), l["p99"].get<double>());
    EXPECT_LE(l["p99"].get<double>(), l["max"].get<double>());
    EXPECT_GT(r["ops_per_s"].get<double>(), 0);
    // Every key was stored before the scenarios and store only upserts: every retrieve hits,
    // and the row count stays the key count.
    EXPECT_EQ(r["retrieve_hits"].get<std::uint64_t>(), r["ops_by_kind"]["retrieve"].get<std::uint64_t>());
    EXPECT_EQ(r["final_row_count"].get<std::int64_t>(), keys);
    if (r["mode"] == "pooled") {
      EXPECT_EQ(r["acquire_us"]["count"].get<std::uint64_t>(), done);
      // The idle-connection figure leaves out the acquires during which a connection was
      // opened: with one client, at most one per connection the scenario opened.
      const std::uint64_t idle = r.contains("acquire_idle_us") ? r["acquire_idle_us"]["count"].get<std::uint64_t>() : 0;
      EXPECT_LE(idle, done);
      if (r["scenario"] == "sequential") {
        EXPECT_GE(idle + r["connections_opened"].get<std::uint64_t>(), done);
      }
      EXPECT_LE(r["connections_max_open"].get<std::uint64_t>(), pool_size);
      EXPECT_GE(r["pool"]["acquires"].get<std::uint64_t>(), done);
      EXPECT_EQ(r["pool"]["max_size"].get<std::uint64_t>(), pool_size);
      // The two counts of one thing (the pool's, and the connector's the tool wraps it in) agree
      // up to the connects still in flight when the figures were read: shutdown does not wait
      // for them (a refill or a waiter's connect finishing as the scenario ends; seen under
      // TSan), and there are at most max_concurrent_connects (2) of them.
      const auto created = static_cast<std::int64_t>(r["pool"]["created"].get<std::uint64_t>());
      const auto opened = static_cast<std::int64_t>(r["connections_opened"].get<std::uint64_t>());
      EXPECT_LE(std::abs(created - opened), 2) << "pool created " << created << ", connector opened " << opened;
      const double reuse = r["pool"]["reuse_ratio"].get<double>();
      EXPECT_GE(reuse, 0.0);
      EXPECT_LE(reuse, 1.0);
    } else if (r["mode"] == "unpooled") {
      EXPECT_GE(r["connections_opened"].get<std::uint64_t>(), done);  // one per operation
    } else if (r["mode"] == "shared") {
      EXPECT_EQ(r["acquire_us"]["count"].get<std::uint64_t>(), done);
      EXPECT_EQ(r["connections_max_open"].get<std::uint64_t>(), pool_size);  // all opened by the first client
    } else {
      EXPECT_EQ(r["connections_max_open"].get<std::uint64_t>(), r["clients"].get<std::uint64_t>());  // one per thread
    }
  }
}

void expect_every_scenario_and_mode(const json& doc) {
  std::set<std::pair<std::string, std::string>> seen;
  for (const json& r : doc["results"]) seen.emplace(r["scenario"], r["mode"]);
  for (const auto& s : kScenarios) {
    for (const auto& m : kModes) EXPECT_TRUE(seen.count({s, m})) << s << " " << m;
  }
}

json read_json(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

TEST(BenchToolArgs, BadArgumentIsAUsageErrorNamingIt) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
      {{"--pool-size", "0"}, "--pool-size"},
      {{"--pool-size", "many"}, "--pool-size"},
      {{"--bogus"}, "--bogus"},
      {{"--mix", "70/20"}, "--mix"},
      {{"--mix", "eighty"}, "--mix"},
      {{"--target", "mysql://u:secret@h/db"}, "--target"},
      {{"--scenarios", "sequential,marathon"}, "--scenarios"},
      {{"--baseline", "jdbc"}, "--baseline"},
      {{"--ops", "0"}, "--ops"},
      {{"--synchronous", "sometimes"}, "--synchronous"},
      {{"--locking", "sometimes"}, "--locking"},
      {{"--checkpoint", "never"}, "--checkpoint"},
      {{"--write-turns", "sometimes"}, "--write-turns"},
      {{"--table", "x; DROP TABLE y"}, "--table"},
      {{"--duration"}, "--duration"},
      {{"--admin", "70000"}, "--admin"},
      {{"--admin", "-1"}, "--admin"},
  };
  for (const auto& [args, name] : cases) {
    SCOPED_TRACE(name);
    const Outcome o = run_tool(args, std::chrono::seconds(30));
    EXPECT_EQ(o.exit_code, 2) << describe(o);
    EXPECT_NE(o.err.find(name), std::string::npos) << describe(o);
    EXPECT_EQ(o.err.find("secret"), std::string::npos) << describe(o);
  }
}

TEST(BenchToolArgs, HelpDocumentsEveryOption) {
  const Outcome o = run_tool({"--help"}, std::chrono::seconds(30));
  ASSERT_EQ(o.exit_code, 0) << describe(o);
  for (const char* opt : {"--target", "--workload", "--mix", "--keys", "--scenarios", "--baseline", "--ops", "--duration",
                          "--bursts", "--pool-size", "--op-timeout-ms", "--connect-timeout-ms", "--json", "--chart",
                          "--keep", "--strict", "--no-progress", "--admin", "--write-turns"}) {
    EXPECT_NE(o.out.find(opt), std::string::npos) << opt;
  }
}

TEST(BenchToolSqlite, JsonParsedBackIsConsistent) {
  TempDir dir;
  const fs::path json_path = dir.path() / "result.json";
  auto args = std::vector<std::string>{"--scenarios", "sequential,clients-5,clients-10", "--baseline", "raw,unpooled",
                                       "--sequential-ops", "200", "--ops", "300", "--keys", "50", "--pool-size", "3",
                                       "--json", json_path.string()};
  const Outcome o = run_tool(args);
  ASSERT_EQ(o.exit_code, 0) << describe(o);
  const json doc = read_json(json_path);
  expect_consistent(doc, 50, 3);
  EXPECT_EQ(doc["results"].size(), 9u);
  EXPECT_EQ(doc["config"]["pool_size"], 3);
  EXPECT_EQ(doc["config"]["mix"]["retrieve"], 80);
  EXPECT_EQ(doc["config"]["mix"]["store"], 20);
  EXPECT_EQ(doc["backend"]["kind"], "sqlite");
  EXPECT_GT(doc["machine"]["cores"].get<int>(), 0);
  EXPECT_GT(doc["machine"]["memory_bytes"].get<std::uint64_t>(), 0u);
  EXPECT_TRUE(doc["machine"].contains("cpu_model"));
  EXPECT_TRUE(doc["machine"].contains("kernel"));
  EXPECT_TRUE(doc["versions"].contains("sqlite_library"));
  EXPECT_TRUE(doc["versions"].contains("reservoir"));
  // The criteria in the JSON are the PASS/FAIL lines printed.
  ASSERT_FALSE(doc["criteria"].empty());
  for (const json& c : doc["criteria"]) {
    const std::string line = std::string(c["pass"].get<bool>() ? "PASS" : "FAIL") + "  " + c["name"].get<std::string>();
    EXPECT_NE(o.out.find(line), std::string::npos) << line;
  }
  EXPECT_EQ(doc["exit_code"], 0);
}

// `shared`: raw handles, as many as the pool's, shared by more clients than that.
TEST(BenchToolSqlite, SharedBaselineSharesPoolSizeHandles) {
  TempDir dir;
  const fs::path json_path = dir.path() / "result.json";
  const Outcome o = run_tool({"--scenarios", "clients-10", "--baseline", "raw,shared", "--ops", "2000", "--keys", "50",
                              "--pool-size", "3", "--json", json_path.string()});
  ASSERT_EQ(o.exit_code, 0) << describe(o);
  const json doc = read_json(json_path);
  expect_consistent(doc, 50, 3);
  ASSERT_EQ(doc["results"].size(), 3u);
  const json& shared = doc["results"][2];
  EXPECT_EQ(shared["mode"], "shared");
  EXPECT_EQ(shared["connections_opened"], 3);
  EXPECT_EQ(shared["clients"], 10);
  EXPECT_NE(o.out.find("pooled / shared: "), std::string::npos) << o.out;
}

// Writers that queue before they borrow (sqlite::WriteTurn) and writers that queue holding a
// connection both finish every write, on more clients than connections, in every mode.
TEST(BenchToolSqlite, WriteTurnsOnAndOffLoseNoWrite) {
  for (const std::string turns : {"on", "off"}) {
    SCOPED_TRACE(turns);
    TempDir dir;
    const fs::path json_path = dir.path() / "result.json";
    const Outcome o = run_tool({"--scenarios", "clients-10", "--baseline", "raw,shared", "--ops", "3000", "--keys",
                                "50", "--mix", "50/50", "--pool-size", "2", "--write-turns", turns, "--json",
                                json_path.string()});
    ASSERT_EQ(o.exit_code, 0) << describe(o);
    const json doc = read_json(json_path);
    EXPECT_EQ(doc["config"]["write_turns"], turns);
    ASSERT_EQ(doc["results"].size(), 3u);
    for (const json& r : doc["results"]) {
      SCOPED_TRACE(r["mode"].get<std::string>());
      EXPECT_EQ(r["ops_failed"], 0);
      EXPECT_EQ(r["ops_done"], 3000);
      EXPECT_EQ(r["final_row_count"], 50);
      EXPECT_GT(r["ops_by_kind"]["store"].get<int>(), 1000);
      EXPECT_EQ(r["ops_by_kind"]["store"].get<int>() + r["ops_by_kind"]["retrieve"].get<int>(), 3000);
    }
  }
}

TEST(BenchToolSqlite, MixDecidesTheOperations) {
  TempDir dir;
  const fs::path json_path = dir.path() / "result.json";
  const Outcome o = run_tool({"--scenarios", "clients-5", "--baseline", "none", "--ops", "400", "--mix", "0/0/100",
                              "--json", json_path.string()});
  ASSERT_EQ(o.exit_code, 0) << describe(o);
  const json doc = read_json(json_path);
  ASSERT_EQ(doc["results"].size(), 1u);
  EXPECT_EQ(doc["results"][0]["ops_by_kind"]["stats"], 400);
  EXPECT_EQ(doc["results"][0]["ops_by_kind"]["retrieve"], 0);
}

TEST(BenchToolSqlite, SynchronousLevelReachesTheStore) {
  for (const std::string level : {"off", "full"}) {
    TempDir dir;
    const fs::path json_path = dir.path() / "result.json";
    const Outcome o = run_tool({"--scenarios", "sequential", "--sequential-ops", "10", "--synchronous", level, "--json",
                                json_path.string()});
    ASSERT_EQ(o.exit_code, 0) << describe(o);
    std::string upper = level;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(read_json(json_path)["versions"]["synchronous"], upper);
  }
}

// The pool and the raw baseline open the store with the same file locking, each way.
TEST(BenchToolSqlite, LockingReachesThePoolAndTheRawBaseline) {
  for (const auto& [option, library] : {std::pair{"process", "process"}, {"per-transaction", "per_transaction"}}) {
    TempDir dir;
    const fs::path json_path = dir.path() / "result.json";
    const Outcome o = run_tool({"--scenarios", "clients-5", "--ops", "200", "--baseline", "raw", "--locking", option,
                                "--json", json_path.string()});
    ASSERT_EQ(o.exit_code, 0) << describe(o);
    const json doc = read_json(json_path);
    EXPECT_EQ(doc["versions"]["locking"], library);
    EXPECT_EQ(doc["config"]["locking"], option);
    ASSERT_EQ(doc["results"].size(), 2u);
    for (const auto& r : doc["results"]) EXPECT_TRUE(r["errors_by_kind"].empty()) << r.dump();
  }
}

// The pool's checkpointing is the option's; the baselines always checkpoint in the commit, and
// the run says so under its title.
TEST(BenchToolSqlite, CheckpointReachesThePoolAndTheRunSaysWhatTheBaselinesDo) {
  struct Case {
    const char* option;
    const char* synchronous;
    const char* in_effect;
  };
  for (const Case& c : {Case{"automatic", "normal", "background"}, Case{"automatic", "full", "on_commit"},
                        Case{"background", "full", "background"}, Case{"on-commit", "normal", "on_commit"}}) {
    const std::string option = c.option;
    TempDir dir;
    const fs::path json_path = dir.path() / "result.json";
    // 6,000 operations write ~1,200 rows: a few thousand WAL pages, past the 1000 of a round.
    const Outcome o = run_tool({"--scenarios", "clients-5", "--ops", "6000", "--baseline", "raw", "--checkpoint", option,
                                "--synchronous", c.synchronous, "--json", json_path.string()});
    ASSERT_EQ(o.exit_code, 0) << describe(o);
    const json doc = read_json(json_path);
    EXPECT_EQ(doc["versions"]["checkpoint"], c.in_effect) << option << " " << c.synchronous;
    EXPECT_EQ(doc["versions"]["baseline_checkpoint"], "on_commit");
    EXPECT_EQ(doc["config"]["checkpoint"], option);
    for (const auto& r : doc["results"]) EXPECT_TRUE(r["errors_by_kind"].empty()) << r.dump();
    const bool background = std::string(c.in_effect) == "background";
    for (const auto& r : doc["results"]) {
      if (r["mode"] != "pooled") {
        EXPECT_FALSE(r.contains("backend")) << r.dump();
        continue;
      }
      ASSERT_TRUE(r.contains("backend")) << r.dump();
      if (background) {
        EXPECT_GE(r["backend"]["checkpoint_rounds"].get<int>(), 1) << r["backend"].dump();
      } else {
        EXPECT_EQ(r["backend"]["checkpoint_rounds"].get<int>(), 0) << r["backend"].dump();
      }
    }
    EXPECT_EQ(o.out.find("the pool's in the background") != std::string::npos, background) << o.out;
    EXPECT_EQ(o.out.find("in the commit that fills the WAL in every mode") != std::string::npos, !background) << o.out;
  }
}

TEST(BenchToolSqlite, ChartIsAPng) {
  TempDir dir;
  const fs::path png = dir.path() / "latency.png";
  const Outcome o = run_tool({"--scenarios", "sequential,clients-5", "--sequential-ops", "100", "--ops", "100", "--chart",
                              png.string()});
  ASSERT_EQ(o.exit_code, 0) << describe(o);
  ASSERT_TRUE(fs::exists(png));
  const std::string bytes = slurp(png);
  ASSERT_GT(bytes.size(), 8u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

TEST(BenchToolSqlite, EveryScenarioRunsQuietlyWithoutATerminal) {
  TempDir dir;
  const fs::path json_path = dir.path() / "result.json";
  auto args = short_run_args();
  args.insert(args.end(), {"--json", json_path.string()});
  const Outcome o = run_tool(args);
  ASSERT_EQ(o.exit_code, 0) << describe(o);
  const json doc = read_json(json_path);
  expect_every_scenario_and_mode(doc);
  expect_consistent(doc, 100, 5);
  for (const auto& s : kScenarios) EXPECT_NE(o.out.find("\n" + s + ": "), std::string::npos) << s;
  EXPECT_NE(o.out.find("PASS  connections never above the pool size 5"), std::string::npos) << o.out;
  EXPECT_EQ(o.out.find('\r'), std::string::npos) << "a progress bar was drawn on a pipe";
}

TEST(BenchToolSqlite, TemporaryStoreIsRemovedUnlessKept) {
  const std::string marker = " on sqlite ";
  auto store_of = [&](const Outcome& o) {
    const auto at = o.out.find(marker);
    if (at == std::string::npos) return std::string();
    const auto start = at + marker.size();
    return o.out.substr(start, o.out.find(';', start) - start);
  };
  const Outcome gone = run_tool({"--scenarios", "sequential", "--sequential-ops", "10"});
  ASSERT_EQ(gone.exit_code, 0) << describe(gone);
  const std::string gone_path = store_of(gone);
  ASSERT_FALSE(gone_path.empty()) << gone.out;
  EXPECT_FALSE(fs::exists(gone_path));
  EXPECT_FALSE(fs::exists(fs::path(gone_path).parent_path()));

  const Outcome kept = run_tool({"--scenarios", "sequential", "--sequential-ops", "10", "--keep"});
  ASSERT_EQ(kept.exit_code, 0) << describe(kept);
  const std::string kept_path = store_of(kept);
  EXPECT_TRUE(fs::exists(kept_path));
  EXPECT_NE(kept.out.find("kept the store: " + kept_path), std::string::npos) << kept.out;
  std::error_code ec;
  fs::remove_all(fs::path(kept_path).parent_path(), ec);
}

TEST(BenchToolSqlite, GivenStoreFileIsUsedAndKept) {
  TempDir dir;
  const fs::path store = dir.path() / "mine.db";
  const Outcome o = run_tool({"--target", "sqlite:" + store.string(), "--scenarios", "sequential", "--sequential-ops", "10"});
  ASSERT_EQ(o.exit_code, 0) << describe(o);
  EXPECT_TRUE(fs::exists(store));
}

TEST(BenchToolPostgres, UnreachableServerIsAClearErrorNotAHang) {
  // Port 1 refuses at once; the connect deadline bounds the slow cases. The tool must end well
  // before the kill timer, with the pool's error naming the endpoint.
  const Outcome o = run_tool({"--target", "postgresql://postgres@127.0.0.1:1/postgres?sslmode=disable",
                              "--connect-timeout-ms", "2000", "--op-timeout-ms", "2000"},
                             std::chrono::seconds(20));
  ASSERT_NE(o.exit_code, -1) << describe(o);
  EXPECT_EQ(o.exit_code, 1) << describe(o);
  EXPECT_NE(o.err.find("unavailable"), std::string::npos) << describe(o);
  EXPECT_NE(o.err.find("127.0.0.1:1"), std::string::npos) << describe(o);
}

TEST(BenchToolPostgres, EveryScenarioAgainstTheRealServer) {
  const std::string url = pg_url();
  ASSERT_FALSE(url.empty()) << "no PostgreSQL: run scripts/servers.sh start postgres (or set RESERVOIR_TEST_PG_URL)";
  TempDir dir;
  const std::string table = "reservoir_bench_test_" + std::to_string(getpid());
  // The test server allows 40 connections: the baselines (a connection per client) run
  // wherever that suffices; concurrent-100 runs pooled only, 100 clients on 5 connections.
  const fs::path json_path = dir.path() / "result.json";
  auto args = short_run_args();
  args[1] = "sequential,clients-5,clients-10,sustained,bursts";
  args.insert(args.end(), {"--target", url, "--table", table, "--json", json_path.string()});
  const Outcome o = run_tool(args);
  ASSERT_EQ(o.exit_code, 0) << describe(o);
  const json doc = read_json(json_path);
  EXPECT_EQ(doc["backend"]["kind"], "postgresql");
  EXPECT_FALSE(doc["versions"]["server"].get<std::string>().empty());
  EXPECT_EQ(doc["results"].size(), 15u);
  expect_consistent(doc, 100, 5);

  const fs::path json100 = dir.path() / "concurrent-100.json";
  const Outcome o100 = run_tool({"--target", url, "--table", table, "--scenarios", "concurrent-100", "--baseline", "none",
                                 "--ops", "300", "--keys", "100", "--json", json100.string()});
  ASSERT_EQ(o100.exit_code, 0) << describe(o100);
  const json doc100 = read_json(json100);
  ASSERT_EQ(doc100["results"].size(), 1u);
  expect_consistent(doc100, 100, 5);
  // The table is dropped afterwards (no --keep).
  EXPECT_EQ(o100.err.find("could not drop"), std::string::npos) << describe(o100);
}

// etcd through its v3 JSON gateway (etcd+http://): the memory workload, every mode, the same
// consistency as the SQL backends (every retrieve hits, the key count stays).
TEST(BenchToolHttp, MemoryWorkloadOnEtcd) {
  const std::string url = server_env("RESERVOIR_TEST_ETCD_URL", "etcd.env");
  ASSERT_FALSE(url.empty()) << "no etcd: run scripts/servers.sh start etcd (or set RESERVOIR_TEST_ETCD_URL)";
  ASSERT_TRUE(url.starts_with("http://")) << url;
  TempDir dir;
  const fs::path json_path = dir.path() / "etcd.json";
  const std::string prefix = "reservoir_bench_test_" + std::to_string(getpid());
  const Outcome o = run_tool({"--target", "etcd+" + url, "--table", prefix, "--keys", "40", "--scenarios",
                              "sequential,clients-5", "--sequential-ops", "50", "--ops", "100", "--baseline",
                              "raw,unpooled", "--json", json_path.string()});
  ASSERT_EQ(o.exit_code, 0) << describe(o);
  const json doc = read_json(json_path);
  EXPECT_EQ(doc["backend"]["kind"], "etcd");
  EXPECT_TRUE(doc["versions"]["server"].contains("etcdserver")) << doc["versions"].dump();
  EXPECT_EQ(doc["results"].size(), 6u);
  expect_consistent(doc, 40, 5);
}

// http://HOST:PORT/PATH with --workload get: every operation a GET, through the pool, raw Beast
// and a connection per request.
TEST(BenchToolHttp, GetWorkloadOnNginx) {
  const std::string base = server_env("RESERVOIR_TEST_NGINX_URL", "nginx.env");
  ASSERT_FALSE(base.empty()) << "no nginx: run scripts/servers.sh start nginx (or set RESERVOIR_TEST_NGINX_URL)";
  TempDir dir;
  const fs::path json_path = dir.path() / "get.json";
  const Outcome o = run_tool({"--target", base + "/small", "--workload", "get", "--scenarios", "clients-5", "--ops",
                              "300", "--baseline", "raw,unpooled", "--json", json_path.string()});
  ASSERT_EQ(o.exit_code, 0) << describe(o);
  EXPECT_NE(o.out.find("get " + base + "/small"), std::string::npos) << describe(o);
  const json doc = read_json(json_path);
  EXPECT_EQ(doc["backend"]["kind"], "http");
  EXPECT_EQ(doc["versions"]["server"].get<std::string>().rfind("nginx", 0), 0u) << doc["versions"].dump();
  ASSERT_EQ(doc["results"].size(), 3u);
  for (const json& r : doc["results"]) {
    SCOPED_TRACE(r["mode"].get<std::string>());
    EXPECT_EQ(r["ops_done"].get<std::uint64_t>(), 300u);
    EXPECT_EQ(r["ops_failed"].get<std::uint64_t>(), 0u) << r["first_error"];
    EXPECT_EQ(r["retrieve_hits"].get<std::uint64_t>(), 300u);
    if (r["mode"] == "pooled") {
      EXPECT_LE(r["connections_max_open"].get<std::uint64_t>(), 5u);
    }
    if (r["mode"] == "unpooled") {
      EXPECT_GE(r["connections_opened"].get<std::uint64_t>(), 300u);  // + the closing count, on its own
    }
  }
}

TEST(BenchToolHttp, WrongWorkloadOrPathIsAUsageError) {
  const Outcome memory_on_get = run_tool({"--target", "http://127.0.0.1:1/x", "--scenarios", "sequential"});
  EXPECT_EQ(memory_on_get.exit_code, 2) << describe(memory_on_get);
  EXPECT_NE(memory_on_get.err.find("--workload get"), std::string::npos) << describe(memory_on_get);
  const Outcome get_on_sqlite = run_tool({"--target", "sqlite:", "--workload", "get", "--scenarios", "sequential"});
  EXPECT_EQ(get_on_sqlite.exit_code, 2) << describe(get_on_sqlite);
  const Outcome shared_on_get = run_tool({"--target", "http://127.0.0.1:1/x", "--workload", "get", "--baseline", "shared"});
  EXPECT_EQ(shared_on_get.exit_code, 2) << describe(shared_on_get);
  EXPECT_NE(shared_on_get.err.find("--baseline: shared is not offered by the http backend"), std::string::npos)
      << describe(shared_on_get);
  const Outcome etcd_path = run_tool({"--target", "etcd+http://127.0.0.1:1/v3", "--scenarios", "sequential"});
  EXPECT_EQ(etcd_path.exit_code, 2) << describe(etcd_path);
  EXPECT_NE(etcd_path.err.find("takes no path"), std::string::npos) << describe(etcd_path);
}

TEST(BenchToolHttp, UnreachableEtcdIsAClearErrorNotAHang) {
  const Outcome o = run_tool({"--target", "etcd+http://127.0.0.1:1", "--connect-timeout-ms", "2000"},
                             std::chrono::seconds(20));
  ASSERT_NE(o.exit_code, -1) << describe(o);
  EXPECT_EQ(o.exit_code, 1) << describe(o);
  EXPECT_NE(o.err.find("unavailable: 127.0.0.1:1"), std::string::npos) << describe(o);
}

// A GET on the tool's admin endpoint (Beast, bounded by 10 s): status and body. Throws
// boost::system::system_error when nothing answers.
std::pair<int, std::string> admin_get(unsigned port, const std::string& target) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(std::chrono::seconds(10));
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  return {static_cast<int>(res.result_int()), res.body()};
}

// The port of the tool's `admin: http://127.0.0.1:PORT/dashboard` line, or 0 while absent.
unsigned admin_port_in(const std::string& out) {
  const std::string prefix = "admin: http://127.0.0.1:";
  const auto at = out.find(prefix);
  if (at == std::string::npos || out.find("/dashboard\n", at) == std::string::npos) return 0;
  return static_cast<unsigned>(std::stoul(out.substr(at + prefix.size())));
}

TEST(BenchToolAdmin, EndpointServesTheScenarioPoolWhileItRuns) {
  TempDir io;
  const std::string out_path = (io.path() / "out").string();
  const std::string err_path = (io.path() / "err").string();
  std::string error;
  const pid_t pid = spawn_tool({"--admin", "0", "--scenarios", "sustained", "--duration", "3", "--baseline", "none",
                                "--keys", "100"},
                               out_path, err_path, error);
  ASSERT_GE(pid, 0) << error;
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  unsigned port = 0;
  while (port == 0 && std::chrono::steady_clock::now() < limit) {
    port = admin_port_in(slurp(out_path));
    if (port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // The pool exists while the sustained scenario runs: scrape until its series shows up.
  std::string metrics, stats;
  const std::string series = "reservoir_pool_connections{pool=\"sustained\"";
  while (port != 0 && metrics.find(series) == std::string::npos && std::chrono::steady_clock::now() < limit) {
    try {
      const auto [status, body] = admin_get(port, "/metrics");
      if (status == 200 && body.find(series) != std::string::npos) {
        metrics = body;
        stats = admin_get(port, "/stats.json").second;
      }
    } catch (const boost::system::system_error&) {
      break;  // the endpoint is gone: the run is over
    }
    if (metrics.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const Outcome o = wait_tool(pid, limit, out_path, err_path);
  ASSERT_EQ(o.exit_code, 0) << describe(o);
  ASSERT_NE(port, 0u) << describe(o);
  EXPECT_NE(metrics.find(series), std::string::npos) << describe(o);
  EXPECT_NE(metrics.find("reservoir_retry_budget"), std::string::npos) << metrics;
  const json doc = json::parse(stats, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << stats;
  bool found = false;
  for (const json& p : doc["pools"]) found = found || p["name"] == "sustained";
  EXPECT_TRUE(found) << stats;
}

TEST(BenchToolAdmin, PortInUseIsACannotRunErrorNamingTheOption) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor taken(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const std::string port = std::to_string(taken.local_endpoint().port());
  const Outcome o = run_tool({"--admin", port, "--scenarios", "sequential", "--sequential-ops", "10", "--baseline",
                              "none", "--keys", "10"},
                             std::chrono::seconds(60));
  EXPECT_EQ(o.exit_code, 1) << describe(o);
  EXPECT_NE(o.err.find("--admin"), std::string::npos) << describe(o);
  EXPECT_NE(o.err.find(port), std::string::npos) << describe(o);
}

}  // namespace
