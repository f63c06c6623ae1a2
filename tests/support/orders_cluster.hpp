// tests/support/orders_cluster.hpp — the small cluster the metrics and admin tests observe:
// "orders" with endpoint a (tier 0, weight 2) and b (tier 1), quiet pools, an outlier
// detector that ejects after two failures in a row, and breakers that never open on their own.
#pragma once

#include <chrono>
#include <memory>

#include "reservoir/cluster/cluster.hpp"

namespace reservoir::testing {

// A pool that opens nothing on its own: no min_idle, no expiry, no keepalive, no check.
inline PoolConfig quiet_pool(std::size_t max_size) {
  using namespace std::chrono_literals;
  PoolConfig c;
  c.min_idle = 0;
  c.max_size = max_size;
  c.max_lifetime = 0ms;
  c.idle_timeout = 0ms;
  c.keepalive_interval = 0ms;
  c.validate_on_checkout = false;
  c.slow_acquire_threshold = 0ms;
  return c;
}

inline cluster::ClusterConfig orders_cluster_config(std::shared_ptr<Connector> a, std::shared_ptr<Connector> b) {
  using namespace std::chrono_literals;
  cluster::ClusterConfig c;
  c.name = "orders";
  c.pool = quiet_pool(3);
  c.breaker.consecutive_failures = 100000;
  c.breaker.failure_rate = 0;
  c.outlier.consecutive_failures = 2;
  c.outlier.failure_rate_min = 0;
  c.outlier.latency_factor = 0;
  c.outlier.max_ejection_percent = 100;
  c.outlier.base_ejection_time = 30s;
  c.endpoints = {{.name = "a", .connector = std::move(a), .weight = 2, .priority = 0},
                 {.name = "b", .connector = std::move(b), .weight = 1, .priority = 1}};
  return c;
}

}  // namespace reservoir::testing
