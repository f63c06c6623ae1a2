// reservoir/tenant/lease.hpp — TenantLease: a lease taken for one tenant.
//
// Move-only RAII, like Lease. On return the tenant's undo callback runs first (so its setup
// never reaches the next borrower, whatever the pool's own reset does), then the connection
// goes back to the source and the tenant's permit to the next waiter the scheduler picks.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "reservoir/clock.hpp"
#include "reservoir/connector.hpp"
#include "reservoir/lease.hpp"
#include "reservoir/tenant/lease_source.hpp"

namespace reservoir::tenant {

namespace detail {
class TenantsCore;
struct TenantState;
}  // namespace detail

class [[nodiscard]] TenantLease {
 public:
  TenantLease() noexcept = default;
  TenantLease(TenantLease&& other) noexcept;
  TenantLease& operator=(TenantLease&& other) noexcept;
  TenantLease(const TenantLease&) = delete;
  TenantLease& operator=(const TenantLease&) = delete;
  ~TenantLease() { release(); }

  bool valid() const noexcept { return lease_.valid(); }
  explicit operator bool() const noexcept { return valid(); }

  Connection& connection() const noexcept { return lease_.connection(); }
  // The backend's own connection, for a pool of connector C: `lease.as<pg::Connector>()`.
  template <PoolConnector C>
  typename C::connection& as() const noexcept {
    return ConnectorAdapter<C>::cast(connection());
  }
  // The source's own lease when it is an L (a cluster's: `source_lease<cluster::ClusterLease>()`
  // says its endpoint), else null.
  template <class L>
  L* source_lease() noexcept {
    return lease_.get<L>();
  }
  // The tenant it was taken for.
  const std::string& tenant() const noexcept;

  // Counts a transaction in the tenant's statistics (committed or aborted).
  void count_transaction(bool committed) noexcept;
  // Marks the connection broken: it is closed on return (the undo callback is skipped).
  void discard() noexcept;
  // Undoes the tenant's setup, returns the connection and the permit now.
  void release() noexcept;

 private:
  friend class detail::TenantsCore;
  TenantLease(std::shared_ptr<detail::TenantsCore> core, detail::TenantState* state, SourceLease lease,
              TimePoint granted) noexcept
      : core_(std::move(core)), state_(state), lease_(std::move(lease)), granted_(granted) {}

  std::shared_ptr<detail::TenantsCore> core_;
  detail::TenantState* state_ = nullptr;  // never evicted while a lease is out
  SourceLease lease_;
  TimePoint granted_{};
  bool discarded_ = false;
};

// Runs `fn()`, a whole transaction on `lease` (begin, work, commit), and counts it in the
// tenant's statistics: committed if it returned OK, aborted otherwise. Returns what fn did.
template <class Fn>
auto counted_transaction(TenantLease& lease, Fn&& fn) -> decltype(std::forward<Fn>(fn)()) {
  auto outcome = std::forward<Fn>(fn)();
  lease.count_transaction(outcome.ok());
  return outcome;
}

}  // namespace reservoir::tenant
