// Cluster::acquire_async(): the walk over the endpoints of acquire(), each step a queued
// request of one endpoint's pool (Pool::acquire_async), so a waiter costs no thread.
#include <mutex>
#include <utility>

#include "cluster_core.hpp"

namespace reservoir::cluster::detail {

namespace {
thread_local int gate_depth = 0;  // steps of acquire_async() this thread is inside
}

ClusterCore* AsyncGate::enter() noexcept {
  std::lock_guard g(mu_);
  if (closed_) return nullptr;
  ++busy_;
  ++gate_depth;
  return core_;
}

void AsyncGate::leave() noexcept {
  std::lock_guard g(mu_);
  --gate_depth;
  if (--busy_ == 0) cv_.notify_all();
}

void AsyncGate::close() noexcept {
  std::unique_lock l(mu_);
  closed_ = true;
  const std::size_t mine = static_cast<std::size_t>(gate_depth);
  cv_.wait(l, [&] { return busy_ <= mine; });
}

// One acquire_async() in flight. The pool's waiter holds it through its callback. It reaches
// the core through the gate only (never owning it) and holds the endpoint it waits on weakly.
struct AsyncPick : std::enable_shared_from_this<AsyncPick> {
  AsyncPick(ClusterCore& c, Deadline d, ClusterAcquireCallback cb, Intent i, SourceLocation w)
      : gate(c.gate()), name(c.config().name), deadline(d), callback(std::move(cb)), intent(i), where(w) {}

  // Starts the pool request of the next endpoint, or completes with the walk's error. Inside
  // the gate (`core` entered).
  void next(ClusterCore* core) {
    if (core->closed()) return finish(shut_down_error());
    auto e = core->next_endpoint(walk, {}, intent);
    if (!e) return finish(std::move(e).error());
    if (cancelled()) return finish(cancelled_error());
    auto self = shared_from_this();
    std::shared_ptr<Endpoint> endpoint = std::move(e).value();
    std::uint64_t attempt = 0;
    {
      std::lock_guard g(mu);
      attempt = ++attempts;
    }
    auto pending = endpoint->pool->acquire_async(
        deadline,
        [self, weak = std::weak_ptr<Endpoint>(endpoint), attempt](Result<Lease> r) {
          self->on_outcome(weak, std::move(r), attempt);
        },
        where);
    if (!pending) return step(core, endpoint, std::move(pending).error(), attempt);
    bool withdraw = false;
    {
      std::lock_guard g(mu);
      if (done || attempt != attempts || answered == attempt) return;  // its outcome came already
      current = std::move(pending).value();
      has_current = true;
      withdraw = cancel_requested;  // cancelled while this request was being queued
    }
    if (withdraw) (void)current_copy().cancel();
  }

  // An endpoint's pool answered, on whichever thread: one step inside the gate.
  void on_outcome(const std::weak_ptr<Endpoint>& weak_endpoint, Result<Lease> r, std::uint64_t attempt) {
    ClusterCore* core = gate->enter();
    auto endpoint = weak_endpoint.lock();
    if (core == nullptr || !endpoint) {
      if (core != nullptr) gate->leave();
      return finish(shut_down_error());  // a lease got meanwhile returns to its pool
    }
    step(core, endpoint, std::move(r), attempt);
    endpoint.reset();
    gate->leave();
  }

  void step(ClusterCore* core, const std::shared_ptr<Endpoint>& endpoint, Result<Lease> r, std::uint64_t attempt) {
    bool promised = false;  // cancel() said so while no request was queued: no lease then
    {
      std::lock_guard g(mu);
      answered = attempt;
      current = PendingAcquire();
      has_current = false;
      promised = cancel_promised;
    }
    if (promised) return finish(cancelled_error());  // a lease got meanwhile returns to its pool
    Endpoint& e = *endpoint;
    if (r && (!core->routed(intent) || core->admit(e, *r, intent, deadline, walk.fallback))) {
      core->count_fallback(walk);
      return finish(core->lease_of(std::move(r).value(), endpoint));
    }
    if (r) {
      core->passed_over(walk, e, intent);
      return next(core);
    }
    if (r.error().kind() == ErrorKind::cancelled) return finish(std::move(r).error());
    if (!core->failed_on(walk, e, std::move(r).error(), deadline)) return finish(std::move(*walk.last));
    if (cancelled()) return finish(cancelled_error());
    next(core);
  }

  void finish(Result<ClusterLease> outcome) noexcept {
    ClusterAcquireCallback cb;
    {
      std::lock_guard g(mu);
      if (done) return;
      done = true;
      cb = std::move(callback);
      current = PendingAcquire();
      has_current = false;
    }
    try {
      cb(std::move(outcome));
    } catch (...) {
      // As the pool does: the callback's exception is dropped (a lease it held returns).
    }
  }

  bool cancel() noexcept {
    PendingAcquire pending;
    {
      std::lock_guard g(mu);
      if (done) return false;
      cancel_requested = true;
      pending = current;
      if (!has_current) {  // between two endpoints: the walk stops at its next step
        cancel_promised = true;
        return true;
      }
    }
    return pending.cancel();
  }

  bool cancelled() {
    std::lock_guard g(mu);
    return cancel_requested;
  }
  PendingAcquire current_copy() {
    std::lock_guard g(mu);
    return current;
  }
  Error cancelled_error() const { return Error::make(ErrorKind::cancelled, name + ": acquire cancelled"); }
  Error shut_down_error() const { return Error::make(ErrorKind::shutting_down, name + ": cluster shut down"); }

  const std::shared_ptr<AsyncGate> gate;
  const std::string name;
  const Deadline deadline;
  ClusterAcquireCallback callback;
  const Intent intent;
  const SourceLocation where;
  ClusterCore::Walk walk;  // touched by one thread at a time: each step starts the next

  mutable std::mutex mu;
  PendingAcquire current;
  std::uint64_t attempts = 0;  // pool requests started
  std::uint64_t answered = 0;  // the last one whose outcome came
  bool has_current = false;
  bool cancel_requested = false;
  bool cancel_promised = false;
  bool done = false;
};

Result<PendingClusterAcquire> ClusterCore::acquire_async(Deadline deadline, ClusterAcquireCallback callback,
                                                         const Intent& intent, SourceLocation where) {
  if (!callback) return Error::make(ErrorKind::invalid_argument, config_.name + ": acquire_async: empty callback");
  if (routed(intent) && intent.access == Access::read) {
    return Error::make(ErrorKind::invalid_argument,
                       config_.name + ": acquire_async: a routed read may probe a replica (I/O): use acquire()");
  }
  auto op = std::make_shared<AsyncPick>(*this, deadline, std::move(callback), intent, where);
  ClusterCore* core = gate_->enter();
  if (core == nullptr) return Error::make(ErrorKind::shutting_down, config_.name + ": cluster shut down");
  op->next(core);
  gate_->leave();
  return PendingClusterAcquire(op);
}

ClusterLease ClusterCore::lease_of(Lease lease, std::shared_ptr<Endpoint> endpoint) {
  return ClusterLease(std::move(lease), shared_from_this(), std::move(endpoint));
}

}  // namespace reservoir::cluster::detail

namespace reservoir::cluster {

bool PendingClusterAcquire::cancel() noexcept { return op_ ? op_->cancel() : false; }

bool PendingClusterAcquire::done() const noexcept {
  if (!op_) return true;
  std::lock_guard g(op_->mu);
  return op_->done;
}

Result<PendingClusterAcquire> Cluster::acquire_async(Deadline deadline, ClusterAcquireCallback callback, Intent intent,
                                                     SourceLocation where) {
  return core_->acquire_async(deadline, std::move(callback), intent, where);
}

}  // namespace reservoir::cluster
