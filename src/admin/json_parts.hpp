// Private: the cluster and tenant-registry parts of /stats.json.
#pragma once

#include <nlohmann/json.hpp>

#include "reservoir/metrics/registry.hpp"

namespace reservoir::admin::detail {

// Per cluster: its endpoints (state, weight, tier, counters, latency, load) and its totals.
nlohmann::json clusters_json(const metrics::Registry& registry);
// Per tenant registry: its totals and the tenants the metrics expose (every configured one
// and the busiest Registry::kMaxLazyTenantSeries lazy ones), each with its quota figures.
nlohmann::json tenants_json(const metrics::Registry& registry);

}  // namespace reservoir::admin::detail
