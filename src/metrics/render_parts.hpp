// Private: the cluster and tenant families of Registry::render() (src/metrics/parts.cpp).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "reservoir/cluster/cluster.hpp"
#include "reservoir/metrics/exposition.hpp"
#include "reservoir/tenant/tenants.hpp"

namespace reservoir::metrics {

struct ClusterSample {
  cluster::ClusterStats stats;
  std::vector<cluster::EndpointParts> parts;
  std::shared_ptr<const cluster::Cluster> cluster;
};

struct TenantsSample {
  std::string name;
  tenant::TenantsTotals totals;
  std::vector<tenant::TenantStats> tenants;  // the exposed ones
};

void render_clusters(Exposition& e, const std::vector<ClusterSample>& clusters);
void render_tenants(Exposition& e, const std::vector<TenantsSample>& registries);

}  // namespace reservoir::metrics
