// reservoir/tenant/tenants.hpp — Tenants: sessions of many tenants over one lease source,
// with guaranteed shares, caps, quotas and fair queuing.
//
//   auto pool = TypedPool<pg::Connector>::create(config, {}, std::move(connector));
//   auto tenants = tenant::Tenants::create(tenant::pool_source(*pool), tenants_config, options);
//   auto lease = tenants->acquire("agent-17", Deadline::after(clock, 2s));
//   lease->as<pg::Connector>().query("SELECT ...", {}, deadline);
//
// Every lease goes through a permit: at most the source's capacity are out at once. A tenant
// below its guarantee gets a free permit at once (guaranteed permits are never lent); permits
// above the guarantees are lent to whoever waits. When permits run out, callers queue FIFO
// per tenant and tenants are served by weighted deficit round robin, so one tenant's flood
// costs the others one turn each round, not their place in one long line. A tenant at a cap
// (max_leases, max_operations, max_waiting) is refused at once with quota_exceeded naming the
// tenant and the limit; a caller whose deadline is shorter than its expected wait is refused
// at once with the estimate. Tenants not configured by id are created on first use and
// forgotten after idle_ttl without a lease or a waiter.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reservoir/clock.hpp"
#include "reservoir/connector.hpp"
#include "reservoir/deadline.hpp"
#include "reservoir/error.hpp"
#include "reservoir/tenant/config.hpp"
#include "reservoir/tenant/lease.hpp"
#include "reservoir/tenant/lease_source.hpp"
#include "reservoir/tenant/stats.hpp"

namespace reservoir::tenant {

// Per-tenant session setup on a leased connection, e.g. `SET ROLE` for PostgreSQL.
using SetupFn = std::function<Status(Connection&, std::string_view tenant, Deadline)>;

// A SetupFn from a function of the backend's own connection, for a pool of connector C:
// `typed_setup<pg::Connector>([](pg::Connection& c, std::string_view tenant, Deadline d) {...})`.
template <PoolConnector C, class F>
SetupFn typed_setup(F fn) {
  return [fn = std::move(fn)](Connection& c, std::string_view tenant, Deadline deadline) -> Status {
    return fn(ConnectorAdapter<C>::cast(c), tenant, deadline);
  };
}

struct TenantsOptions {
  // Runs on every lease before the caller gets it, outside any lock, within the caller's
  // deadline. An error discards the connection and is what acquire() returns.
  SetupFn setup;
  // Runs on every lease as it returns (not after discard()), before the source's own reset,
  // within undo_timeout. An error discards the connection, so the setup never leaks.
  SetupFn undo;
  Duration undo_timeout = std::chrono::seconds(2);
};

namespace detail {
struct AsyncRequest;
}

// Receives the outcome of Tenants::acquire_async().
using TenantCallback = std::function<void(Result<TenantLease>)>;

// A pending Tenants::acquire_async(). Dropping the handle does not cancel it.
class PendingTenantAcquire {
 public:
  PendingTenantAcquire() noexcept = default;
  // Withdraws the request: true when its callback gets `cancelled` (on this thread while it
  // waited for a permit; passed on to the source's cancel once it had one). False when it
  // completed or a lease is on its way (never lost: dropped, it returns), or while it is being
  // handed to the source (withdrawn there as soon as the source has queued it).
  bool cancel() noexcept;
  bool done() const noexcept;

 private:
  friend class detail::TenantsCore;
  explicit PendingTenantAcquire(std::shared_ptr<detail::AsyncRequest> op) noexcept : op_(std::move(op)) {}
  std::shared_ptr<detail::AsyncRequest> op_;
};

class Tenants {
 public:
  // Errors: invalid_config (see TenantsConfig::validate), invalid_argument (no source).
  static Result<Tenants> create(std::shared_ptr<LeaseSource> source, TenantsConfig config,
                                TenantsOptions options = {});

  Tenants(Tenants&&) noexcept;
  Tenants& operator=(Tenants&&) noexcept;
  // Callers still blocked in acquire() must have returned; leases still out stay valid;
  // requests of acquire_async() waiting for a permit complete with shutting_down (those
  // already at the source complete as the source says).
  ~Tenants();

  // A lease for `tenant` before `deadline`.
  // Errors: quota_exceeded (`tenant "a": max_leases=2 reached (2 held)`, at once),
  // exhausted (early: `tenant "a": expected wait ~120ms (3 ahead, leases held ~40ms) exceeds
  // the 50ms left`; or at the deadline: `tenant "a": no lease within 50ms ...`),
  // invalid_argument (empty tenant id), the source's errors, the setup's error.
  // `request` goes to the source as is (over a cluster: `cluster::RoutedRequest`, see
  // cluster/tenant_source.hpp).
  Result<TenantLease> acquire(std::string_view tenant, Deadline deadline, const SourceRequest* request = nullptr);

  // Without blocking the caller: the same admission, quotas and fair order as acquire(), then
  // the source's own acquire_async (a pool's, a cluster's). `callback` gets the lease or the
  // error exactly once: on this thread when decided at once (a quota, an early refusal, an
  // idle connection); else on the thread that returns a permit or hands a connection over,
  // the clock's timer thread at `deadline`, or the thread that cancels or destroys the
  // registry. A waiter costs no thread. A setup does I/O, so with TenantsOptions::setup this
  // is invalid_argument (use acquire()); the undo runs where the lease is released.
  // Errors of the call: invalid_argument (empty callback or tenant id, a setup, a source that
  // lends synchronously only); nothing is queued then.
  Result<PendingTenantAcquire> acquire_async(std::string_view tenant, Deadline deadline, TenantCallback callback,
                                             std::shared_ptr<const SourceRequest> request = nullptr);

  // Replaces the configuration whole, or refuses it whole (invalid_config) leaving the
  // running one as it was. Leases above a lowered cap are kept until they return.
  Status reconfigure(TenantsConfig config);

  // Forgets the lazily created tenants idle past idle_ttl now (acquire() also does it,
  // at most every idle_ttl / 2). Returns how many were forgotten.
  std::size_t evict_idle();

  std::optional<TenantStats> stats(std::string_view tenant) const;
  std::vector<TenantStats> all_stats() const;
  // For metrics, whose label count must stay bounded however many tenants are created on
  // first use: every configured tenant, plus at most `max_lazy` lazily created ones that have
  // leases out or requests queued (the busiest: most active + waiting, then by id), sorted
  // by id. Costs one pass over the tenants under the registry's lock, copying only those.
  std::vector<TenantStats> exposed_stats(std::size_t max_lazy) const;
  TenantsTotals totals() const;
  std::size_t tenant_count() const;

 private:
  explicit Tenants(std::shared_ptr<detail::TenantsCore> core) noexcept;
  std::shared_ptr<detail::TenantsCore> core_;
};

}  // namespace reservoir::tenant
