#include "json.hpp"

#include "json_parts.hpp"

#include <chrono>

namespace reservoir::admin::detail {
namespace {

using nlohmann::json;

double us(Duration d) { return static_cast<double>(d.count()) / 1e3; }
double seconds(Duration d) { return static_cast<double>(d.count()) / 1e9; }

json buckets_json(const HistogramBuckets& h) {
  json bounds = json::array();
  for (Duration b : h.bounds) bounds.push_back(seconds(b));
  return {{"bounds_s", std::move(bounds)}, {"cumulative", h.cumulative}, {"count", h.count}, {"sum_s", seconds(h.sum)}};
}

json summary_json(const LatencySummary& s) {
  return {{"count", s.count}, {"avg_us", us(s.avg)}, {"p50_us", us(s.p50)}, {"p95_us", us(s.p95)},
          {"p99_us", us(s.p99)}, {"max_us", us(s.max)}, {"min_us", us(s.min)}};
}

// Every field of PoolStats: the X-macro lists, then the structured ones.
json pool_stats_json(const PoolStats& s) {
  json j;
  auto field = [&](std::string_view name, std::uint64_t value, const char*) { j[std::string(name)] = value; };
  s.for_each_gauge(field);
  s.for_each_counter(field);
  json closed_by;
  for (std::size_t r = 0; r < s.closed_by.size(); ++r) closed_by[std::string(to_string(static_cast<CloseReason>(r)))] = s.closed_by[r];
  j["closed_by"] = std::move(closed_by);
  j["oldest_wait_us"] = us(s.oldest_wait);
  j["acquire_wait"] = summary_json(s.acquire_wait);
  s.for_each_histogram([&](std::string_view field, std::string_view, const HistogramBuckets& h, const char*) {
    j[std::string(field)] = buckets_json(h);
  });
  j["recycled"] = s.recycled();
  j["reuse_ratio"] = s.reuse_ratio();
  j["health_pass_rate"] = s.health_pass_rate();
  j["acquisition_success_rate"] = s.acquisition_success_rate();
  return j;
}

// Connector::backend_counters(), e.g. PostgreSQL's statement cache: name → value.
json backend_json(const Connector& connector) {
  json j = json::object();
  for (const auto& c : connector.backend_counters()) j[std::string(c.name)] = c.value;
  return j;
}

json breaker_json(const metrics::Registry::BreakerEntry& entry) {
  const BreakerStats s = entry.breaker->stats();
  json transitions = json::object();
  constexpr std::string_view names[] = {"closed", "open", "half_open"};
  for (std::size_t pair = 0; pair < 9; ++pair) {
    if (pair / 3 == pair % 3) continue;
    transitions[std::string(names[pair / 3]) + "->" + std::string(names[pair % 3])] =
        entry.transitions->by_pair[pair].load(std::memory_order_relaxed);
  }
  return {{"endpoint", redact_secrets(entry.breaker->name())},
          {"state", std::string(to_string(s.state))},
          {"time_until_probe_ms", static_cast<double>(entry.breaker->time_until_probe().count()) / 1e6},
          {"trips", s.trips},
          {"rejected", s.rejected},
          {"probes", s.probes},
          {"successes", s.successes},
          {"failures", s.failures},
          {"transitions", std::move(transitions)}};
}

}  // namespace

json health_json(const HealthReport& health) {
  json components = json::array();
  for (const auto& c : health.components) {
    json j = {{"kind", c.kind}, {"name", c.name}, {"healthy", c.healthy}, {"reasons", c.reasons}};
    for (const auto& [name, value] : c.figures) j["figures"][name] = value;
    components.push_back(std::move(j));
  }
  return {{"healthy", health.healthy}, {"components", std::move(components)}};
}

json stats_json(const metrics::Registry& registry, const HealthReport& health) {
  json pools = json::array();
  for (const auto& entry : registry.live_pools()) {
    pools.push_back({{"name", redact_secrets(entry.pool->config().name)},
                     {"endpoint", redact_secrets(entry.pool->connector().endpoint())},
                     {"stats", pool_stats_json(entry.pool->stats())},
                     {"backend", backend_json(entry.pool->connector())}});
  }
  json breakers = json::array();
  for (const auto& entry : registry.live_breakers()) breakers.push_back(breaker_json(entry));
  json budgets = json::array();
  for (const auto& entry : registry.live_budgets()) {
    const RetryBudgetStats s = entry.budget->stats();
    budgets.push_back({{"name", entry.name}, {"requests", s.requests}, {"retries", s.retries},
                       {"allowed", s.allowed}, {"rejected", s.rejected}});
  }
  json operations = json::array();
  for (const auto& op : registry.operations()) {
    const auto s = op->snapshot();
    json gave_up = json::object();
    for (const auto& [verdict, n] : s.gave_up) gave_up[std::string(verdict)] = n;
    operations.push_back({{"operation", op->name()}, {"success", s.success}, {"failure", s.failure},
                          {"retried", s.retried}, {"backoff_s", static_cast<double>(s.backoff_ns) / 1e9},
                          {"gave_up", std::move(gave_up)}});
  }
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return {{"time_ms", std::chrono::duration_cast<std::chrono::milliseconds>(now).count()},
          {"pools", std::move(pools)},
          {"breakers", std::move(breakers)},
          {"retry_budgets", std::move(budgets)},
          {"operations", std::move(operations)},
          {"clusters", clusters_json(registry)},
          {"tenants", tenants_json(registry)},
          {"health", health_json(health)}};
}

json events_json(const std::vector<EventRecord>& events) {
  json list = json::array();
  for (const auto& e : events) {
    json j = {{"seq", e.seq}, {"unix_ms", e.unix_ms}, {"kind", e.kind}};
    if (!e.pool.empty()) j["pool"] = e.pool;
    if (!e.endpoint.empty()) j["endpoint"] = e.endpoint;
    if (!e.reason.empty()) j["reason"] = e.reason;
    if (e.duration_ms != 0) j["duration_ms"] = e.duration_ms;
    if (e.kind == "acquire_slow" || e.kind == "operation_slow") {
      j["queued_ms"] = e.queued_ms;
      j["connect_ms"] = e.connect_ms;
      j["check_ms"] = e.check_ms;
    }
    if (e.kind == "operation_slow") {
      j["call_ms"] = e.call_ms;
      j["backoff_ms"] = e.backoff_ms;
      j["attempts"] = e.attempts;
    }
    if (!e.error.empty()) j["error"] = e.error;
    if (!e.where.empty()) j["where"] = e.where;
    list.push_back(std::move(j));
  }
  return {{"events", std::move(list)}};
}

}  // namespace reservoir::admin::detail
