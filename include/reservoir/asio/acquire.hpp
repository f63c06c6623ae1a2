// reservoir/asio/acquire.hpp — async_acquire(): Pool::acquire_async() as an Asio asynchronous
// operation, for any completion token.
//
//   Result<Lease> lease = co_await reservoir::asio::async_acquire(pool, deadline, asio::use_awaitable);
//
// The completion signature is void(Result<Lease>) (void(Result<TypedLease<C>>) for a
// TypedPool): errors are values, as everywhere in reservoir, so use_awaitable never throws for
// an acquire that failed. Tokens: callbacks, use_awaitable, deferred, use_future, and
// adapters (bind_executor, bind_cancellation_slot, as_tuple, awaitable operators).
//
// The outcome is posted to the handler's associated executor (a callback without one runs on
// asio::system_executor), never run inline on the thread that returned the lease.
// Cancellation: the handler's cancellation slot (any type: terminal, partial, total) withdraws
// a queued request; it then completes with ErrorKind::cancelled. A lease handed over at the
// moment of the cancel is delivered instead (it is never lost; a dropped one returns to the
// pool). An execution context shutting down (an io_context destroyed) with acquires pending
// destroys their handlers uncalled and withdraws their requests; a lease already posted to it
// is destroyed with the queued handler, so it goes back to its pool. A lease handed over while
// the caller's io_context is stopped goes straight back to the pool, and the handler (run if
// the loop is restarted) gets `cancelled`: a stopped loop holds no connection. A lease posted
// just before the stop waits in the loop's queue like any handler.
//
// The pool must be alive when the operation is initiated (for deferred: when it is launched);
// it may go away after: its shutdown completes the operation with shutting_down.
#pragma once

#include <boost/asio/async_result.hpp>
#include <utility>

#include "reservoir/asio/pending_op.hpp"
#include "reservoir/pool.hpp"
#include "reservoir/typed_pool.hpp"

namespace reservoir::asio {

namespace detail {

template <class V, class L>
Result<V> lease_as(Result<L> r) {
  if constexpr (std::is_same_v<V, L>) {
    return r;
  } else {
    if (!r) return std::move(r).error();
    return V(std::move(r).value());
  }
}

// An acquire of any source whose pending handle has cancel(): a pool's PendingAcquire, a
// cluster's or a tenant registry's (cluster_acquire.hpp).
template <class Handler, class V, class Pending = PendingAcquire>
class AcquireOp final : public PendingOp<Handler, Result<V>> {
 public:
  using PendingOp<Handler, Result<V>>::PendingOp;

  template <class L>
  void deliver(Result<L> r) noexcept {
    this->complete(lease_as<V>(std::move(r)));
  }

  void set_pending(Pending pending) noexcept {
    {
      std::lock_guard g(this->mu_);
      if (this->is_pending_locked()) {
        pending_ = std::move(pending);
        return;
      }
    }
    (void)pending.cancel();  // orphaned while starting: withdraw (no-op if it completed)
  }

 private:
  void withdraw() noexcept override {
    Pending pending;
    {
      std::lock_guard g(this->mu_);
      pending = pending_;
    }
    (void)pending.cancel();  // false: an outcome is on its way, complete() takes or drops it
  }
  // The pool's waiter holds this operation through its callback: let go of it.
  void completed_locked() noexcept override { pending_ = Pending(); }
  // A lease handed over while the caller's io_context is stopped goes back to the pool; the
  // caller, if its loop is ever restarted, learns why.
  std::optional<Result<V>> on_stopped_context(const Result<V>& outcome) noexcept override {
    if (!outcome) return std::nullopt;
    return Result<V>(Error::make(ErrorKind::cancelled,
                                 "acquire: the caller's io_context was stopped; the connection went back to the pool"));
  }

  Pending pending_;
};

// Starts `start(callback)` (a source's acquire_async, returning Result<Pending>) for
// `handler`, whose outcome is a Result<V>.
template <class V, class Pending, class Handler, class Start>
void start_async_acquire(Handler&& handler, Start&& start) {
  auto op = std::make_shared<AcquireOp<std::decay_t<Handler>, V, Pending>>(std::forward<Handler>(handler));
  if (!op->start()) return;
  auto pending = std::forward<Start>(start)([op](auto r) { op->deliver(std::move(r)); });
  if (!pending) {
    op->deliver(Result<V>(std::move(pending).error()));
    return;
  }
  op->set_pending(std::move(pending).value());
}

template <class V, class Handler>
void start_acquire(Pool& pool, Deadline deadline, SourceLocation where, Handler&& handler) {
  start_async_acquire<V, PendingAcquire>(std::forward<Handler>(handler), [&](AcquireCallback callback) {
    return pool.acquire_async(deadline, std::move(callback), where);
  });
}

template <class V>
struct InitiateAcquire {
  Pool* pool;
  template <class Handler>
  void operator()(Handler&& handler, Deadline deadline, SourceLocation where) const {
    start_acquire<V>(*pool, deadline, where, std::forward<Handler>(handler));
  }
};

}  // namespace detail

// Borrows a connection of `pool` before `deadline`; completes with void(Result<Lease>).
// Errors: as Pool::acquire_async() (exhausted, unavailable, timeout, shutting_down, circuit
// breaker errors), and cancelled.
template <class Token>
auto async_acquire(Pool& pool, Deadline deadline, Token&& token,
                   SourceLocation where = SourceLocation::current()) {
  return net::async_initiate<Token, void(Result<Lease>)>(detail::InitiateAcquire<Lease>{&pool}, token,
                                                         deadline, where);
}

// The same on a TypedPool; completes with void(Result<TypedLease<C>>).
template <PoolConnector C, class Token>
auto async_acquire(TypedPool<C>& pool, Deadline deadline, Token&& token,
                   SourceLocation where = SourceLocation::current()) {
  return net::async_initiate<Token, void(Result<TypedLease<C>>)>(
      detail::InitiateAcquire<TypedLease<C>>{&pool.untyped()}, token, deadline, where);
}

}  // namespace reservoir::asio
