// reservoir/asio/cluster_acquire.hpp — async_acquire() on a Cluster or a tenant registry, as
// acquire.hpp does for a Pool: Cluster::acquire_async() and Tenants::acquire_async() as Asio
// asynchronous operations, for any completion token.
//
//   Result<cluster::ClusterLease> lease =
//       co_await reservoir::asio::async_acquire(cluster, deadline, asio::use_awaitable, cluster::Intent::write());
//   Result<tenant::TenantLease> t = co_await reservoir::asio::async_acquire(tenants, "agent-17", deadline,
//                                                                           asio::use_awaitable);
//
// The completion signatures are void(Result<cluster::ClusterLease>) and
// void(Result<tenant::TenantLease>); delivery, cancellation and execution-context shutdown
// follow acquire.hpp exactly (the same operation). Header-only: link reservoir::cluster
// (which brings reservoir::tenant) beside reservoir::asio.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "reservoir/asio/acquire.hpp"
#include "reservoir/cluster/cluster.hpp"
#include "reservoir/tenant/tenants.hpp"

namespace reservoir::asio {

namespace detail {

struct InitiateClusterAcquire {
  cluster::Cluster* cluster;
  template <class Handler>
  void operator()(Handler&& handler, Deadline deadline, cluster::Intent intent, SourceLocation where) const {
    start_async_acquire<cluster::ClusterLease, cluster::PendingClusterAcquire>(
        std::forward<Handler>(handler), [&](cluster::ClusterAcquireCallback callback) {
          return cluster->acquire_async(deadline, std::move(callback), intent, where);
        });
  }
};

struct InitiateTenantAcquire {
  tenant::Tenants* tenants;
  template <class Handler>
  void operator()(Handler&& handler, std::string tenant, Deadline deadline,
                  std::shared_ptr<const tenant::SourceRequest> request) const {
    start_async_acquire<tenant::TenantLease, tenant::PendingTenantAcquire>(
        std::forward<Handler>(handler), [&](tenant::TenantCallback callback) {
          return tenants->acquire_async(tenant, deadline, std::move(callback), std::move(request));
        });
  }
};

}  // namespace detail

// A connection of one endpoint of `cluster` before `deadline`; completes with
// void(Result<cluster::ClusterLease>). Errors: as Cluster::acquire_async(), and cancelled.
template <class Token>
auto async_acquire(cluster::Cluster& cluster, Deadline deadline, Token&& token,
                   cluster::Intent intent = cluster::Intent::any(), SourceLocation where = SourceLocation::current()) {
  return net::async_initiate<Token, void(Result<cluster::ClusterLease>)>(detail::InitiateClusterAcquire{&cluster},
                                                                         token, deadline, intent, where);
}

// A lease for `tenant` before `deadline`; completes with void(Result<tenant::TenantLease>).
// Errors: as Tenants::acquire_async(), and cancelled.
template <class Token>
auto async_acquire(tenant::Tenants& tenants, std::string_view tenant, Deadline deadline, Token&& token,
                   std::shared_ptr<const tenant::SourceRequest> request = nullptr) {
  return net::async_initiate<Token, void(Result<tenant::TenantLease>)>(
      detail::InitiateTenantAcquire{&tenants}, token, std::string(tenant), deadline, std::move(request));
}

}  // namespace reservoir::asio
