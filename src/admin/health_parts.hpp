// Private: the cluster and tenant-registry components of HealthMonitor::report().
#pragma once

#include "reservoir/admin/health.hpp"

namespace reservoir::admin::detail {

// A cluster is unhealthy when none of its endpoints serves; the reason names each one's state.
void add_cluster_health(const metrics::Registry& registry, HealthReport& report);
// A tenant registry: healthy, with its figures.
void add_tenants_health(const metrics::Registry& registry, HealthReport& report);

}  // namespace reservoir::admin::detail
