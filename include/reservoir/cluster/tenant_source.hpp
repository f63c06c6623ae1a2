// reservoir/cluster/tenant_source.hpp — a Cluster as a tenant registry's lease source: fair
// tenant quotas over several endpoints, each lease still a ClusterLease.
//
//   auto tenants = tenant::Tenants::create(cluster::tenant_source(*c), tenants_config);
//   auto lease = cluster::acquire(*tenants, "agent-17", deadline, cluster::Intent::read());
//   cluster::cluster_lease(*lease)->endpoint();   // which server; write_token() after a write
//
// The tenant lease holds the ClusterLease: its discard() is a failure for the outlier
// detector, a normal return a success, and a promotion seen on its connection updates the
// endpoint's role, exactly as for a lease taken from the cluster directly. The intent goes to
// the cluster's routing. Capacity: the pool size times the endpoints (followed as they change).
#pragma once

#include <memory>
#include <string_view>
#include <utility>

#include "reservoir/cluster/cluster.hpp"
#include "reservoir/cluster/routing.hpp"
#include "reservoir/tenant/lease_source.hpp"
#include "reservoir/tenant/tenants.hpp"

namespace reservoir::cluster {

// A tenant acquire's routing intent, for the cluster source.
struct RoutedRequest final : tenant::SourceRequest {
  explicit RoutedRequest(Intent i) noexcept : intent(i) {}
  Intent intent;
};

// Lends ClusterLeases of `cluster`, which must outlive the source and every lease taken
// through it.
std::shared_ptr<tenant::LeaseSource> tenant_source(Cluster& cluster);

// A lease for `tenant` routed by `intent` (tenants over a tenant_source()).
inline Result<tenant::TenantLease> acquire(tenant::Tenants& tenants, std::string_view tenant, Deadline deadline,
                                           Intent intent) {
  const RoutedRequest request(intent);
  return tenants.acquire(tenant, deadline, &request);
}

// The same without blocking (Tenants::acquire_async; a routed read is invalid_argument, as in
// Cluster::acquire_async).
inline Result<tenant::PendingTenantAcquire> acquire_async(tenant::Tenants& tenants, std::string_view tenant,
                                                          Deadline deadline, Intent intent,
                                                          tenant::TenantCallback callback) {
  return tenants.acquire_async(tenant, deadline, std::move(callback), std::make_shared<const RoutedRequest>(intent));
}

// The ClusterLease behind a tenant lease of a tenant_source(), else null.
inline ClusterLease* cluster_lease(tenant::TenantLease& lease) noexcept {
  return lease.source_lease<ClusterLease>();
}

}  // namespace reservoir::cluster
