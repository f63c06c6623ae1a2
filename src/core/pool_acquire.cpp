// Acquire: the lock-free fast path, then the queue. A queued caller waits to be completed
// with a returned or freshly opened connection (whichever comes first), or an error; it never
// runs a connect itself.
#include <algorithm>
#include <string>
#include <thread>
#include <utility>

#include "pool_core.hpp"

namespace reservoir::detail {

constinit thread_local ThreadHint t_hint;

namespace {
std::int64_t ms_of(Duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }
}  // namespace

Slot* PoolCore::try_take_idle() noexcept {
  const std::size_t n = slots_.size();
  if (t_hint.core == this && t_hint.index < n) {
    Slot& s = slots_[t_hint.index];
    if (s.try_move(SlotState::idle, SlotState::leased)) return &s;
  }
  for (std::size_t i = 0; i < n; ++i) {
    Slot& s = slots_[i];
    if (s.state.load(std::memory_order_relaxed) == SlotState::idle && s.try_move(SlotState::idle, SlotState::leased)) {
      t_hint = {this, static_cast<std::uint32_t>(i)};
      return &s;
    }
  }
  return nullptr;
}

Lease PoolCore::make_lease(Slot& slot, SourceLocation where, std::int64_t now_ns) noexcept {
  slot.leased_at_ns.store(now_ns, std::memory_order_relaxed);
  slot.lease_file.store(where.file, std::memory_order_relaxed);
  slot.lease_line.store(where.line, std::memory_order_relaxed);
  if (slot.leak_reported.load(std::memory_order_relaxed)) slot.leak_reported.store(false, std::memory_order_relaxed);
  bump(slot.acquires);
  // Relaxed: a count only. One locked instruction on a line this slot's users share.
  in_use_shard(slot).leases.fetch_add(1, std::memory_order_relaxed);
  return Lease(this, &slot);
}

// Turns a taken idle slot into a lease, or retires it (expired, failed its check) and returns
// an invalid lease so the caller looks again. The check never runs past the caller's deadline
// (`deadline`, made from acquire_timeout on first need): with it gone, the slot goes back
// unchecked and the caller, seeing the deadline passed, stops looking.
Lease PoolCore::checkout(Slot& slot, SourceLocation where, std::optional<Deadline>& deadline, CheckDepth depth,
                         AcquireTrace* trace) {
  const std::int64_t now = coarse_ns();
  const std::int64_t expire = slot.expire_at_ns.load(std::memory_order_relaxed);
  if (expire != 0 && now >= expire) {
    retire(slot, CloseReason::lifetime);
    return {};
  }
  // Checked unless used within the bypass window, and then still checked if it was last
  // known good before a connect to the server failed: every session may have died with it.
  if (config_.validate_on_checkout &&
      (now - slot.last_used_ns.load(std::memory_order_relaxed) >= Duration(config_.validation_bypass).count() ||
       slot.last_checked_ns.load(std::memory_order_relaxed) < suspect_before_ns_.load(std::memory_order_relaxed))) {
    if (!deadline) deadline = Deadline::after(clock_, config_.acquire_timeout);
    const Deadline check_by = earliest(io_deadline(), *deadline);
    if (check_by.expired()) {
      make_idle(slot, false);  // unchecked and unused: back as it was, no reset, no lease ended
      return {};
    }
    health_checks_.fetch_add(1, std::memory_order_relaxed);
    const TimePoint check_start = trace ? clock_.now() : TimePoint{};
    Status st = connector_->check(*slot.conn, depth, check_by);
    if (trace) trace->check += clock_.now() - check_start;
    if (!st) {
      health_failures_.fetch_add(1, std::memory_order_relaxed);
      logger_->log(LogLevel::info, config_.name + ": checkout check failed, replacing connection: " + st.error().message());
      emit({.kind = PoolEventKind::check_failed, .error = &st.error()});
      retire(slot, CloseReason::health);
      return {};
    }
    slot.last_checked_ns.store(now, std::memory_order_relaxed);
  }
  return make_lease(slot, where, now);
}

namespace {
// A borrower that finds every connection taken first spins briefly: with threads > cores a
// holder usually returns its connection within tens of nanoseconds, and parking on the queue
// costs a futex round trip for both sides (and turns everyone's fast path off while queued).
constexpr int kSpinRelax = 16;
constexpr int kSpinYield = 8;

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}
}  // namespace

// While a caller spins for a return, returns leave the queued callers asleep (Go's sync.Mutex
// does the same with its mutexWoken flag): the spinner, already running, takes the connection,
// where a woken waiter mostly found it gone and slept again (reservoir-bench clients-10: 83% of
// wake-ups were futile, ~25,000 per 200,000 operations). A spinner that stops wakes a queued
// caller if a connection is still idle, so none is left idle behind sleeping callers: a return
// stores `idle` and then reads spinning_, a spinner lowers spinning_ and then looks at the
// slots (all seq_cst), so either the return saw no spinner and woke someone itself, or this
// look sees its slot idle (or taken since).
void PoolCore::stop_spinning() noexcept {
  spinning_.fetch_sub(1, std::memory_order_seq_cst);
  if (waiting_.load(std::memory_order_seq_cst) == 0) return;
  const std::size_t n = slots_.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (slots_[i].state.load(std::memory_order_seq_cst) == SlotState::idle) {
      std::lock_guard g(mu_);
      wake_one_locked();
      return;
    }
  }
}

bool PoolCore::front_waiter_starving(std::int64_t now_ns) const noexcept {
  const std::int64_t since = waiters_.front_since_ns();
  if (since == 0) return false;
  // The fast path passes the coarse clock, which may read behind the waiter's `since`.
  if (config_.queue_bypass.count() == 0) return true;
  return now_ns - since >= Duration(config_.queue_bypass).count();
}

Result<Lease> PoolCore::acquire(std::optional<Deadline> deadline, SourceLocation where, AcquirePhases* phases) {
  // Fast path: an idle connection is free. A waiter queued for longer than queue_bypass (Go's
  // sync.Mutex switches to strict handoff after the same default, 1 ms) is served by the
  // returns themselves (make_idle hands it the connection before it ever turns idle), so the
  // fast path need not stand aside for it: when it did, every running caller queued behind
  // the starving one and the pool stayed in strict FIFO, a context switch per lease, until
  // the queue drained, which with more threads than connections it rarely did. Taking a
  // returned connection ahead of the queue (HikariCP's borrow does it, Go's sync.Mutex in its
  // normal mode) keeps running threads running: handing every return to a parked thread
  // costs a context switch per operation once threads outnumber connections, and the
  // connection sits unused until that thread is scheduled.
  bool spinning = false;  // counted in spinning_ (see stop_spinning)
  for (int spin = 0; spin < kSpinRelax + kSpinYield; ++spin) {
    if (closing_.load(std::memory_order_relaxed)) break;
    if (Slot* s = try_take_idle()) {
      if (std::exchange(spinning, false)) stop_spinning();
      AcquireTrace trace;
      Lease lease = checkout(*s, where, deadline, config_.checkout_check, phases ? &trace : nullptr);
      if (phases) phases->check += trace.check;
      if (lease.valid()) return lease;
      if (deadline && deadline->expired()) break;
      continue;  // retired (expired or failed its check): look again
    }
    // Only worth waiting for a return if every connection is open and leased.
    if (open_.load(std::memory_order_relaxed) < max_size_.load(std::memory_order_relaxed)) break;
    if (!std::exchange(spinning, true)) spinning_.fetch_add(1, std::memory_order_seq_cst);
    if (spin < kSpinRelax) cpu_relax();
    else std::this_thread::yield();
  }
  if (spinning) stop_spinning();
  return acquire_slow(deadline ? *deadline : Deadline::after(clock_, config_.acquire_timeout), where, phases);
}

Result<Lease> PoolCore::acquire_slow(Deadline deadline, SourceLocation where, AcquirePhases* phases) {
  AcquireTrace trace{.start = clock_.now()};
  BlockingWaiter w;
  std::unique_lock lk(mu_);
  Result<Lease> result = wait_for_lease(lk, w, deadline, where, trace);
  if (lk.owns_lock()) lk.unlock();
  if (result) {
    queued_acquires_.fetch_add(1, std::memory_order_relaxed);
    note_acquired(trace, where, phases);
  } else {
    failed_acquires_.fetch_add(1, std::memory_order_relaxed);
    if (phases) {
      phases->connect += trace.connect;
      phases->check += trace.check;
      phases->queued += clock_.now() - trace.start - trace.connect - trace.check;
    }
  }
  return result;
}

// The slow path's loop, under `lk` (which it may leave unlocked on return).
Result<Lease> PoolCore::wait_for_lease(std::unique_lock<std::mutex>& lk, BlockingWaiter& w, Deadline deadline,
                                       SourceLocation where, AcquireTrace& trace) {
  // A queued caller looks for an idle connection once right after queueing, then only when a
  // return woke it: waking for any other reason (a recheck, a connect backoff ending) it does
  // not take a connection a return meant for an older waiter, so woken waiters are served in
  // queue order.
  bool may_look = true;
  for (;;) {
    if (w.handed != nullptr) {  // the completer took us off the queue
      Slot* slot = w.handed;
      if (slot->connected_at >= trace.start) {
        trace.connect = std::min(slot->connect_took, clock_.now() - trace.start - trace.check);
      }
      lk.unlock();
      return make_lease(*slot, where, coarse_ns());
    }
    if (w.failed) return *std::move(w.failed);
    if (closing_.load()) {
      leave_queue_locked(w);
      return reject(Error::make(ErrorKind::shutting_down, config_.name + ": pool is shutting down"));
    }
    // Right after queueing: a connection that turned idle as we queued is ours to take (the
    // release that made it idle may have looked at waiting_ before we raised it).
    Slot* taken = may_look || w.notified ? try_take_idle() : nullptr;
    may_look = false;
    if (taken != nullptr) {
      leave_queue_locked(w);
      lk.unlock();
      std::optional<Deadline> bound = deadline;
      if (Lease lease = checkout(*taken, where, bound, config_.checkout_check, &trace); lease.valid()) return lease;
      lk.lock();
      if (deadline.expired()) {  // the check used it up (or found it gone): stop looking
        timeouts_.fetch_add(1, std::memory_order_relaxed);
        return timeout_error_locked(trace.start);
      }
      continue;
    }
    if (deadline.expired()) {
      leave_queue_locked(w);
      timeouts_.fetch_add(1, std::memory_order_relaxed);
      return timeout_error_locked(trace.start);
    }
    if (!w.queued) {
      if (Status s = enqueue_locked(w); !s) return reject(std::move(s).error());
      may_look = true;
      continue;  // look for idle once more: see enqueue_locked
    }
    if (ConnectPlan plan = plan_connects_locked(false); !plan.empty()) {
      lk.unlock();
      Deliveries out;
      Status admitted = start_connects(plan, out);
      lk.lock();
      if (!admitted && !w.completed()) {
        // The gate refused (an open breaker): fail fast instead of waiting out the deadline.
        leave_queue_locked(w);
        lk.unlock();
        out.run();
        return std::move(admitted).error();
      }
      if (!out.empty()) {
        lk.unlock();
        out.run();
        lk.lock();
      }
      continue;
    }
    w.notified = false;  // under the lock: a return from now on may wake us again
    TimePoint wake = deadline.when();
    // Waiting out a connect backoff with capacity free: wake when it ends, to connect then.
    if (open_.load() < max_size_.load()) {
      const TimePoint at = connect_allowed_at_locked(true);
      if (at > clock_.now() && at < wake) wake = at;
    }
    clock_.wait_until(w.cv, lk, wake);
  }
}

Status PoolCore::enqueue_locked(Waiter& w) {
  if (waiters_.size() >= config_.max_waiters) {
    return Error::make(ErrorKind::exhausted,
                       config_.name + ": " + std::to_string(waiters_.size()) + " callers already waiting (max_waiters)");
  }
  w.since = clock_.now();
  waiters_.push_back(w);
  // Pairs with release(): it stores idle, then reads waiting_; we raise waiting_, then look
  // for idle again, so one of us sees the other.
  waiting_.fetch_add(1, std::memory_order_seq_cst);
  return {};
}

void PoolCore::leave_queue_locked(Waiter& w) noexcept {
  if (!w.queued) return;
  waiters_.remove(w);
  waiting_.fetch_sub(1, std::memory_order_seq_cst);
}

// The slow path's bookkeeping: its wait in the histogram (the fast path counts as zero), and
// the slow-acquire report.
void PoolCore::note_acquired(const AcquireTrace& trace, SourceLocation where, AcquirePhases* out) {
  const Duration took = clock_.now() - trace.start;
  acquire_wait_.record(took);
  const AcquirePhases phases{
      .queued = took - trace.connect - trace.check, .connect = trace.connect, .check = trace.check};
  if (out != nullptr) {
    out->queued += phases.queued;
    out->connect += phases.connect;
    out->check += phases.check;
  }
  if (config_.slow_acquire_threshold.count() == 0 || took < config_.slow_acquire_threshold) return;
  slow_reported_.fetch_add(1, std::memory_order_relaxed);
  if (out != nullptr) return;  // the caller reports the whole operation once
  logger_->log(LogLevel::info, config_.name + ": slow acquire: " + std::to_string(ms_of(took)) + " ms (queued " +
                                   std::to_string(ms_of(phases.queued)) + " ms, connect " +
                                   std::to_string(ms_of(phases.connect)) + " ms, check " +
                                   std::to_string(ms_of(phases.check)) + " ms) at " + where.file + ":" +
                                   std::to_string(where.line));
  emit({.kind = PoolEventKind::acquire_slow, .duration = took, .phases = phases, .where = where});
}

// Why nothing could be had in time. The cause's own kind when a connect failed (HikariCP's
// lesson: say why, not only that time ran out; a store lock's `busy` stays `busy`);
// `exhausted` only when every connection was in use; `timeout` otherwise (the deadline
// passed before anything could be tried, or while a connect was still in flight).
Error PoolCore::timeout_error_locked(TimePoint start) const {
  const std::size_t in_use = count_in(SlotState::leased);
  const std::size_t max = max_size_.load();
  const std::string counts = std::to_string(in_use) + "/" + std::to_string(max) + " in use, " +
                             std::to_string(waiters_.size()) + " waiting, waited " +
                             std::to_string(ms_of(clock_.now() - start)) + " ms";
  if (last_connect_error_ && consecutive_connect_failures_ > 0) {
    const Error& cause = *last_connect_error_;
    return Error(cause.kind(), cause.detail() + " (" + counts + ")", cause.retryable(), cause.code());
  }
  if (in_use >= max) return Error::make(ErrorKind::exhausted, counts);
  const std::size_t connecting = connecting_.load();
  return Error::make(ErrorKind::timeout, config_.name + ": no connection within the deadline (" + counts +
                                             (connecting ? ", " + std::to_string(connecting) + " connecting" : "") +
                                             ")");
}

Error PoolCore::reject(Error error) {
  rejected_.fetch_add(1, std::memory_order_relaxed);
  return error;
}

std::size_t PoolCore::count_in(SlotState state) const noexcept {
  std::size_t n = 0;
  const std::size_t size = slots_.size();
  for (std::size_t i = 0; i < size; ++i) {
    if (slots_[i].state.load(std::memory_order_relaxed) == state) ++n;
  }
  return n;
}

}  // namespace reservoir::detail
