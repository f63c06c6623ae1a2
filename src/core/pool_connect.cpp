// Connects: run for the pool on connect threads, never on a borrower's. Their result goes to
// the oldest waiter, like a returned connection (Go's connRequest; HikariCP's adder thread),
// so a borrower is served by whichever comes first and never sits in a connect it triggered.
#include <algorithm>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "pool_core.hpp"
#include "release_mark.hpp"

namespace reservoir::detail {

namespace {
thread_local const PoolCore* t_connecting_for = nullptr;  // this thread is a connect thread of

}  // namespace

// How many connects to start now, reserving their capacity. Demand is the callers queued (and,
// for the maintainer's `refill`, the idle connections missing below min_idle), less the
// connects already in flight; capacity, max_concurrent_connects and the backoff bound it. While callers are being served by returns
// (the oldest has waited less than a connect takes) one connect in flight is enough: a spike
// of short leases is served by the connections it has, not by a connect per caller.
ConnectPlan PoolCore::plan_connects_locked(bool refill) {
  ConnectPlan plan;
  if (closing_.load()) return plan;
  const bool demand = waiters_.size() > 0;
  const std::size_t idle = refill ? count_in(SlotState::idle) : 0;
  const std::size_t deficit = refill && config_.min_idle > idle ? config_.min_idle - idle : 0;
  const std::size_t wanted = waiters_.size() + deficit;
  std::size_t in_flight = connecting_.load();
  if (wanted <= in_flight || clock_.now() < connect_allowed_at_locked(demand)) return plan;
  std::size_t limit = config_.max_concurrent_connects;
  if (demand && connect_time_ewma_.count() > 0 && clock_.now() - waiters_.front()->since < connect_time_ewma_) {
    limit = 1;
  }
  const std::size_t max = max_size_.load();
  while (plan.count < ConnectPlan::kMax && in_flight < limit && in_flight < wanted && open_.load() < max) {
    Slot* slot = reserve_connect_slot_locked();
    if (slot == nullptr) break;
    ++in_flight;
    plan.slots[plan.count++] = slot;
  }
  return plan;
}

// An empty slot (or a new one) moved to `connecting` and counted in open_ and connecting_;
// null when the slot table is full. give_back_locked() undoes it.
Slot* PoolCore::reserve_connect_slot_locked() noexcept {
  Slot* slot = nullptr;
  const std::size_t n = slots_.size();
  for (std::size_t i = 0; i < n && slot == nullptr; ++i) {
    if (slots_[i].try_move(SlotState::empty, SlotState::connecting)) slot = &slots_[i];
  }
  if (slot == nullptr) {
    if (!slots_.grow_to(n + 1)) return nullptr;
    slot = &slots_[n];
    slot->state.store(SlotState::connecting, std::memory_order_relaxed);
  }
  open_.fetch_add(1);
  connecting_.fetch_add(1);
  return slot;
}

void PoolCore::give_back_locked(Slot& slot) noexcept {
  connecting_.fetch_sub(1);
  open_.fetch_sub(1);
  slot.state.store(SlotState::empty, std::memory_order_release);
  on_slot_emptied_locked();
}

// Admits each planned connect from `first` on through the gate and starts its thread. On a
// refusal the rest of the plan is given back and the refusal returned (a borrower fails fast
// with it).
Status PoolCore::start_connects(ConnectPlan& plan, Deliveries& out, std::size_t first) {
  for (std::size_t i = first; i < plan.count; ++i) {
    Result<GateTicket> ticket = gate_->admit();
    if (!ticket) {
      std::lock_guard g(mu_);
      for (std::size_t j = i; j < plan.count; ++j) give_back_locked(*plan.slots[j]);
      connect_failed_locked(ticket.error(), false, out);
      return std::move(ticket).error();
    }
    spawn_connect(*plan.slots[i], std::move(ticket).value());
  }
  plan.count = 0;
  return {};
}

// The thread is created under mu_ and registered in connect_threads_ in the same step, so it
// is there before it can end (ending needs mu_); creating a thread is no I/O. It holds a
// reference to the core, so the core is never destroyed under a running connect thread: if a
// callback on it drops the last other reference, ~PoolCore runs at this thread's very end.
void PoolCore::spawn_connect(Slot& slot, GateTicket ticket) {
  try {
    std::lock_guard g(mu_);
    connect_threads_.reserve(connect_threads_.size() + 1);
    connect_threads_.emplace_back([core = shared_from_this(), s = &slot, t = std::move(ticket)]() mutable {
      core->connect_thread(s, std::move(t));
      core->end_connect_thread();
      core.reset();  // the last touch: may destroy the core, on this thread (see ~PoolCore)
    });
  } catch (const std::exception& e) {
    // No thread to be had: connect here instead (a borrower waits, but nothing is lost).
    logger_->log(LogLevel::warn, config_.name + ": cannot start a connect thread: " + e.what());
    connect_thread(&slot, GateTicket{});
  }
}

void PoolCore::connect_thread(Slot* slot, GateTicket ticket) noexcept {
  const PoolCore* const outer = std::exchange(t_connecting_for, this);
  Deliveries out;
  while (slot != nullptr) {
    slot = connect_one(*slot, std::move(ticket), out);
    out.run();
    if (slot == nullptr) break;
    Result<GateTicket> next = gate_->admit();
    if (!next) {
      std::lock_guard g(mu_);
      give_back_locked(*slot);
      connect_failed_locked(next.error(), false, out);
      slot = nullptr;
    } else {
      ticket = std::move(next).value();
    }
  }
  out.run();
  t_connecting_for = outer;
}

// A connect thread is done with the pool: its std::thread becomes the one ended thread left
// to join, and the one left before it (past its last touch of the core, at most exiting) is
// joined here, outside the lock. So at most one ended connect thread is ever unjoined, with no
// reaper and no allocation. Not found: this is a fork child, whose lists were emptied.
void PoolCore::end_connect_thread() noexcept {
  std::thread previous;
  {
    std::lock_guard g(mu_);
    const auto me = std::find_if(connect_threads_.begin(), connect_threads_.end(),
                                 [](const std::thread& t) { return t.get_id() == std::this_thread::get_id(); });
    if (me != connect_threads_.end()) {
      previous = std::exchange(ended_connect_thread_, std::move(*me));
      *me = std::move(connect_threads_.back());
      connect_threads_.pop_back();
    }
    if (connect_threads_.empty()) connects_done_cv_.notify_all();
  }
  if (previous.joinable()) previous.join();
}

Result<std::unique_ptr<Connection>> PoolCore::open_connection(GateTicket& ticket, Duration& took) noexcept {
  const TimePoint start = clock_.now();
  // The pool's own bound, never a caller's: a caller's short deadline says nothing about the
  // server, and a connect cut short by it would count as a failure against the server.
  Result<std::unique_ptr<Connection>> conn = connector_->connect(Deadline::after(clock_, config_.connect_timeout));
  took = clock_.now() - start;
  connect_time_.record(took);
  if (conn) ticket.succeeded();
  else ticket.failed(conn.error());
  return conn;
}

Slot* PoolCore::connect_one(Slot& slot, GateTicket ticket, Deliveries& out) noexcept {
  Duration took{0};
  Result<std::unique_ptr<Connection>> conn = open_connection(ticket, took);
  if (conn) {
    emit({.kind = PoolEventKind::connection_created, .duration = took});
  } else {
    logger_->log(LogLevel::info, config_.name + ": connect failed: " + conn.error().message());
    emit({.kind = PoolEventKind::connect_failed, .duration = took, .error = &conn.error()});
  }
  std::unique_lock lk(mu_);
  note_connect_time_locked(took);
  if (!conn) {
    give_back_locked(slot);
    connect_failed_locked(conn.error(), true, out);
  } else if (closing_.load()) {
    connecting_.fetch_sub(1);
    slot.conn = std::move(conn).value();
    slot.state.store(SlotState::reserved, std::memory_order_relaxed);
    lk.unlock();
    created_.fetch_add(1, std::memory_order_relaxed);
    retire(slot, CloseReason::shutdown);
    return nullptr;
  } else {
    connected_locked(slot, std::move(conn).value(), took, out);
  }
  ConnectPlan next = plan_connects_locked(true);
  lk.unlock();
  // This thread takes the first planned connect; any others get threads of their own.
  Slot* mine = next.count > 0 ? next.slots[0] : nullptr;
  (void)start_connects(next, out, 1);
  return mine;
}

void PoolCore::connected_locked(Slot& slot, std::unique_ptr<Connection> conn, Duration took, Deliveries& out) {
  const std::int64_t now = coarse_ns();
  slot.conn = std::move(conn);
  slot.connected_at = clock_.now();
  slot.connect_took = took;
  slot.uses = 0;
  slot.discard = false;
  slot.forked = false;
  slot.last_used_ns.store(now, std::memory_order_relaxed);
  slot.last_checked_ns.store(now, std::memory_order_relaxed);
  set_expiry(slot, now);
  connecting_.fetch_sub(1);
  created_.fetch_add(1, std::memory_order_relaxed);
  // The server answers again: whatever backoff the outage built up is over at once.
  consecutive_connect_failures_ = 0;
  demand_connect_at_ = refill_connect_at_ = TimePoint{};
  refused_backoff_.reset();
  timeout_backoff_.reset();
  put_locked(slot, out);
}

// A failed connect (`attempted`), or a gate's refusal. A refusal costs the server nothing and
// the gate paces its own probes, so callers may ask again at once; only the min_idle refill
// backs off, so the maintainer does not spin while a breaker is open.
void PoolCore::connect_failed_locked(const Error& error, bool attempted, Deliveries& out) {
  const TimePoint now = clock_.now();
  const Duration slow = timeout_backoff_.next(random_);
  refill_connect_at_ = now + slow;
  if (attempted) {
    failed_connects_.fetch_add(1, std::memory_order_relaxed);
    last_connect_error_ = error;
    suspect_before_ns_.store(coarse_ns() + 1, std::memory_order_relaxed);
    ++consecutive_connect_failures_;
    // A timeout may mean a blackholed host: every retry costs a whole connect_timeout.
    demand_connect_at_ = now + (error.kind() == ErrorKind::timeout ? slow : refused_backoff_.next(random_));
  }
  fail_waiters_locked(error, attempted, out);
}

// A failed connect owes its error to one queued caller, the oldest (Go's putConnDBLocked(nil,
// err)): that caller learns why now, not at its deadline. A gate's refusal owes nobody (the
// borrower that asked hears it itself). Either way, with no connect in flight and no
// connection leased, nothing can reach the others before the next connect, so all hear it.
void PoolCore::fail_waiters_locked(const Error& error, bool owe_one, Deliveries& out) {
  const bool stranded = connecting_.load() == 0 && count_in(SlotState::leased) == 0;
  if (!stranded && !owe_one) return;
  while (Waiter* w = waiters_.front()) {
    leave_queue_locked(*w);
    complete_locked(*w, nullptr, error, out);
    if (!stranded) break;
  }
}

TimePoint PoolCore::connect_allowed_at_locked(bool demand) const noexcept {
  if (!demand) return refill_connect_at_;
  return gate_paces_ ? TimePoint{} : demand_connect_at_;
}

void PoolCore::set_expiry(Slot& slot, std::int64_t now_ns) noexcept {
  if (config_.max_lifetime.count() == 0) {
    slot.expire_at_ns.store(0, std::memory_order_relaxed);
    return;
  }
  // Up to lifetime_jitter of the lifetime comes off at random, so connections opened together
  // are not all retired together (HikariCP uses 2.5%).
  const auto lifetime = static_cast<double>(Duration(config_.max_lifetime).count());
  const auto jitter = static_cast<std::int64_t>(lifetime * config_.lifetime_jitter * random_.uniform());
  slot.expire_at_ns.store(now_ns + static_cast<std::int64_t>(lifetime) - jitter, std::memory_order_relaxed);
}

void PoolCore::note_connect_time_locked(Duration took) noexcept {
  connect_time_ewma_ = connect_time_ewma_.count() == 0 ? took : (connect_time_ewma_ * 7 + took) / 8;
}

// ~Pool and a failed create(): when this returns, every connect thread has ended and been
// joined (its thread-exit handlers, OpenSSL's among them, have run), so a test's main() may
// return right after. Each join is bounded: a connect ends within connect_timeout. On one of
// the pool's own connect threads (a callback there drops the pool) it returns at once: that
// thread cannot join itself, nor wait on the others from inside their callbacks; their
// references keep the core alive and ~PoolCore joins them.
void PoolCore::join_connect_threads() noexcept {
  if (t_connecting_for == this) return;
  std::thread last;
  {
    std::unique_lock lk(mu_);
    connects_done_cv_.wait(lk, [&] { return connect_threads_.empty(); });
    last = std::move(ended_connect_thread_);
  }
  if (last.joinable()) last.join();
}

// In ~PoolCore: no connect thread holds a reference any more, so each has ended its work. The
// one left to join may be the thread running this destructor (it dropped the last reference):
// a thread cannot join itself, so that one, and only that one, is detached.
void PoolCore::reap_connect_threads() noexcept {
  std::thread last = std::move(ended_connect_thread_);
  if (!last.joinable()) return;
  if (last.get_id() == std::this_thread::get_id()) last.detach();
  else last.join();
}

// init_mode fail_fast / wait: connects before create() returns, up to max_concurrent_connects
// at once (the caller's thread and helpers it joins), so `wait` takes about one connect time,
// not min_idle of them.
Status PoolCore::initialize() {
  InitRun run;
  if (config_.init_mode == InitMode::fail_fast) run.wanted = 1;
  if (config_.init_mode == InitMode::wait) run.wanted = config_.min_idle;
  if (run.wanted == 0) return {};
  const std::size_t workers = std::min(run.wanted, std::max<std::size_t>(config_.max_concurrent_connects, 1));
  std::vector<std::thread> helpers;
  for (std::size_t i = 1; i < workers; ++i) {
    try {
      helpers.emplace_back([this, &run] { init_connects(run); });
    } catch (const std::system_error&) {
      break;  // no thread to be had: fewer at once, the same connections in the end
    }
  }
  init_connects(run);
  for (auto& t : helpers) t.join();
  if (run.error) return *std::move(run.error);
  return {};
}

// One initializer's loop: connects until `run` has all it wants or one connect failed.
void PoolCore::init_connects(InitRun& run) {
  for (;;) {
    Slot* slot = nullptr;
    {
      std::lock_guard g(mu_);
      if (run.error || run.started == run.wanted) return;
      slot = reserve_connect_slot_locked();
      if (slot == nullptr) return;
      ++run.started;
    }
    Deliveries out;
    Result<GateTicket> ticket = gate_->admit();
    if (!ticket) {
      std::lock_guard g(mu_);
      give_back_locked(*slot);
      if (!run.error) run.error = std::move(ticket).error();
      return;
    }
    Duration took{0};
    Result<std::unique_ptr<Connection>> conn = open_connection(ticket.value(), took);
    std::unique_lock lk(mu_);
    note_connect_time_locked(took);
    if (!conn) {
      give_back_locked(*slot);
      connect_failed_locked(conn.error(), true, out);
      if (!run.error) run.error = std::move(conn).error();
    } else {
      connected_locked(*slot, std::move(conn).value(), took, out);
    }
    lk.unlock();
    out.run();
  }
}

}  // namespace reservoir::detail
