// Release: reset, retire or return to the pool; handoff to the oldest waiter.
#include <string>
#include <utility>

#include "pool_core.hpp"
#include "release_mark.hpp"

namespace reservoir::detail {

std::optional<CloseReason> PoolCore::retire_reason(Slot& slot, std::int64_t now_ns) const noexcept {
  if (slot.forked) return CloseReason::broken;
  if (config_.max_uses != 0 && slot.uses >= config_.max_uses) return CloseReason::uses;
  const std::int64_t expire = slot.expire_at_ns.load(std::memory_order_relaxed);
  if (expire != 0 && now_ns >= expire) return CloseReason::lifetime;
  return std::nullopt;
}

bool PoolCore::needs_attention() const noexcept {
  return closing_.load(std::memory_order_seq_cst) || over_capacity_.load(std::memory_order_relaxed);
}

// One read of the coarse clock serves the whole return (a second read after the reset cost a
// virtual call and a vDSO read, ~4 ns of the ~60 ns single-thread cycle): the connection
// counts as last used when it came back, not when its reset ended, so it is checked, idled
// out or found expired at most one reset's time early, and an expiry that falls inside the
// reset is found at the next checkout.
void PoolCore::release(Slot& slot) noexcept {
  const TimePoint returned = clock_.now_coarse();
  const std::int64_t now = returned.time_since_epoch().count();
  note_use_time(slot, now);
  ++slot.uses;
  bool broken = slot.discard || slot.forked || connector_->is_broken(*slot.conn);
  if (!broken) {
    // Session state never outlives a lease: reset runs on every return.
    const Status reset = connector_->reset(*slot.conn, Deadline::at(clock_, returned + config_.io_timeout));
    broken = !reset.ok();
  }
  const auto reason = broken ? std::optional(CloseReason::broken) : retire_reason(slot, now);
  if (reason) {
    count_lease_ended(slot);
    return retire(slot, *reason);
  }
  slot.last_used_ns.store(now, std::memory_order_relaxed);
  remember_for_this_thread(this, slot.index);
  make_idle(slot, true);
}

// A lease ends (returned, retired, detached or handed on). Relaxed: the count only. A slot
// inherited across fork() left the count at fork time (forget_parent_connections_locked).
void PoolCore::count_lease_ended(const Slot& slot) noexcept {
  if (!slot.forked) in_use_shard(slot).leases.fetch_sub(1, std::memory_order_relaxed);
}

// Puts an owned slot back in the pool; a waiter, a shutdown or a shrink may take it from there.
void PoolCore::make_idle(Slot& slot, bool lease_ended) noexcept {
  // Once the slot is idle, a concurrent ~Pool may retire it and drop the last reference to
  // the core while this thread still reads waiting_ below: the mark makes ~PoolCore wait.
  set_release_mark(this);
  if (waiting_.load(std::memory_order_seq_cst) > 0 && front_waiter_starving(coarse_ns()) &&
      hand_to_starving(slot, lease_ended)) {
    return;
  }
  if (lease_ended) count_lease_ended(slot);
  // seq_cst: pairs with the waiter's fetch_add on waiting_ (see enqueue_locked) and with
  // shutdown's store to closing_; also publishes the mark above to whoever takes the slot.
  slot.state.store(SlotState::idle, std::memory_order_seq_cst);
  if (waiting_.load(std::memory_order_seq_cst) > 0 || needs_attention()) {
    if (release_slow(slot)) return;  // it cleared the mark itself
  }
  clear_release_mark();
}

// The front waiter has queued past queue_bypass: it gets this return without the slot ever
// turning idle, so no running caller can take it first. False: nobody to hand it to (or the
// pool is closing or shrinking), the caller makes it idle as usual. Clears the release mark
// when it returns true.
bool PoolCore::hand_to_starving(Slot& slot, bool lease_ended) {
  Deliveries out;
  {
    std::lock_guard g(mu_);
    if (closing_.load() || over_capacity_.load()) return false;
    if (!hand_to_front_locked(slot, out)) return false;
    if (lease_ended) count_lease_ended(slot);  // the waiter's lease is counted in make_lease
  }
  clear_release_mark();
  out.run();
  return true;
}

// The slot is already idle; a waiter, a shutdown or a shrink may want it. Returns true when it
// has already cleared this thread's release mark: before retiring the slot (which may destroy
// an orphaned core on this very thread, and the connector's close may return leases), or
// before running an async waiter's callback (user code, which may return leases too).
bool PoolCore::release_slow(Slot& slot) {
  Deliveries out;
  std::unique_lock lk(mu_);
  const bool shrink = over_capacity_.load() && open_ > max_size_.load();
  if (closing_.load() || shrink) {
    if (!slot.try_move(SlotState::idle, SlotState::reserved)) return false;  // someone took it already
    lk.unlock();
    const CloseReason reason = closing_.load() ? CloseReason::shutdown : CloseReason::shrink;
    // We own the slot now and it still counts in open_, so the core outlives the retire.
    clear_release_mark();
    retire(slot, reason);
    return true;
  }
  if (Waiter* front = waiters_.front(); front != nullptr) {
    // An async waiter has no thread to compete with, and a starving one has waited enough:
    // those are handed the connection. Otherwise a blocking waiter is woken to take it if no
    // running caller took it first (see acquire()), and not even woken while a caller spins.
    if (front->kind == Waiter::Kind::async || front_waiter_starving(clock_.now().time_since_epoch().count())) {
      if (slot.try_move(SlotState::idle, SlotState::leased)) hand_to_front_locked(slot, out);
    } else if (spinning_.load(std::memory_order_seq_cst) == 0) {
      wake_one_locked();  // else a spinner takes it (see stop_spinning)
    }
  }
  if (out.empty()) return false;
  lk.unlock();
  // A lease handed to a callback keeps the core alive (its slot counts in open_): the mark
  // can go before user code runs.
  clear_release_mark();
  out.run();
  return true;
}

// Gives an owned slot back: straight to the oldest waiter (FIFO, where Go picks at random), or
// to the idle set.
void PoolCore::put_locked(Slot& slot, Deliveries& out) noexcept {
  slot.state.store(SlotState::leased, std::memory_order_release);
  if (hand_to_front_locked(slot, out)) return;
  slot.state.store(SlotState::idle, std::memory_order_seq_cst);
}

void PoolCore::wake_one_locked() noexcept {
  for (Waiter* w = waiters_.front(); w != nullptr; w = w->next) {
    if (w->kind != Waiter::Kind::blocking) continue;
    auto& b = static_cast<BlockingWaiter&>(*w);
    if (b.notified) continue;
    b.notified = true;
    b.cv.notify_one();
    return;
  }
}

bool PoolCore::hand_to_front_locked(Slot& slot, Deliveries& out) noexcept {
  Waiter* w = waiters_.front();
  if (w == nullptr) return false;
  waiters_.remove(*w);
  waiting_.fetch_sub(1, std::memory_order_seq_cst);
  complete_locked(*w, &slot, std::nullopt, out);
  return true;
}

// `w` is off the queue. A blocking waiter is told under the lock (its thread builds the lease);
// an async one gets its lease built now and its callback run from `out` after the lock.
void PoolCore::complete_locked(Waiter& w, Slot* slot, std::optional<Error> error, Deliveries& out) noexcept {
  if (w.kind == Waiter::Kind::blocking) {
    auto& b = static_cast<BlockingWaiter&>(w);
    b.handed = slot;
    if (error) b.failed = std::move(error);
    b.cv.notify_one();
    return;
  }
  auto& a = static_cast<AsyncWaiter&>(w);
  if (slot != nullptr) {
    a.handed = true;
    if (slot->connected_at >= a.since) a.connect = std::min(slot->connect_took, clock_.now() - a.since);
    out.add(a, make_lease(*slot, a.where, coarse_ns()), clock_, logger_);
  } else {
    failed_acquires_.fetch_add(1, std::memory_order_relaxed);
    out.add(a, std::move(*error), clock_, logger_);
  }
}

void PoolCore::close_connection(Slot& slot, CloseReason reason) noexcept {
  std::unique_ptr<Connection> conn = std::move(slot.conn);
  if (conn) {
    // A connection inherited across fork() belongs to the parent's session: never speak on it.
    if (slot.forked) connector_->abandon(std::move(conn));
    else connector_->close(std::move(conn), io_deadline());
  }
  closed_by_[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  emit({.kind = PoolEventKind::connection_closed, .reason = reason});
}

// Closes an owned slot's connection (outside the lock) and frees its capacity.
void PoolCore::retire(Slot& slot, CloseReason reason) noexcept {
  close_connection(slot, reason);
  free_slot(slot);
}

// The lease ends here: counted and timed by its holder (single writer, no locked instruction).
void PoolCore::note_use_time(Slot& slot, std::int64_t now_ns) noexcept {
  bump(slot.releases);
  slot.use_time.record(now_ns - slot.leased_at_ns.load(std::memory_order_relaxed));
}

std::unique_ptr<Connection> PoolCore::detach(Slot& slot) noexcept {
  note_use_time(slot, coarse_ns());
  count_lease_ended(slot);
  std::unique_ptr<Connection> conn = std::move(slot.conn);
  free_slot(slot);
  return conn;
}

// Gives an owned slot's capacity back; queued callers may now get a connect. May destroy
// `this` (an orphaned core whose last lease just came back): callers touch nothing after it.
void PoolCore::free_slot(Slot& slot) noexcept {
  const bool forked = std::exchange(slot.forked, false);
  std::shared_ptr<PoolCore> last;  // declared first: destroyed after the lock is released
  Deliveries out;                  // run after the lock, before `last` goes
  ConnectPlan plan;
  {
    std::lock_guard g(mu_);
    slot.state.store(SlotState::empty, std::memory_order_release);
    if (!forked) open_.fetch_sub(1);  // forked slots left the accounting at fork time
    on_slot_emptied_locked();
    if (waiters_.size() > 0) plan = plan_connects_locked(false);
    if (self_ && open_ == 0) last = std::move(self_);
  }
  // Planned slots count in open_, so `last` is empty whenever there is a plan to start.
  if (!plan.empty()) (void)start_connects(plan, out);
}

void PoolCore::on_slot_emptied_locked() noexcept {
  if (over_capacity_.load() && open_ <= max_size_.load()) over_capacity_.store(false);
  drained_cv_.notify_all();
  maintainer_cv_.notify_one();
}

}  // namespace reservoir::detail
