// reservoir/tenant/lease_source.hpp — LeaseSource: where a tenant registry's leases come from.
//
// Tenants decides who may take a lease next; the source only hands one out. A pool is one
// source (pool_source()); a cluster is another (cluster::tenant_source(), whose leases keep
// their outcome feedback to the outlier detector): anything that lends leases and knows how
// many it can lend at once. A SourceLease carries the source's own lease, so its return is
// the source's (a ClusterLease's outcome, a pool Lease's reset).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "reservoir/clock.hpp"
#include "reservoir/deadline.hpp"
#include "reservoir/error.hpp"
#include "reservoir/lease.hpp"
#include "reservoir/pool.hpp"
#include "reservoir/typed_pool.hpp"

namespace reservoir::tenant {

// What a caller asks of a source beyond a deadline (a cluster's routing Intent:
// cluster::RoutedRequest). A source reads the kind it knows and ignores any other.
struct SourceRequest {
  virtual ~SourceRequest() = default;
};

// A lease lent by a source: a pool's Lease as is, or any source's own lease type L (with
// valid(), connection(), discard(), release()), kept whole behind one allocation.
class SourceLease {
 public:
  SourceLease() noexcept = default;
  SourceLease(Lease lease) noexcept : lease_(std::move(lease)) {}  // NOLINT: a pool's lease is one
  template <class L>
  static SourceLease of(L lease) {
    SourceLease s;
    s.held_ = std::make_unique<Held<L>>(std::move(lease));
    return s;
  }

  bool valid() const noexcept { return held_ ? held_->valid() : lease_.valid(); }
  Connection& connection() const noexcept { return held_ ? held_->connection() : lease_.connection(); }
  void discard() noexcept { held_ ? held_->discard() : lease_.discard(); }
  void release() noexcept { held_ ? held_->release() : lease_.release(); }
  // The source's own lease when it is an L (`get<cluster::ClusterLease>()`), else null.
  template <class L>
  L* get() noexcept {
    if constexpr (std::is_same_v<L, Lease>) {
      return held_ ? nullptr : &lease_;
    } else {
      auto* held = dynamic_cast<Held<L>*>(held_.get());
      return held != nullptr ? &held->lease : nullptr;
    }
  }

 private:
  struct Holder {
    virtual ~Holder() = default;
    virtual bool valid() const noexcept = 0;
    virtual Connection& connection() const noexcept = 0;
    virtual void discard() noexcept = 0;
    virtual void release() noexcept = 0;
  };
  template <class L>
  struct Held final : Holder {
    explicit Held(L l) noexcept : lease(std::move(l)) {}
    bool valid() const noexcept override { return lease.valid(); }
    Connection& connection() const noexcept override { return lease.connection(); }
    void discard() noexcept override { lease.discard(); }
    void release() noexcept override { lease.release(); }
    L lease;
  };

  Lease lease_;
  std::unique_ptr<Holder> held_;
};

// Receives the outcome of LeaseSource::acquire_async().
using SourceCallback = std::function<void(Result<SourceLease>)>;
// Withdraws a pending LeaseSource::acquire_async(): true when its callback then gets
// `cancelled`; false when it completed or an outcome is on its way.
using SourceCancel = std::function<bool()>;

class LeaseSource {
 public:
  virtual ~LeaseSource() = default;
  // A lease before `deadline`; `request` (may be null) is the caller's, passed through from
  // Tenants::acquire(). Tenants calls it holding a permit, so at most capacity() calls and
  // leases are out at once through one registry. Errors: the source's own (a pool's
  // exhausted, unavailable, timeout, circuit_open, shutting_down).
  virtual Result<SourceLease> acquire(Deadline deadline, const SourceRequest* request) = 0;
  // Without blocking (Pool::acquire_async()'s contract): `callback` gets the lease or the error
  // exactly once, on this thread or on the one that hands the lease over, times it out or
  // shuts the source down. `request` lives until the callback ran. The default lends
  // synchronously only: invalid_argument.
  virtual Result<SourceCancel> acquire_async(Deadline deadline, std::shared_ptr<const SourceRequest> request,
                                             SourceCallback callback) {
    (void)deadline, (void)request, (void)callback;
    return Error::make(ErrorKind::invalid_argument, "this lease source lends synchronously only");
  }
  // How many leases it can lend at once (a pool's max_size). Read at every scheduling
  // decision, so a pool resized with set_max_size() is followed.
  virtual std::size_t capacity() const noexcept = 0;
  // The time source of the leases (a pool's clock).
  virtual const Clock& clock() const noexcept = 0;
};

// Lends from `pool`, which must outlive the source and every lease taken through it.
std::shared_ptr<LeaseSource> pool_source(Pool& pool);

template <PoolConnector C>
std::shared_ptr<LeaseSource> pool_source(TypedPool<C>& pool) {
  return pool_source(pool.untyped());
}

}  // namespace reservoir::tenant
