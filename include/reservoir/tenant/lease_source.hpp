// reservoir/tenant/lease_source.hpp — LeaseSource: where a tenant registry's leases come from.
//
// Tenants decides who may take a lease next; the source only hands one out. A pool is one
// source (pool_source()); a cluster of pools can be another: anything that lends Leases and
// knows how many it can lend at once.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "reservoir/clock.hpp"
#include "reservoir/deadline.hpp"
#include "reservoir/error.hpp"
#include "reservoir/lease.hpp"
#include "reservoir/pool.hpp"
#include "reservoir/typed_pool.hpp"

namespace reservoir::tenant {

class LeaseSource {
 public:
  virtual ~LeaseSource() = default;
  // A lease before `deadline`. Tenants calls it holding a permit, so at most capacity()
  // calls and leases are out at once through one registry. Errors: the source's own
  // (a pool's exhausted, unavailable, timeout, circuit_open, shutting_down).
  virtual Result<Lease> acquire(Deadline deadline) = 0;
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
