// reservoir/metrics/registry.hpp — Registry: what a process exposes to Prometheus.
//
// Pools, breakers, retry budgets, clusters and tenant registries are held weakly: one destroyed while registered simply
// drops out of the next render. Rendering reads each pool's stats(), which takes no pool lock
// (relaxed atomic reads), so a scrape never waits behind, nor delays, an acquire; the
// registry's own mutex is held only to copy its list of weak references.
// Label cardinality is bounded: pools, breakers and budgets are registered by the program,
// and retry operations are declared (declare_operation), never taken from request text.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "reservoir/breaker.hpp"
#include "reservoir/pool.hpp"
#include "reservoir/retry.hpp"
#include "reservoir/retry_budget.hpp"
#include "reservoir/run.hpp"
#include "reservoir/typed_pool.hpp"

namespace reservoir::cluster {
class Cluster;
}
namespace reservoir::tenant {
class Tenants;
}

namespace reservoir::metrics {

// Retry outcomes of one declared operation (the `operation` label of
// reservoir_retry_attempts_total). Thread-safe; record() is a few relaxed increments.
class OperationCounters {
 public:
  explicit OperationCounters(std::string name) : name_(std::move(name)) {}

  // One run() call: its report and whether it finally succeeded. Attempts before the last
  // count as `retried`, the last one as `success` or `failure`; a failed call also counts
  // under reservoir_retry_gave_up_total with the verdict that stopped it.
  void record(const RunReport& report, bool succeeded) noexcept;

  struct Snapshot {
    std::uint64_t success = 0, retried = 0, failure = 0;
    std::uint64_t backoff_ns = 0;
    std::vector<std::pair<std::string_view, std::uint64_t>> gave_up;  // verdict → count (non-zero only)
  };
  Snapshot snapshot() const;
  const std::string& name() const noexcept { return name_; }

 private:
  static constexpr std::size_t kVerdicts = 6;  // RetryVerdict's values
  const std::string name_;
  std::atomic<std::uint64_t> success_{0}, retried_{0}, failure_{0}, backoff_ns_{0};
  std::array<std::atomic<std::uint64_t>, kVerdicts> gave_up_{};
};

// Counts one breaker's transitions (from, to), fed by its listener.
struct BreakerTransitions {
  std::array<std::atomic<std::uint64_t>, 9> by_pair{};  // from * 3 + to
};

class Registry {
 public:
  // Most operations a registry accepts: a program that declares more is creating labels
  // from data, which Prometheus cannot afford.
  static constexpr std::size_t kMaxOperations = 256;
  // Lazily created tenants given series of their own, per registry (the busiest ones with
  // leases out or requests queued); the others count only in the registry's totals.
  static constexpr std::size_t kMaxLazyTenantSeries = 100;

  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The pool's label is its PoolConfig::name. A pool held by value can be registered through
  // a shared_ptr that owns it; a TypedPool through its shared_ptr (aliased to its untyped pool).
  void add_pool(const std::shared_ptr<Pool>& pool);
  template <class C>
  void add_pool(const std::shared_ptr<TypedPool<C>>& pool) {
    add_pool(std::shared_ptr<Pool>(pool, &pool->untyped()));
  }
  // The breaker's label is its name() (an endpoint); installs a listener counting transitions.
  void add_breaker(const std::shared_ptr<CircuitBreaker>& breaker);
  void add_retry_budget(std::string name, const std::shared_ptr<RetryBudget>& budget);
  // Label `cluster` is its ClusterConfig::name. Exposes its endpoints (cluster, endpoint,
  // tier labels), and its endpoints' pools (pool label "<cluster>/<endpoint>", the pool's
  // name) and breakers (labels cluster, endpoint; no transitions series) in those families.
  void add_cluster(const std::shared_ptr<const cluster::Cluster>& cluster);
  // Label `tenants` is `name`; per-tenant series for its configured tenants and at most
  // kMaxLazyTenantSeries lazily created ones (Tenants::exposed_stats).
  void add_tenants(std::string name, const std::shared_ptr<const tenant::Tenants>& tenants);
  // The counters for `name`, created on first use. Errors: invalid_argument past
  // kMaxOperations distinct names.
  Result<std::shared_ptr<OperationCounters>> declare_operation(std::string_view name);

  // Prometheus text exposition format 0.0.4 (Content-Type: text/plain; version=0.0.4).
  std::string render() const;
  void render(std::string& out) const;

  // What is registered and still alive, for the admin endpoint's JSON and health checks.
  struct PoolEntry {
    std::shared_ptr<Pool> pool;
  };
  struct BreakerEntry {
    std::shared_ptr<CircuitBreaker> breaker;
    std::shared_ptr<const BreakerTransitions> transitions;
  };
  struct BudgetEntry {
    std::string name;
    std::shared_ptr<RetryBudget> budget;
  };
  std::vector<PoolEntry> live_pools() const;
  std::vector<BreakerEntry> live_breakers() const;
  std::vector<BudgetEntry> live_budgets() const;
  std::vector<std::shared_ptr<const OperationCounters>> operations() const;
  std::vector<std::shared_ptr<const cluster::Cluster>> live_clusters() const;
  struct TenantsEntry {
    std::string name;
    std::shared_ptr<const tenant::Tenants> tenants;
  };
  std::vector<TenantsEntry> live_tenants() const;

 private:
  struct WeakBreaker {
    std::weak_ptr<CircuitBreaker> breaker;
    std::shared_ptr<BreakerTransitions> transitions;
  };
  struct WeakBudget {
    std::string name;
    std::weak_ptr<RetryBudget> budget;
  };
  mutable std::mutex mu_;
  mutable std::vector<std::weak_ptr<Pool>> pools_;  // expired entries pruned on read
  mutable std::vector<WeakBreaker> breakers_;
  mutable std::vector<WeakBudget> budgets_;
  struct WeakTenants {
    std::string name;
    std::weak_ptr<const tenant::Tenants> tenants;
  };
  mutable std::vector<std::weak_ptr<const cluster::Cluster>> clusters_;
  mutable std::vector<WeakTenants> tenants_;
  std::vector<std::shared_ptr<OperationCounters>> operations_;
};

}  // namespace reservoir::metrics
