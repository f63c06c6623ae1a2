#include "reservoir/metrics/registry.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "reservoir/cluster/cluster.hpp"
#include "reservoir/metrics/exposition.hpp"
#include "reservoir/tenant/tenants.hpp"
#include "render_parts.hpp"

namespace reservoir::metrics {
namespace {

constexpr std::string_view kBreakerStates[] = {"closed", "open", "half_open"};

template <class T>
void prune(std::vector<T>& v, auto&& expired) {
  v.erase(std::remove_if(v.begin(), v.end(), expired), v.end());
}

struct PoolSample {
  std::shared_ptr<const Pool> pool;
  PoolStats stats;
  std::vector<BackendCounter> backend = pool->connector().backend_counters();
  std::string_view name() const { return pool->config().name; }
};

// reservoir_backend_<name>_total{pool}: a backend's own counters (Connector::backend_counters),
// one family per name in first-seen order; pools of other backends have no sample in it.
void render_backend_counters(Exposition& e, const std::vector<PoolSample>& pools) {
  std::vector<std::string_view> names;
  for (const auto& p : pools)
    for (const auto& c : p.backend)
      if (std::find(names.begin(), names.end(), c.name) == names.end()) names.push_back(c.name);
  std::string family;
  for (std::string_view name : names) {
    family.assign("reservoir_backend_").append(name).append("_total");
    bool headed = false;
    for (const auto& p : pools) {
      for (const auto& c : p.backend) {
        if (c.name != name) continue;
        if (!std::exchange(headed, true)) e.family(family, "counter", c.help);
        e.sample(family, {{"pool", p.name()}}, c.value);
      }
    }
  }
}

// Gauges of PoolStats with a conventional name of their own; every other gauge of the
// RESERVOIR_POOL_GAUGES list is exposed as reservoir_pool_<field>.
bool has_own_family(std::string_view gauge) {
  return gauge == "idle" || gauge == "in_use" || gauge == "connecting" || gauge == "max_size" ||
         gauge == "waiting";
}

void render_pool_gauges(Exposition& e, const std::vector<PoolSample>& pools) {
  if (pools.empty()) return;
  e.family("reservoir_pool_connections", "gauge", "connections by state: idle, in_use, connecting");
  for (const auto& p : pools) {
    e.sample("reservoir_pool_connections", {{"pool", p.name()}, {"state", "idle"}}, p.stats.idle);
    e.sample("reservoir_pool_connections", {{"pool", p.name()}, {"state", "in_use"}}, p.stats.in_use);
    e.sample("reservoir_pool_connections", {{"pool", p.name()}, {"state", "connecting"}}, p.stats.connecting);
  }
  e.family("reservoir_pool_max_connections", "gauge", "the cap on open connections");
  for (const auto& p : pools) e.sample("reservoir_pool_max_connections", {{"pool", p.name()}}, p.stats.max_size);
  e.family("reservoir_pool_pending_requests", "gauge", "callers queued in acquire() or acquire_async()");
  for (const auto& p : pools) e.sample("reservoir_pool_pending_requests", {{"pool", p.name()}}, p.stats.waiting);
  e.family("reservoir_pool_oldest_waiter_age_seconds", "gauge", "how long the longest-queued caller has waited (0: none)");
  for (const auto& p : pools)
    e.sample("reservoir_pool_oldest_waiter_age_seconds", {{"pool", p.name()}},
             static_cast<double>(p.stats.oldest_wait.count()) / 1e9);

  std::string name;
  pools.front().stats.for_each_gauge([&](std::string_view field, std::uint64_t, const char* help) {
    if (has_own_family(field)) return;
    name.assign("reservoir_pool_").append(field);
    e.family(name, "gauge", help);
    for (const auto& p : pools) {
      p.stats.for_each_gauge([&](std::string_view f, std::uint64_t value, const char*) {
        if (f == field) e.sample(name, {{"pool", p.name()}}, value);
      });
    }
  });
}

void render_pool_counters(Exposition& e, const std::vector<PoolSample>& pools) {
  if (pools.empty()) return;
  std::string name;
  pools.front().stats.for_each_counter([&](std::string_view field, std::uint64_t, const char* help) {
    if (field == "closed") return;  // reservoir_pool_connections_closed_total{reason} below
    name.assign("reservoir_pool_").append(field).append("_total");
    e.family(name, "counter", help);
    for (const auto& p : pools) {
      p.stats.for_each_counter([&](std::string_view f, std::uint64_t value, const char*) {
        if (f == field) e.sample(name, {{"pool", p.name()}}, value);
      });
    }
  });
  e.family("reservoir_pool_connections_closed_total", "counter", "connections closed by the pool, by reason");
  for (const auto& p : pools) {
    for (std::size_t r = 0; r < p.stats.closed_by.size(); ++r) {
      e.sample("reservoir_pool_connections_closed_total",
               {{"pool", p.name()}, {"reason", to_string(static_cast<CloseReason>(r))}}, p.stats.closed_by[r]);
    }
  }
}

void render_pool_histograms(Exposition& e, const std::vector<PoolSample>& pools) {
  if (pools.empty()) return;
  std::string name;
  pools.front().stats.for_each_histogram([&](std::string_view field, std::string_view metric, const HistogramBuckets&,
                                             const char* help) {
    name.assign("reservoir_pool_").append(metric);
    e.family(name, "histogram", help);
    for (const auto& p : pools) {
      p.stats.for_each_histogram([&](std::string_view f, std::string_view, const HistogramBuckets& h, const char*) {
        if (f == field) e.histogram(name, {{"pool", p.name()}}, h);
      });
    }
  });
}

// A breaker to expose: registered alone (transitions counted, label endpoint) or one of a
// cluster's (labels cluster and endpoint; its transitions are not counted).
struct BreakerSample {
  std::shared_ptr<const CircuitBreaker> breaker;
  std::shared_ptr<const BreakerTransitions> transitions;  // null: a cluster's
  std::string_view cluster;
  BreakerStats stats;
};

void breaker_sample(Exposition& e, std::string_view name, const BreakerSample& b, std::uint64_t value) {
  if (b.cluster.empty()) e.sample(name, {{"endpoint", b.breaker->name()}}, value);
  else e.sample(name, {{"cluster", b.cluster}, {"endpoint", b.breaker->name()}}, value);
}

void render_breakers(Exposition& e, const std::vector<BreakerSample>& breakers) {
  if (breakers.empty()) return;
  e.family("reservoir_breaker_state", "gauge", "circuit breaker state: 0 closed, 1 open, 2 half_open");
  for (const auto& b : breakers) breaker_sample(e, "reservoir_breaker_state", b, static_cast<std::uint64_t>(b.stats.state));
  e.family("reservoir_breaker_open", "gauge", "1 while the circuit breaker is open");
  for (const auto& b : breakers)
    breaker_sample(e, "reservoir_breaker_open", b, std::uint64_t{b.stats.state == BreakerState::open});
  e.family("reservoir_breaker_transitions_total", "counter", "state transitions since registration");
  for (const auto& b : breakers) {
    if (!b.transitions) continue;
    for (std::size_t pair = 0; pair < 9; ++pair) {
      if (pair / 3 == pair % 3) continue;
      e.sample("reservoir_breaker_transitions_total",
               {{"endpoint", b.breaker->name()}, {"from", kBreakerStates[pair / 3]}, {"to", kBreakerStates[pair % 3]}},
               b.transitions->by_pair[pair].load(std::memory_order_relaxed));
    }
  }
  struct Counter {
    const char* name;
    const char* help;
    std::uint64_t BreakerStats::*field;
  };
  static constexpr Counter kCounters[] = {
      {"reservoir_breaker_trips_total", "transitions to open", &BreakerStats::trips},
      {"reservoir_breaker_rejected_total", "calls refused with circuit_open", &BreakerStats::rejected},
      {"reservoir_breaker_probes_total", "half-open calls admitted", &BreakerStats::probes},
      {"reservoir_breaker_successes_total", "successful outcomes recorded", &BreakerStats::successes},
      {"reservoir_breaker_failures_total", "failed outcomes recorded", &BreakerStats::failures},
  };
  for (const Counter& c : kCounters) {
    e.family(c.name, "counter", c.help);
    for (const auto& b : breakers) breaker_sample(e, c.name, b, b.stats.*c.field);
  }
}

void render_budgets(Exposition& e, const std::vector<Registry::BudgetEntry>& budgets) {
  if (budgets.empty()) return;
  std::vector<RetryBudgetStats> stats;
  for (const auto& b : budgets) stats.push_back(b.budget->stats());
  struct Figure {
    const char* name;
    const char* type;
    const char* help;
    std::uint64_t RetryBudgetStats::*field;
  };
  static constexpr Figure kFigures[] = {
      {"reservoir_retry_budget_requests", "gauge", "first attempts in the budget's window", &RetryBudgetStats::requests},
      {"reservoir_retry_budget_retries", "gauge", "retries granted in the window", &RetryBudgetStats::retries},
      {"reservoir_retry_budget_allowed", "gauge", "retries the window allows in total", &RetryBudgetStats::allowed},
      {"reservoir_retry_budget_rejected_total", "counter", "retries refused", &RetryBudgetStats::rejected},
  };
  for (const Figure& f : kFigures) {
    e.family(f.name, f.type, f.help);
    for (std::size_t i = 0; i < budgets.size(); ++i) e.sample(f.name, {{"budget", budgets[i].name}}, stats[i].*f.field);
  }
}

void render_operations(Exposition& e, const std::vector<std::shared_ptr<const OperationCounters>>& ops) {
  if (ops.empty()) return;
  std::vector<OperationCounters::Snapshot> snaps;
  for (const auto& op : ops) snaps.push_back(op->snapshot());
  e.family("reservoir_retry_attempts_total", "counter",
           "attempts of run() calls by declared operation: success, failure (the last attempt), retried");
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const std::string& op = ops[i]->name();
    e.sample("reservoir_retry_attempts_total", {{"operation", op}, {"outcome", "success"}}, snaps[i].success);
    e.sample("reservoir_retry_attempts_total", {{"operation", op}, {"outcome", "failure"}}, snaps[i].failure);
    e.sample("reservoir_retry_attempts_total", {{"operation", op}, {"outcome", "retried"}}, snaps[i].retried);
  }
  e.family("reservoir_retry_gave_up_total", "counter", "failed calls by the verdict that stopped retrying");
  for (std::size_t i = 0; i < ops.size(); ++i)
    for (const auto& [verdict, n] : snaps[i].gave_up)
      e.sample("reservoir_retry_gave_up_total", {{"operation", ops[i]->name()}, {"verdict", verdict}}, n);
  e.family("reservoir_retry_backoff_seconds_total", "counter", "time spent waiting between attempts");
  for (std::size_t i = 0; i < ops.size(); ++i)
    e.sample("reservoir_retry_backoff_seconds_total", {{"operation", ops[i]->name()}},
             static_cast<double>(snaps[i].backoff_ns) / 1e9);
}

}  // namespace

void OperationCounters::record(const RunReport& report, bool succeeded) noexcept {
  const std::uint64_t attempts = report.attempts == 0 ? 1 : report.attempts;
  if (attempts > 1) retried_.fetch_add(attempts - 1, std::memory_order_relaxed);
  (succeeded ? success_ : failure_).fetch_add(1, std::memory_order_relaxed);
  backoff_ns_.fetch_add(static_cast<std::uint64_t>(report.backoff.count()), std::memory_order_relaxed);
  const auto v = static_cast<std::size_t>(report.last_verdict);
  if (!succeeded && v < kVerdicts) gave_up_[v].fetch_add(1, std::memory_order_relaxed);
}

OperationCounters::Snapshot OperationCounters::snapshot() const {
  Snapshot s;
  s.success = success_.load(std::memory_order_relaxed);
  s.retried = retried_.load(std::memory_order_relaxed);
  s.failure = failure_.load(std::memory_order_relaxed);
  s.backoff_ns = backoff_ns_.load(std::memory_order_relaxed);
  for (std::size_t v = 0; v < kVerdicts; ++v) {
    const std::uint64_t n = gave_up_[v].load(std::memory_order_relaxed);
    if (n != 0) s.gave_up.emplace_back(to_string(static_cast<RetryVerdict>(v)), n);
  }
  return s;
}

void Registry::add_pool(const std::shared_ptr<Pool>& pool) {
  std::lock_guard g(mu_);
  pools_.push_back(pool);
}

void Registry::add_breaker(const std::shared_ptr<CircuitBreaker>& breaker) {
  auto transitions = std::make_shared<BreakerTransitions>();
  breaker->add_listener([t = transitions](BreakerState from, BreakerState to) {
    const auto pair = static_cast<std::size_t>(from) * 3 + static_cast<std::size_t>(to);
    if (pair < t->by_pair.size()) t->by_pair[pair].fetch_add(1, std::memory_order_relaxed);
  });
  std::lock_guard g(mu_);
  breakers_.push_back({breaker, std::move(transitions)});
}

void Registry::add_retry_budget(std::string name, const std::shared_ptr<RetryBudget>& budget) {
  std::lock_guard g(mu_);
  budgets_.push_back({std::move(name), budget});
}

Result<std::shared_ptr<OperationCounters>> Registry::declare_operation(std::string_view name) {
  std::lock_guard g(mu_);
  for (const auto& op : operations_)
    if (op->name() == name) return op;
  if (operations_.size() >= kMaxOperations) {
    return Error::make(ErrorKind::invalid_argument,
                 "metrics: more than " + std::to_string(kMaxOperations) +
                     " retry operations declared; operation names must be a fixed set, not data");
  }
  operations_.push_back(std::make_shared<OperationCounters>(std::string(name)));
  return operations_.back();
}

std::vector<Registry::PoolEntry> Registry::live_pools() const {
  std::vector<PoolEntry> out;
  std::lock_guard g(mu_);
  prune(pools_, [](const std::weak_ptr<Pool>& w) { return w.expired(); });
  out.reserve(pools_.size());
  for (const auto& w : pools_)
    if (auto p = w.lock()) out.push_back({std::move(p)});
  return out;
}

std::vector<Registry::BreakerEntry> Registry::live_breakers() const {
  std::vector<BreakerEntry> out;
  std::lock_guard g(mu_);
  prune(breakers_, [](const WeakBreaker& w) { return w.breaker.expired(); });
  for (const auto& w : breakers_)
    if (auto b = w.breaker.lock()) out.push_back({std::move(b), w.transitions});
  return out;
}

std::vector<Registry::BudgetEntry> Registry::live_budgets() const {
  std::vector<BudgetEntry> out;
  std::lock_guard g(mu_);
  prune(budgets_, [](const WeakBudget& w) { return w.budget.expired(); });
  for (const auto& w : budgets_)
    if (auto b = w.budget.lock()) out.push_back({w.name, std::move(b)});
  return out;
}

void Registry::add_cluster(const std::shared_ptr<const cluster::Cluster>& cluster) {
  std::lock_guard g(mu_);
  clusters_.push_back(cluster);
}

void Registry::add_tenants(std::string name, const std::shared_ptr<const tenant::Tenants>& tenants) {
  std::lock_guard g(mu_);
  tenants_.push_back({std::move(name), tenants});
}

std::vector<std::shared_ptr<const cluster::Cluster>> Registry::live_clusters() const {
  std::vector<std::shared_ptr<const cluster::Cluster>> out;
  std::lock_guard g(mu_);
  prune(clusters_, [](const auto& w) { return w.expired(); });
  for (const auto& w : clusters_)
    if (auto c = w.lock()) out.push_back(std::move(c));
  return out;
}

std::vector<Registry::TenantsEntry> Registry::live_tenants() const {
  std::vector<TenantsEntry> out;
  std::lock_guard g(mu_);
  prune(tenants_, [](const WeakTenants& w) { return w.tenants.expired(); });
  for (const auto& w : tenants_)
    if (auto t = w.tenants.lock()) out.push_back({w.name, std::move(t)});
  return out;
}

std::vector<std::shared_ptr<const OperationCounters>> Registry::operations() const {
  std::lock_guard g(mu_);
  return {operations_.begin(), operations_.end()};
}

std::string Registry::render() const {
  std::string out;
  render(out);
  return out;
}

void Registry::render(std::string& out) const {
  // Read every cluster once: its endpoints' pools and breakers join the pool and breaker
  // families, its endpoint figures come after.
  std::vector<ClusterSample> clusters;
  for (auto& c : live_clusters()) {
    ClusterSample sample{c->stats(), c->endpoint_parts(), c};
    clusters.push_back(std::move(sample));
  }
  std::vector<PoolSample> pools;
  for (auto& entry : live_pools()) {
    PoolStats stats = entry.pool->stats();
    pools.push_back({std::move(entry.pool), std::move(stats)});
  }
  std::vector<BreakerSample> breakers;
  for (auto& entry : live_breakers()) {
    BreakerStats stats = entry.breaker->stats();
    breakers.push_back({std::move(entry.breaker), std::move(entry.transitions), {}, stats});
  }
  for (const auto& c : clusters) {
    for (const auto& part : c.parts) {
      pools.push_back({part.pool, part.pool->stats()});
      breakers.push_back({part.breaker, nullptr, c.cluster->config().name, part.breaker->stats()});
    }
  }
  out.reserve(out.size() + 1024 + pools.size() * 6144);
  Exposition e(out);
  render_pool_gauges(e, pools);
  render_pool_counters(e, pools);
  render_pool_histograms(e, pools);
  render_backend_counters(e, pools);
  render_breakers(e, breakers);
  render_budgets(e, live_budgets());
  render_operations(e, operations());
  render_clusters(e, clusters);
  std::vector<TenantsSample> tenants;
  for (auto& t : live_tenants()) {
    TenantsSample sample{std::move(t.name), t.tenants->totals(), t.tenants->exposed_stats(kMaxLazyTenantSeries)};
    tenants.push_back(std::move(sample));
  }
  render_tenants(e, tenants);
}

}  // namespace reservoir::metrics
