#include "report.hpp"

#include <stdlib.h>
#include <sys/utsname.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#ifndef RESERVOIR_VERSION
#define RESERVOIR_VERSION "unknown"
#endif
#ifndef RESERVOIR_BUILD_TYPE
#define RESERVOIR_BUILD_TYPE "unknown"
#endif

namespace bench {

const ScenarioResult* ScenarioGroup::find(Mode mode) const {
  for (const auto& r : runs) {
    if (r.mode == mode) return &r;
  }
  return nullptr;
}

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// 61234.5 -> "61,235"
std::string thousands(double v) {
  std::string digits = std::to_string(static_cast<long long>(v + 0.5));
  std::string out;
  const int n = static_cast<int>(digits.size());
  for (int i = 0; i < n; ++i) {
    out.push_back(digits[static_cast<std::size_t>(i)]);
    if ((n - i - 1) % 3 == 0 && i != n - 1) out.push_back(',');
  }
  return out;
}

std::string us(double ns) { return ns < 10'000 ? fmt("%.2f", ns / 1000.0) : fmt("%.0f", ns / 1000.0); }

std::string errors_text(const ScenarioResult& r) {
  if (r.errors_by_kind.empty()) return "none";
  std::string s;
  for (const auto& [kind, n] : r.errors_by_kind) s += (s.empty() ? "" : ", ") + kind + " " + std::to_string(n);
  return s;
}

double health_rate(const ScenarioResult& r) {
  if (!r.target.pool || r.ops_done == 0) return 0;
  return static_cast<double>(r.target.pool->health_failures) / static_cast<double>(r.ops_done);
}

std::vector<const ScenarioResult*> pooled(const std::vector<ScenarioGroup>& groups, bool seed001_only) {
  std::vector<const ScenarioResult*> out;
  for (const auto& g : groups) {
    const bool seed001 = g.spec.name == "sequential" || g.spec.name == "clients-5" || g.spec.name == "clients-10";
    if (seed001_only && !seed001) continue;
    if (const auto* r = g.find(Mode::pooled)) out.push_back(r);
  }
  return out;
}

std::string names(const std::vector<const ScenarioResult*>& rs) {
  std::string s;
  for (const auto* r : rs) s += (s.empty() ? "" : ", ") + r->spec.name;
  return s;
}

}  // namespace

void print_table(std::FILE* out, const ScenarioGroup& g, const Options& o) {
  if (o.work.kind == "get") {
    std::fprintf(out, "\n%s: %s; pool of %zu; get %s\n", g.spec.name.c_str(), g.spec.describe().c_str(), o.pool_size,
                 o.target.c_str());
  } else {
    std::fprintf(out, "\n%s: %s; pool of %zu; memory %s over %lld keys\n", g.spec.name.c_str(),
                 g.spec.describe().c_str(), o.pool_size, to_string(o.work.mix).c_str(),
                 static_cast<long long>(o.work.keys));
  }
  std::fprintf(out, "  %-26s", "");
  for (const auto& r : g.runs) std::fprintf(out, "%14s", std::string(to_string(r.mode)).c_str());
  std::fprintf(out, "\n");
  auto row = [&](const char* label, auto cell) {
    std::fprintf(out, "  %-26s", label);
    for (const auto& r : g.runs) std::fprintf(out, "%14s", cell(r).c_str());
    std::fprintf(out, "\n");
  };
  using R = const ScenarioResult&;
  row("ops/s", [](R r) { return thousands(r.ops_per_s); });
  row("operations (failed)", [](R r) { return std::to_string(r.ops_done) + " (" + std::to_string(r.ops_failed) + ")"; });
  row("latency min us", [](R r) { return us(static_cast<double>(r.latency.min)); });
  row("latency p50 us", [](R r) { return us(static_cast<double>(r.latency.p50)); });
  row("latency p95 us", [](R r) { return us(static_cast<double>(r.latency.p95)); });
  row("latency p99 us", [](R r) { return us(static_cast<double>(r.latency.p99)); });
  row("latency max us", [](R r) { return us(static_cast<double>(r.latency.max)); });
  row("acquire avg us", [](R r) { return r.acquire.count ? us(r.acquire.avg) : std::string("-"); });
  row("acquire p95 us", [](R r) { return r.acquire.count ? us(static_cast<double>(r.acquire.p95)) : std::string("-"); });
  row("connections (most open)", [](R r) { return std::to_string(r.target.max_open); });
  row("connections opened", [](R r) { return std::to_string(r.target.opened); });
  row("reuse ratio", [](R r) { return r.target.pool ? fmt("%.2f%%", 100 * r.target.pool->reuse_ratio()) : std::string("-"); });
  row("health-check failures", [](R r) {
    return r.target.pool ? std::to_string(r.target.pool->health_failures) + "/" + std::to_string(r.target.pool->health_checks)
                         : std::string("-");
  });
  row("errors", [](R r) { return errors_text(r); });
  const auto* p = g.find(Mode::pooled);
  const auto* raw = g.find(Mode::raw);
  if (p && raw && raw->ops_per_s > 0) std::fprintf(out, "  pooled / raw: %.1f%%\n", 100 * p->ops_per_s / raw->ops_per_s);
  const auto* shared = g.find(Mode::shared);
  if (p && shared && shared->ops_per_s > 0) {
    std::fprintf(out, "  pooled / shared: %.1f%%\n", 100 * p->ops_per_s / shared->ops_per_s);
  }
  for (const auto& r : g.runs) {
    if (r.capped) std::fprintf(out, "  %s: capped by --max-seconds after %llu operations\n", std::string(to_string(r.mode)).c_str(),
                               static_cast<unsigned long long>(r.ops_done));
    if (!r.first_error.empty()) std::fprintf(out, "  %s first error: %s\n", std::string(to_string(r.mode)).c_str(), r.first_error.c_str());
  }
}

std::vector<Criterion> judge(const std::vector<ScenarioGroup>& groups, const Options& o) {
  std::vector<Criterion> out;
  const auto seed001 = pooled(groups, true);
  const auto all = pooled(groups, false);
  const ScenarioGroup* c10 = nullptr;
  const ScenarioGroup* seq = nullptr;
  for (const auto& g : groups) {
    if (g.spec.name == "clients-10") c10 = &g;
    if (g.spec.name == "sequential") seq = &g;
  }
  const ScenarioResult* c10p = c10 ? c10->find(Mode::pooled) : nullptr;
  if (c10p) {
    out.push_back({"throughput >= 55,000 ops/s (seed 001)", "clients-10", thousands(c10p->ops_per_s) + " ops/s",
                   c10p->ops_per_s >= 55000});
  }
  if (!seed001.empty()) {
    const auto* worst = *std::max_element(seed001.begin(), seed001.end(), [](auto* a, auto* b) { return a->latency.p95 < b->latency.p95; });
    out.push_back({"p95 latency <= 4 ms (seed 001)", names(seed001),
                   "worst " + us(static_cast<double>(worst->latency.p95)) + " us (" + worst->spec.name + ")",
                   worst->latency.p95 <= 4'000'000});
  }
  if (!all.empty()) {
    std::uint64_t most = 0;
    for (const auto* r : all) most = std::max(most, r->target.max_open);
    out.push_back({"connections never above the pool size " + std::to_string(o.pool_size), names(all),
                   "most open " + std::to_string(most), most <= o.pool_size, true});
  }
  if (!seed001.empty()) {
    double avg = 0;
    std::int64_t p95 = 0;
    for (const auto* r : seed001) {
      avg = std::max(avg, r->acquire.avg);
      p95 = std::max(p95, r->acquire.p95);
    }
    out.push_back({"acquire < 1 ms average and < 5 ms p95 (seed 001)", names(seed001),
                   "worst avg " + us(avg) + " us, p95 " + us(static_cast<double>(p95)) + " us",
                   avg < 1e6 && p95 < 5'000'000});
  }
  if (!all.empty()) {
    double worst = 0;
    for (const auto* r : all) worst = std::max(worst, health_rate(*r));
    out.push_back({"health-check failures < 1% of operations (seed 001)", names(all), fmt("worst %.3f%%", 100 * worst),
                   worst < 0.01});
  }
  const ScenarioResult* seqp = seq ? seq->find(Mode::pooled) : nullptr;
  if (seqp && seqp->acquire_idle.count > 0) {
    // Only the acquires that found a connection open: one that waited for a connect measures
    // the connect, which the criterion is not about.
    const Figures& a = seqp->acquire_idle;
    out.push_back({"acquire with an idle connection: avg < 1 us, p95 < 5 us", "sequential",
                   "avg " + us(a.avg) + " us, p95 " + us(static_cast<double>(a.p95)) + " us over " +
                       std::to_string(a.count) + " of " + std::to_string(seqp->acquire.count) + " acquires" +
                       (a.count < seqp->acquire.count ? " (the others waited for a connect)" : ""),
                   a.avg < 1000 && a.p95 < 5000});
  }
  const ScenarioResult* c10raw = c10 ? c10->find(Mode::raw) : nullptr;
  if (c10p && c10raw && c10raw->ops_per_s > 0) {
    const double share = c10p->ops_per_s / c10raw->ops_per_s;
    out.push_back({"pooled >= 90% of raw (same run)", "clients-10", fmt("%.1f%%", 100 * share), share >= 0.9});
  }
  std::uint64_t failed = 0;
  for (const auto& g : groups) {
    for (const auto& r : g.runs) failed += r.ops_failed;
  }
  out.push_back({"no operation failed", "every scenario and baseline", std::to_string(failed) + " failed", failed == 0, true});
  return out;
}

void print_criteria(std::FILE* out, const std::vector<Criterion>& criteria) {
  std::fprintf(out, "\n");
  for (const auto& c : criteria) {
    std::fprintf(out, "%s  %s [%s]: %s\n", c.pass ? "PASS" : "FAIL", c.name.c_str(), c.where.c_str(), c.measured.c_str());
  }
}

namespace {

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// CPU model, cores, memory, kernel, load average.
nlohmann::json machine_json() {
  nlohmann::json m;
  std::ifstream cpu("/proc/cpuinfo");
  for (std::string line; std::getline(cpu, line);) {
    if (line.starts_with("model name")) {
      m["cpu_model"] = line.substr(line.find(':') + 2);
      break;
    }
  }
  m["cores"] = std::thread::hardware_concurrency();
  std::ifstream mem("/proc/meminfo");
  for (std::string key; mem >> key;) {
    std::uint64_t kb = 0;
    mem >> kb;
    if (key == "MemTotal:") {
      m["memory_bytes"] = kb * 1024;
      break;
    }
    mem.ignore(1 << 10, '\n');
  }
  utsname u{};
  if (uname(&u) == 0) m["kernel"] = std::string(u.sysname) + " " + u.release + " " + u.machine;
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) == 3) m["load_average"] = {load[0], load[1], load[2]};
  return m;
}

nlohmann::json figures_json(const Figures& f) {
  return {{"count", f.count}, {"min", f.min / 1000.0}, {"avg", f.avg / 1000.0}, {"p50", f.p50 / 1000.0},
          {"p95", f.p95 / 1000.0}, {"p99", f.p99 / 1000.0}, {"max", f.max / 1000.0}};
}

nlohmann::json result_json(const ScenarioResult& r) {
  nlohmann::json j{{"scenario", r.spec.name},
                   {"mode", std::string(to_string(r.mode))},
                   {"clients", r.spec.clients},
                   {"ops_requested", r.spec.requested()},
                   {"ops_done", r.ops_done},
                   {"ops_failed", r.ops_failed},
                   {"capped", r.capped},
                   {"elapsed_s", r.elapsed_s},
                   {"ops_per_s", r.ops_per_s},
                   {"latency_us", figures_json(r.latency)},
                   {"errors_by_kind", r.errors_by_kind},
                   {"first_error", r.first_error},
                   {"retrieve_hits", r.retrieve_hits},
                   {"final_row_count", r.final_count},
                   {"connections_max_open", r.target.max_open},
                   {"connections_opened", r.target.opened}};
  nlohmann::json kinds;
  for (int k = 0; k < kOpKinds; ++k) kinds[std::string(to_string(static_cast<OpKind>(k)))] = r.by_kind[k];
  j["ops_by_kind"] = kinds;
  if (r.spec.duration.count() > 0) j["duration_s"] = static_cast<double>(r.spec.duration.count()) / 1000.0;
  if (r.spec.bursts > 0) j["bursts"] = {{"bursts", r.spec.bursts}, {"ops_per_client", r.spec.burst_ops}, {"gap_ms", r.spec.burst_gap.count()}};
  if (!r.per_second.empty()) j["ops_per_second_window"] = r.per_second;
  if (r.acquire.count > 0) j["acquire_us"] = figures_json(r.acquire);
  if (r.acquire_idle.count > 0) j["acquire_idle_us"] = figures_json(r.acquire_idle);
  if (!r.target.backend_counts.empty()) j["backend"] = r.target.backend_counts;
  if (r.target.pool) {
    const auto& p = *r.target.pool;
    nlohmann::json closed;
    for (std::size_t i = 0; i < p.closed_by.size(); ++i) closed[std::string(reservoir::to_string(static_cast<reservoir::CloseReason>(i)))] = p.closed_by[i];
    j["pool"] = {{"max_size", p.max_size},
                 {"acquires", p.acquires},
                 {"releases", p.releases},
                 {"timeouts", p.timeouts},
                 {"rejected", p.rejected},
                 {"failed_acquires", p.failed_acquires},
                 {"created", p.created},
                 {"failed_connects", p.failed_connects},
                 {"closed", p.closed},
                 {"closed_by", closed},
                 {"health_checks", p.health_checks},
                 {"health_failures", p.health_failures},
                 {"health_failure_rate_of_ops", health_rate(r)},
                 {"reuse_ratio", p.reuse_ratio()},
                 {"acquisition_success_rate", p.acquisition_success_rate()},
                 // The pool's own figure: time queued in acquire(), zero on the lock-free path.
                 {"acquire_wait_us", figures_json(Figures{p.acquire_wait.count,
                                                                 p.acquire_wait.min.count(), p.acquire_wait.p50.count(),
                                                                 p.acquire_wait.p95.count(), p.acquire_wait.p99.count(),
                                                                 p.acquire_wait.max.count(),
                                                                 static_cast<double>(p.acquire_wait.avg.count())})}};
  }
  return j;
}

nlohmann::json config_json(const Options& o) {
  return {{"target_kind", o.target.substr(0, o.target.find(':'))},
          {"workload", o.workload},
          {"mix", {{"retrieve", o.work.mix.retrieve}, {"store", o.work.mix.store}, {"stats", o.work.mix.stats}}},
          {"keys", o.work.keys},
          {"content_bytes", o.work.content_bytes},
          {"table", o.work.table},
          {"scenarios", o.scenarios},
          {"baselines", o.baselines},
          {"ops", o.ops},
          {"sequential_ops", o.sequential_ops},
          {"duration_s", o.duration_s},
          {"sustained_clients", o.sustained_clients},
          {"bursts", o.bursts},
          {"burst_clients", o.burst_clients},
          {"burst_ops", o.burst_ops},
          {"burst_gap_ms", o.burst_gap_ms},
          {"pool_size", o.pool_size},
          {"queue_bypass_ms", o.queue_bypass_ms},
          {"op_timeout_ms", o.op_timeout_ms},
          {"connect_timeout_ms", o.connect_timeout_ms},
          {"synchronous", o.synchronous},
          {"locking", o.locking},
          {"checkpoint", o.checkpoint},
          {"pg_reset", o.pg_reset},
          {"resilience", o.resilience},
          {"write_turns", o.write_turns},
          {"seed", o.seed},
          {"max_seconds", o.max_seconds},
          {"strict", o.strict}};
}

}  // namespace

JsonDocument::JsonDocument()
    : doc_(std::make_unique<nlohmann::json>(
          nlohmann::json{{"tool", "reservoir-bench"}, {"started_at", utc_now()}, {"machine", machine_json()}})) {}

JsonDocument::~JsonDocument() = default;

std::string JsonDocument::finish(Backend& b, const Options& o, const std::vector<ScenarioGroup>& groups,
                                 const std::vector<Criterion>& criteria, int exit_code) {
  nlohmann::json& doc = *doc_;
  doc["finished_at"] = utc_now();
  doc["machine"]["load_average_end"] = machine_json()["load_average"];
  nlohmann::json versions = b.versions();
  versions["reservoir"] = RESERVOIR_VERSION;
  versions["build_type"] = RESERVOIR_BUILD_TYPE;
  versions["compiler"] = __VERSION__;
  doc["versions"] = versions;
  doc["config"] = config_json(o);
  doc["backend"] = {{"kind", b.kind()}, {"endpoint", b.endpoint()}};
  nlohmann::json results = nlohmann::json::array();
  for (const auto& g : groups) {
    for (const auto& r : g.runs) results.push_back(result_json(r));
  }
  doc["results"] = results;
  nlohmann::json crit = nlohmann::json::array();
  for (const auto& c : criteria) {
    crit.push_back({{"name", c.name}, {"where", c.where}, {"measured", c.measured}, {"pass", c.pass}, {"fails_run", c.fails_run}});
  }
  doc["criteria"] = crit;
  doc["exit_code"] = exit_code;
  return doc.dump(2);
}

}  // namespace bench
