// reservoir/typed_pool.hpp — TypedPool<C>: the typed facade over Pool for a PoolConnector C.
//
// Callers get their backend's own connection type back (`lease->query(...)`) instead of the
// opaque Connection the core holds.
#pragma once

#include <memory>
#include <utility>

#include "reservoir/pool.hpp"

namespace reservoir {

template <PoolConnector C>
class TypedLease {
 public:
  using connection = typename C::connection;

  explicit TypedLease(Lease lease) noexcept : lease_(std::move(lease)) {}

  connection& operator*() const noexcept { return ConnectorAdapter<C>::cast(lease_.connection()); }
  connection* operator->() const noexcept { return &**this; }
  bool valid() const noexcept { return lease_.valid(); }
  explicit operator bool() const noexcept { return valid(); }

  void discard() noexcept { lease_.discard(); }
  void release() noexcept { lease_.release(); }
  Lease& untyped() noexcept { return lease_; }

 private:
  Lease lease_;
};

template <PoolConnector C>
class TypedPool {
 public:
  using connection = typename C::connection;
  using lease_type = TypedLease<C>;

  // Builds the connector in place from `connector_args`. Errors: as Pool::create().
  template <class... Args>
  static Result<TypedPool> create(PoolConfig config, PoolOptions options, Args&&... connector_args) {
    auto adapter = std::make_shared<ConnectorAdapter<C>>(std::forward<Args>(connector_args)...);
    auto* raw = adapter.get();
    auto pool = Pool::create(std::move(adapter), std::move(config), std::move(options));
    if (!pool) return std::move(pool).error();
    return TypedPool(std::move(pool).value(), raw);
  }

  Result<lease_type> acquire(SourceLocation where = SourceLocation::current()) {
    return wrap(pool_.acquire(where));
  }
  Result<lease_type> acquire(Deadline deadline, SourceLocation where = SourceLocation::current()) {
    return wrap(pool_.acquire(deadline, where));
  }

  // As Pool::acquire_async(), with the backend's own lease type.
  template <class F>
    requires std::invocable<F&, Result<lease_type>>
  Result<PendingAcquire> acquire_async(Deadline deadline, F callback,
                                       SourceLocation where = SourceLocation::current()) {
    return pool_.acquire_async(
        deadline, [cb = std::move(callback)](Result<Lease> r) mutable { cb(wrap(std::move(r))); }, where);
  }

  C& connector() noexcept { return adapter_->inner(); }
  const Clock& clock() const noexcept { return pool_.clock(); }
  PoolLoad load() const noexcept { return pool_.load(); }
  Pool& untyped() noexcept { return pool_; }
  Status shutdown(Duration grace) { return pool_.shutdown(grace); }
  PoolStats stats() const { return pool_.stats(); }

 private:
  TypedPool(Pool pool, ConnectorAdapter<C>* adapter) noexcept : pool_(std::move(pool)), adapter_(adapter) {}

  static Result<lease_type> wrap(Result<Lease> r) {
    if (!r) return std::move(r).error();
    return lease_type(std::move(r).value());
  }

  Pool pool_;
  ConnectorAdapter<C>* adapter_;  // owned by pool_
};

}  // namespace reservoir
