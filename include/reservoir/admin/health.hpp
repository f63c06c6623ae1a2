// reservoir/admin/health.hpp — HealthMonitor: is every registered pool and breaker usable?
//
// Unhealthy when a breaker is open, when a pool has no connection and its last connect failed
// (no connection possible), when a pool has been exhausted (every connection in use and
// callers queued) for longer than `exhausted_threshold`, or when no endpoint of a cluster
// serves (each one ejected, its breaker open, or draining). A tenant registry is reported
// with its figures (capacity, leases out, queued, guaranteed but unused, tenants known, quota
// refusals of its exposed tenants) and is always healthy: quotas refuse by design. Exhaustion is seen by sampling:
// sample() is called on each report and by the admin server's timer, so a brief spike that
// ends between two samples is not a failure. Reads pools through load() (no pool lock).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "reservoir/admin/events.hpp"
#include "reservoir/clock.hpp"
#include "reservoir/metrics/registry.hpp"

namespace reservoir::admin {

struct HealthReport {
  struct Component {
    std::string kind;  // "pool", "breaker", "cluster" or "tenants"
    std::string name;  // the pool's name, the breaker's endpoint, the cluster's, the registry's
    bool healthy = true;
    std::vector<std::string> reasons;
    std::vector<std::pair<std::string, std::uint64_t>> figures;  // tenants: its quota figures
  };
  bool healthy = true;
  std::vector<Component> components;
};

class HealthMonitor {
 public:
  // `events` may be null (then "no connection possible" is judged on size alone: none open and
  // failed connects counted). `clock` must outlive the monitor.
  HealthMonitor(std::shared_ptr<const metrics::Registry> registry, std::shared_ptr<const EventRing> events,
                Duration exhausted_threshold, const Clock& clock);

  // Notes which pools are exhausted now.
  void sample();
  // Samples, then judges every live pool, breaker, cluster and tenant registry.
  HealthReport report();

 private:
  std::shared_ptr<const metrics::Registry> registry_;
  std::shared_ptr<const EventRing> events_;
  const Duration exhausted_threshold_;
  const Clock& clock_;
  std::mutex mu_;
  std::map<const void*, TimePoint> exhausted_since_;  // by pool identity (its address)
};

}  // namespace reservoir::admin
