// Tenants::acquire_async(): a permit request queued like a blocked caller's, its deadline a
// clock timer, then the source's own acquire_async. No thread per waiter.
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "tenant/core.hpp"

namespace reservoir::tenant::detail {

// One acquire_async() in flight. While it waits for a permit its Request is in the tenant's
// queue and holds it (Request::async); once granted, the source's callback holds it.
struct AsyncRequest {
  AsyncRequest(std::shared_ptr<TenantsCore> c, TenantState& s, Deadline d, TenantCallback cb,
               std::shared_ptr<const SourceRequest> req)
      : core(std::move(c)), tenant(s), deadline(d), callback(std::move(cb)), request(std::move(req)) {}

  // Runs the callback once; the timer goes.
  void complete(Result<TenantLease> outcome) noexcept {
    TenantCallback cb;
    TimerId id = 0;
    {
      std::lock_guard g(mu);
      if (done) return;
      done = true;
      cb = std::move(callback);
      id = std::exchange(timer, 0);
      source_cancel = nullptr;
    }
    if (id != 0) (void)core->clock_of().cancel(id);
    try {
      cb(std::move(outcome));
    } catch (...) {
      // As the pool does: the callback's exception is dropped (a lease it held returns).
    }
  }

  const std::shared_ptr<TenantsCore> core;
  TenantState& tenant;  // never evicted while it queues or holds a permit
  const Deadline deadline;
  TenantCallback callback;
  const std::shared_ptr<const SourceRequest> request;
  Request r;  // under the core's lock

  mutable std::mutex mu;
  TimerId timer = 0;
  SourceCancel source_cancel;  // once at the source
  bool cancel_requested = false;
  bool done = false;
};

Result<PendingTenantAcquire> TenantsCore::acquire_async(std::string_view tenant, Deadline deadline,
                                                        TenantCallback callback,
                                                        std::shared_ptr<const SourceRequest> request) {
  if (!callback) return Error::make(ErrorKind::invalid_argument, "acquire_async: empty callback");
  if (tenant.empty()) return Error::make(ErrorKind::invalid_argument, "tenant id is empty");
  if (options_.setup) {
    return Error::make(ErrorKind::invalid_argument,
                       "acquire_async: a tenant setup does I/O on the completing thread: use acquire()");
  }
  Lock lock(mu_);
  const TimePoint now = clock_.now();
  maybe_evict_locked(now);
  TenantState& t = find_or_create_locked(tenant, now);
  auto op = std::make_shared<AsyncRequest>(shared_from_this(), t, deadline, std::move(callback), std::move(request));
  Admission admitted = admit_locked(t, deadline, now);
  if (admitted.refused) {
    lock.unlock();
    op->complete(std::move(*admitted.refused));
    return PendingTenantAcquire(op);
  }
  if (admitted.granted) {
    lock.unlock();
    start_source(op);
    return PendingTenantAcquire(op);
  }
  op->r.async = op;
  enqueue_locked(t, op->r, now);
  Ready ready = take_ready_locked();
  lock.unlock();
  run_ready(std::move(ready));
  // The deadline, armed outside every lock (a due timer may run at once, here).
  const TimerId id = clock_.call_at(deadline.when(), [weak = std::weak_ptr<AsyncRequest>(op)] {
    if (auto o = weak.lock()) o->core->expire(*o);
  });
  bool finished = false;
  {
    std::lock_guard g(op->mu);
    finished = op->done;
    if (!finished) op->timer = id;
  }
  if (finished) (void)clock_.cancel(id);
  return PendingTenantAcquire(op);
}

namespace {
// The requests this thread is completing, while it is. A callback that drops its lease at once
// releases the permit, which grants the next waiter, whose source may deliver at once on this
// thread: run inline, a thousand such waiters would nest a thousand calls deep (a stack
// overflow). Requests made ready meanwhile join the outermost call's list instead: the pool's
// Deliveries::run() does the same for its own waiters, but a pool that has a connection idle
// delivers at once, outside it, which is the step that re-enters here.
thread_local std::vector<std::shared_ptr<AsyncRequest>>* t_running = nullptr;
}  // namespace

void TenantsCore::run_ready(Ready ready) noexcept {
  if (t_running != nullptr) {
    for (auto& op : ready) t_running->push_back(std::move(op));
    return;
  }
  t_running = &ready;
  for (std::size_t i = 0; i < ready.size(); ++i) {
    const std::shared_ptr<AsyncRequest> op = ready[i];  // a copy: the list may grow meanwhile
    if (op->r.state == Request::State::granted) {
      start_source(op);
    } else {
      op->complete(std::move(*op->r.error));
    }
  }
  t_running = nullptr;
}

// With a permit held: the source's lease, asynchronously. A source that fails gives the
// permit back to the next waiter.
void TenantsCore::start_source(const std::shared_ptr<AsyncRequest>& op) noexcept {
  auto pending = source_->acquire_async(op->deadline, op->request,
                                        [op](Result<SourceLease> lease) { op->core->source_done(op, std::move(lease)); });
  if (!pending) return source_done(op, std::move(pending).error());
  SourceCancel withdraw;
  {
    std::lock_guard g(op->mu);
    if (op->done) return;
    op->source_cancel = std::move(pending).value();
    if (op->cancel_requested) withdraw = op->source_cancel;  // cancelled on its way to the source
  }
  if (withdraw) (void)withdraw();
}

void TenantsCore::source_done(const std::shared_ptr<AsyncRequest>& op, Result<SourceLease> lease) noexcept {
  TenantState& t = op->tenant;
  if (lease) return op->complete(TenantLease(shared_from_this(), &t, std::move(lease).value(), clock_.now()));
  Ready ready;
  {
    Lock lock(mu_);
    const TimePoint now = clock_.now();
    if (lease.error().kind() == ErrorKind::cancelled) {  // withdrawn by its caller: no failure
      give_back_permit_locked(t, now);
      dispatch_locked(now);
    } else {
      failed_locked(t, now);
    }
    ready = take_ready_locked();
  }
  run_ready(std::move(ready));
  op->complete(std::move(lease).error());
}

void TenantsCore::expire(AsyncRequest& op) noexcept {
  std::shared_ptr<AsyncRequest> keep;
  std::optional<Error> error;
  {
    Lock lock(mu_);
    if (op.r.state != Request::State::waiting) return;  // granted or refused meanwhile
    op.r.state = Request::State::refused;
    keep = std::move(op.r.async);
    error = timed_out_locked(op.tenant, op.r, clock_.now());
  }
  op.complete(std::move(*error));
}

bool TenantsCore::cancel(AsyncRequest& op) noexcept {
  std::shared_ptr<AsyncRequest> keep;
  {
    Lock lock(mu_);
    if (op.r.state == Request::State::waiting) {
      TenantState& t = op.tenant;
      op.r.state = Request::State::refused;
      keep = std::move(op.r.async);
      t.queue.remove(op.r);
      --waiting_;
      if (t.queue.empty() && t.in_ring) ring_remove_locked(t);
      if (t.active == 0 && t.queue.empty()) t.idle_since = clock_.now();
    }
  }
  if (keep) {
    op.complete(Error::make(ErrorKind::cancelled, "tenant " + op.tenant.id + ": acquire cancelled"));
    return true;
  }
  SourceCancel at_source;
  {
    std::lock_guard g(op.mu);
    if (op.done) return false;
    at_source = op.source_cancel;
    if (!at_source) op.cancel_requested = true;  // withdrawn once the source has queued it
  }
  return at_source ? at_source() : false;
}

void TenantsCore::shutdown() noexcept {
  Ready ready;
  {
    Lock lock(mu_);
    for (auto& entry : tenants_) {
      TenantState& t = *entry.second;
      for (Request* r = t.queue.front(); r != nullptr;) {
        Request* next = r->next;
        if (r->async) {
          t.queue.remove(*r);
          --waiting_;
          r->state = Request::State::refused;
          r->error = Error::make(ErrorKind::shutting_down, "tenant " + t.id + ": the registry is shut down");
          ready.push_back(std::move(r->async));
        }
        r = next;
      }
      if (t.queue.empty() && t.in_ring) ring_remove_locked(t);
    }
  }
  run_ready(std::move(ready));
}

}  // namespace reservoir::tenant::detail

namespace reservoir::tenant {

bool PendingTenantAcquire::cancel() noexcept { return op_ ? op_->core->cancel(*op_) : false; }

bool PendingTenantAcquire::done() const noexcept {
  if (!op_) return true;
  std::lock_guard g(op_->mu);
  return op_->done;
}

Result<PendingTenantAcquire> Tenants::acquire_async(std::string_view tenant, Deadline deadline, TenantCallback callback,
                                                    std::shared_ptr<const SourceRequest> request) {
  return core_->acquire_async(tenant, deadline, std::move(callback), std::move(request));
}

}  // namespace reservoir::tenant
