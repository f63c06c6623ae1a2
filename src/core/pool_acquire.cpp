// Acquire: the lock-free fast path, then the queue (FIFO handoff) and connects.
#include <string>
#include <thread>

#include "pool_core.hpp"

namespace reservoir::detail {

namespace {
// The slot this thread returned last, per pool (HikariCP's thread-local list, one entry):
// a loop of acquire/release on one thread finds its connection without scanning.
struct Hint {
  const PoolCore* core = nullptr;
  std::uint32_t index = 0;
};
thread_local Hint t_hint;
}  // namespace

void remember_for_this_thread(const PoolCore* core, std::uint32_t index) noexcept { t_hint = {core, index}; }

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
  return Lease(this, &slot);
}

// Turns a taken slot into a lease, or retires it (expired, failed its check) and returns an
// invalid lease so the caller looks again. The check never runs past the caller's deadline
// (`deadline`, made from acquire_timeout on first need): with it gone, the slot goes back
// unchecked and the caller, seeing the deadline passed, stops looking.
Lease PoolCore::checkout(Slot& slot, SourceLocation where, std::optional<Deadline>& deadline) {
  const std::int64_t now = coarse_ns();
  const std::int64_t expire = slot.expire_at_ns.load(std::memory_order_relaxed);
  if (expire != 0 && now >= expire) {
    retire(slot, CloseReason::lifetime);
    return {};
  }
  if (config_.validate_on_checkout &&
      now - slot.last_used_ns.load(std::memory_order_relaxed) >= Duration(config_.validation_bypass).count()) {
    if (!deadline) deadline = Deadline::after(clock_, config_.acquire_timeout);
    const Deadline check_by = earliest(io_deadline(), *deadline);
    if (check_by.expired()) {
      make_idle(slot);  // unchecked and unused: back as it was, no reset
      return {};
    }
    health_checks_.fetch_add(1, std::memory_order_relaxed);
    if (Status st = connector_->check(*slot.conn, config_.checkout_check, check_by); !st) {
      health_failures_.fetch_add(1, std::memory_order_relaxed);
      logger_->log(LogLevel::info, config_.name + ": checkout check failed, replacing connection: " + st.error().message());
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

Result<Lease> PoolCore::acquire(std::optional<Deadline> deadline, SourceLocation where) {
  // Fast path: nobody queues (FIFO stays fair) and an idle connection is free.
  for (int spin = 0; spin < kSpinRelax + kSpinYield; ++spin) {
    if (waiting_.load(std::memory_order_seq_cst) != 0 || closing_.load(std::memory_order_relaxed)) break;
    if (Slot* s = try_take_idle()) {
      if (Lease lease = checkout(*s, where, deadline); lease.valid()) return lease;
      if (deadline && deadline->expired()) break;
      continue;  // retired (expired or failed its check): look again
    }
    // Only worth waiting for a return if every connection is open and leased.
    if (open_.load(std::memory_order_relaxed) < max_size_.load(std::memory_order_relaxed)) break;
    if (spin < kSpinRelax) cpu_relax();
    else std::this_thread::yield();
  }
  return acquire_slow(deadline ? *deadline : Deadline::after(clock_, config_.acquire_timeout), where);
}

Result<Lease> PoolCore::acquire_slow(Deadline deadline, SourceLocation where) {
  const TimePoint start = clock_.now();
  std::unique_lock lk(mu_);
  Result<Lease> result = wait_or_connect(lk, deadline, where, start);
  if (lk.owns_lock()) lk.unlock();
  if (result) {
    slow_acquires_.fetch_add(1, std::memory_order_relaxed);
    acquire_wait_.record(clock_.now() - start);
  } else {
    failed_acquires_.fetch_add(1, std::memory_order_relaxed);
  }
  return result;
}

Result<Lease> PoolCore::wait_or_connect(std::unique_lock<std::mutex>& lk, Deadline deadline, SourceLocation where,
                                        TimePoint start) {
  Waiter w;
  bool queued = false;
  auto leave_queue = [&] {
    if (queued && waiters_.contains(w)) {
      waiters_.remove(w);
      waiting_.fetch_sub(1, std::memory_order_seq_cst);
    }
    queued = false;
  };
  for (;;) {
    Slot* taken = w.handed;
    w.handed = nullptr;
    if (taken != nullptr) queued = false;  // the hander dequeued us
    if (taken == nullptr && closing_.load()) {
      leave_queue();
      return reject(Error::make(ErrorKind::shutting_down, config_.name + ": pool is shutting down"));
    }
    if (taken == nullptr) taken = try_take_idle();
    if (taken != nullptr) {
      leave_queue();
      lk.unlock();
      std::optional<Deadline> bound = deadline;
      if (Lease lease = checkout(*taken, where, bound); lease.valid()) return lease;
      lk.lock();
      if (deadline.expired()) {
        timeouts_.fetch_add(1, std::memory_order_relaxed);
        return timeout_error_locked(start);
      }
      continue;
    }
    if (deadline.expired()) {
      leave_queue();
      timeouts_.fetch_add(1, std::memory_order_relaxed);
      return timeout_error_locked(start);
    }
    if (can_connect_locked()) {
      leave_queue();
      Result<Slot*> fresh = connect_slot(lk, deadline);
      if (!fresh) return std::move(fresh).error();
      lk.unlock();
      return make_lease(*fresh.value(), where, coarse_ns());
    }
    if (!queued) {
      if (waiters_.size() >= config_.max_waiters) {
        return reject(Error::make(ErrorKind::exhausted, config_.name + ": " + std::to_string(waiters_.size()) +
                                                            " callers already waiting (max_waiters)"));
      }
      waiters_.push_back(w);
      queued = true;
      // Pairs with release(): it stores idle, then reads waiting_; we raise waiting_, then look
      // for idle again (the next loop pass), so one of us sees the other.
      waiting_.fetch_add(1, std::memory_order_seq_cst);
      continue;
    }
    TimePoint wake = deadline.when();
    // In a connect backoff with capacity free: wake when it ends, to connect then.
    if (!gate_ && open_ < max_size_.load() && next_connect_at_ < wake && next_connect_at_ > clock_.now()) {
      wake = next_connect_at_;
    }
    clock_.wait_until(w.cv, lk, wake);
  }
}

bool PoolCore::can_connect_locked() const noexcept {
  if (open_ >= max_size_.load(std::memory_order_relaxed)) return false;
  if (connecting_ >= config_.max_concurrent_connects) return false;
  // With a gate (circuit breaker) the gate decides when to try again; otherwise our own backoff.
  return gate_ != nullptr || clock_.now() >= next_connect_at_;
}

Slot* PoolCore::reserve_slot_locked() {
  const std::size_t n = slots_.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (slots_[i].try_move(SlotState::empty, SlotState::connecting)) return &slots_[i];
  }
  if (!slots_.grow_to(n + 1)) return nullptr;
  Slot& s = slots_[n];
  s.state.store(SlotState::connecting, std::memory_order_relaxed);
  return &s;
}

// Connects outside the lock into a reserved slot; returns with `lk` locked and the slot leased.
Result<Slot*> PoolCore::connect_slot(std::unique_lock<std::mutex>& lk, Deadline deadline) {
  Slot* slot = reserve_slot_locked();
  if (slot == nullptr) return Error::make(ErrorKind::exhausted, config_.name + ": slot table full");
  ++open_;
  ++connecting_;
  lk.unlock();
  Status admitted = gate_ ? gate_->allow_connect() : Status{};
  Result<std::unique_ptr<Connection>> conn =
      admitted ? connector_->connect(deadline.capped(config_.connect_timeout)) : Result<std::unique_ptr<Connection>>(admitted.error());
  if (gate_ && admitted) {
    if (conn) gate_->connect_succeeded();
    else gate_->connect_failed(conn.error());
  }
  if (conn) {
    const std::int64_t now = coarse_ns();
    slot->conn = std::move(conn).value();
    slot->uses = 0;
    slot->discard = false;
    slot->forked = false;
    slot->last_used_ns.store(now, std::memory_order_relaxed);
    slot->last_checked_ns.store(now, std::memory_order_relaxed);
    lk.lock();
    set_expiry(*slot, now);
    --connecting_;
    consecutive_connect_failures_ = 0;
    created_.fetch_add(1, std::memory_order_relaxed);
    slot->state.store(SlotState::leased, std::memory_order_release);
    return slot;
  }
  lk.lock();
  --connecting_;
  --open_;
  slot->state.store(SlotState::empty, std::memory_order_release);
  note_connect_failure_locked(conn.error(), admitted.ok());
  on_slot_emptied_locked();
  return std::move(conn).error();
}

void PoolCore::set_expiry(Slot& slot, std::int64_t now_ns) noexcept {
  if (config_.max_lifetime.count() == 0) {
    slot.expire_at_ns.store(0, std::memory_order_relaxed);
    return;
  }
  // Up to lifetime_jitter of the lifetime comes off at random, so connections opened together
  // are not all retired together (HikariCP uses 2.5%).
  const auto lifetime = static_cast<double>(Duration(config_.max_lifetime).count());
  const double unit = static_cast<double>(next_random_locked() >> 11) * 0x1.0p-53;
  const auto jitter = static_cast<std::int64_t>(lifetime * config_.lifetime_jitter * unit);
  slot.expire_at_ns.store(now_ns + static_cast<std::int64_t>(lifetime) - jitter, std::memory_order_relaxed);
}

// A gate's refusal is not a failed connect, but it still pushes the next attempt back so the
// maintainer does not spin while a breaker is open.
void PoolCore::note_connect_failure_locked(const Error& error, bool attempted) {
  if (attempted) {
    failed_connects_.fetch_add(1, std::memory_order_relaxed);
    last_connect_error_ = error;
  }
  ++consecutive_connect_failures_;
  const auto shift = std::min<std::uint32_t>(consecutive_connect_failures_ - 1, 20);
  const auto backoff = std::min<Duration>(Duration(config_.connect_backoff_initial) * (1ll << shift),
                                          Duration(config_.connect_backoff_max));
  next_connect_at_ = clock_.now() + backoff;
}

Error PoolCore::timeout_error_locked(TimePoint start) const {
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now() - start).count();
  const std::size_t in_use = count_in(SlotState::leased);
  const std::string counts = std::to_string(in_use) + "/" + std::to_string(max_size_.load()) + " in use, " +
                             std::to_string(waiters_.size()) + " waiting, waited " + std::to_string(waited) + " ms";
  if (last_connect_error_ && consecutive_connect_failures_ > 0) {
    // HikariCP's lesson: say why nothing could be had, not only that time ran out.
    return Error(ErrorKind::unavailable, last_connect_error_->detail() + " (" + counts + ")", true,
                 last_connect_error_->code());
  }
  return Error::make(ErrorKind::exhausted, counts);
}

Error PoolCore::reject(Error error) {
  rejected_.fetch_add(1, std::memory_order_relaxed);
  return error;
}

std::uint64_t PoolCore::next_random_locked() noexcept {
  // splitmix64: tiny, seedable, good enough for jitter.
  std::uint64_t z = (rng_state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
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
