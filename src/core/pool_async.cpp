// acquire_async: the same queue as acquire(), with a callback instead of a parked thread.
// Deadlines are clock timers (Clock::call_at), so queued requests cost no thread each.
#include <exception>
#include <string>

#include "pool_core.hpp"

namespace reservoir::detail {

namespace {
void finish_timer(AsyncWaiter& w, const Clock& clock) noexcept {
  const TimerId id = w.timer.exchange(AsyncWaiter::kTimerDone);
  if (id != AsyncWaiter::kNoTimer && id != AsyncWaiter::kTimerDone) (void)clock.cancel(id);
}
}  // namespace

void deliver_now(AsyncWaiter& w, Result<Lease> outcome, const Clock& clock, Logger& log) noexcept {
  finish_timer(w, clock);
  AcquireCallback callback = std::move(w.callback);
  w.done.store(true, std::memory_order_release);
  try {
    callback(std::move(outcome));
  } catch (const std::exception& e) {
    log.log(LogLevel::error, std::string("acquire_async callback threw (dropped): ") + e.what());
  } catch (...) {
    log.log(LogLevel::error, "acquire_async callback threw a non-exception (dropped)");
  }
}

namespace {
thread_local Deliveries* t_running = nullptr;  // the outermost run() on this thread
}  // namespace

void Deliveries::add(AsyncWaiter& w, Result<Lease> outcome, const Clock& clock,
                     const std::shared_ptr<Logger>& log) noexcept {
  w.outcome.emplace(std::move(outcome));
  w.clock = &clock;
  w.log = log;
  w.next_delivery = nullptr;
  if (tail_ != nullptr) tail_->next_delivery = &w;
  else head_ = &w;
  tail_ = &w;
}

void Deliveries::append(Deliveries& other) noexcept {
  if (other.head_ == nullptr) return;
  if (tail_ != nullptr) tail_->next_delivery = other.head_;
  else head_ = other.head_;
  tail_ = other.tail_;
  other.head_ = other.tail_ = nullptr;
}

void Deliveries::run() noexcept {
  if (head_ == nullptr) return;
  if (t_running != nullptr) {  // inside a callback: the outer loop delivers these next
    t_running->append(*this);
    return;
  }
  t_running = this;
  while (AsyncWaiter* w = head_) {
    head_ = w->next_delivery;
    if (head_ == nullptr) tail_ = nullptr;
    std::shared_ptr<AsyncWaiter> keep = std::move(w->self);  // the queue's reference, now ours
    std::shared_ptr<Logger> log = std::move(w->log);
    Result<Lease> outcome = std::move(*w->outcome);
    w->outcome.reset();
    if (w->handed) {
      if (auto core = w->core.lock()) core->note_handed(*w);  // alive: the lease holds it
    }
    deliver_now(*w, std::move(outcome), *w->clock, *log);
  }
  t_running = nullptr;
}

Result<PendingAcquire> PoolCore::acquire_async(Deadline deadline, AcquireCallback callback, SourceLocation where) {
  if (!callback) return Error::make(ErrorKind::invalid_argument, config_.name + ": acquire_async needs a callback");
  auto w = std::make_shared<AsyncWaiter>();
  w->callback = std::move(callback);
  w->where = where;
  w->core = weak_from_this();
  PendingAcquire handle(w);

  // Fast path, as acquire(): an idle connection and nobody queued. The check stays `fast`:
  // a round trip here would block the caller.
  std::optional<Deadline> bound = deadline;
  while (waiting_.load(std::memory_order_seq_cst) == 0 && !closing_.load(std::memory_order_relaxed)) {
    Slot* s = try_take_idle();
    if (s == nullptr) break;
    if (Lease lease = checkout(*s, where, bound, CheckDepth::fast, nullptr); lease.valid()) {
      deliver_now(*w, std::move(lease), clock_, *logger_);
      return handle;
    }
  }

  Deliveries out;
  ConnectPlan plan;
  std::optional<Error> failed;
  {
    std::unique_lock lk(mu_);
    if (closing_.load()) {
      failed = reject(Error::make(ErrorKind::shutting_down, config_.name + ": pool is shutting down"));
    } else if (Slot* taken = try_take_idle()) {
      // Became idle meanwhile; checked without a round trip, as above. Expired: give up the
      // slot and queue (the retire frees capacity for a connect).
      lk.unlock();
      if (Lease lease = checkout(*taken, where, bound, CheckDepth::fast, nullptr); lease.valid()) {
        deliver_now(*w, std::move(lease), clock_, *logger_);
        return handle;
      }
      lk.lock();
    }
    if (!failed && deadline.expired()) {
      timeouts_.fetch_add(1, std::memory_order_relaxed);
      failed = timeout_error_locked(clock_.now());
    } else if (!failed && !closing_.load()) {
      if (Status s = enqueue_locked(*w); !s) {
        failed = reject(std::move(s).error());
      } else {
        w->self = w;
        // A return that made a slot idle after the look above may have read waiting_ before we
        // raised it (see make_idle): that slot goes to the front waiter now, as the return's
        // slow path would have given it.
        if (Slot* idle = try_take_idle()) (void)hand_to_front_locked(*idle, out);
        plan = plan_connects_locked(false);
      }
    } else if (!failed) {
      failed = reject(Error::make(ErrorKind::shutting_down, config_.name + ": pool is shutting down"));
    }
  }
  if (failed) {
    failed_acquires_.fetch_add(1, std::memory_order_relaxed);
    deliver_now(*w, std::move(*failed), clock_, *logger_);
    return handle;
  }
  arm_timer(w, deadline);
  if (!plan.empty()) {
    if (Status admitted = start_connects(plan, out); !admitted) {
      std::unique_lock lk(mu_);
      if (w->queued) {  // refused by the gate: fail fast, as acquire() does
        leave_queue_locked(*w);
        failed_acquires_.fetch_add(1, std::memory_order_relaxed);
        out.add(*w, std::move(admitted).error(), clock_, logger_);
      }
    }
  }
  return handle;
}

void PoolCore::note_handed(const AsyncWaiter& w) noexcept {
  queued_acquires_.fetch_add(1, std::memory_order_relaxed);
  try {
    note_acquired(AcquireTrace{.start = w.since, .connect = w.connect}, w.where, nullptr);
  } catch (...) {  // a report that could not be built (out of memory) never stops a delivery
  }
}

void PoolCore::arm_timer(const std::shared_ptr<AsyncWaiter>& w, Deadline deadline) {
  if (deadline.when() == TimePoint::max()) return;
  std::weak_ptr<PoolCore> core = w->core;
  const TimerId id = clock_.call_at(deadline.when(), [core, w] {
    if (auto c = core.lock()) c->expire(*w);
  });
  // Completed before the timer was even set: cancel it (finish_timer saw no id to cancel).
  if (w->timer.exchange(id) == AsyncWaiter::kTimerDone) (void)clock_.cancel(id);
}

// The waiter's deadline passed: if it is still queued, it times out now (on the timer thread).
void PoolCore::expire(AsyncWaiter& w) noexcept {
  Deliveries out;
  std::lock_guard g(mu_);
  if (!w.queued) return;  // completed at this very moment: it keeps what it was given
  leave_queue_locked(w);
  timeouts_.fetch_add(1, std::memory_order_relaxed);
  failed_acquires_.fetch_add(1, std::memory_order_relaxed);
  out.add(w, timeout_error_locked(w.since), clock_, logger_);
}

bool PoolCore::cancel(AsyncWaiter& w) noexcept {
  Deliveries out;
  std::lock_guard g(mu_);
  if (!w.queued) return false;
  leave_queue_locked(w);
  failed_acquires_.fetch_add(1, std::memory_order_relaxed);
  out.add(w, Error::make(ErrorKind::cancelled, config_.name + ": acquire cancelled by the caller"), clock_, logger_);
  return true;
}

}  // namespace reservoir::detail

namespace reservoir {

bool PendingAcquire::cancel() noexcept {
  if (!waiter_) return false;
  auto core = waiter_->core.lock();
  return core && core->cancel(*waiter_);
}

bool PendingAcquire::done() const noexcept { return waiter_ && waiter_->done.load(std::memory_order_acquire); }

}  // namespace reservoir
