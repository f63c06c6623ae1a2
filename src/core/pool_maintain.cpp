// The maintainer: retire expired and idle connections, keepalive checks, leak reports,
// refill to min_idle. It works out when it next needs to wake (Go's connectionCleaner)
// instead of polling, and waits on the injected clock.
#include <algorithm>
#include <string>

#include "pool_core.hpp"

namespace reservoir::detail {

namespace {
constexpr Duration kMaxSleep = std::chrono::hours(1);

std::int64_t ns(milliseconds ms) { return Duration(ms).count(); }
}  // namespace

void PoolCore::start_maintainer() {
  if (want_maintainer_) maintainer_ = std::thread([this] { maintainer_loop(); });
}

// Once per pool; concurrent callers (two shutdown() calls) return only after the one join:
// joining the thread from both made the second join wait forever on a thread already gone.
void PoolCore::stop_maintainer() {
  std::call_once(maintainer_stopped_, [this] {
    {
      std::lock_guard g(mu_);
      maintainer_stop_ = true;
      maintainer_cv_.notify_all();
    }
    if (maintainer_.joinable() && maintainer_.get_id() != std::this_thread::get_id()) maintainer_.join();
  });
}

void PoolCore::maintainer_loop() {
  std::unique_lock lk(mu_);
  while (!maintainer_stop_) {
    const TimePoint next = next_maintenance_locked();
    if (clock_.now() < next) {
      clock_.wait_until(maintainer_cv_, lk, next);
      continue;
    }
    lk.unlock();
    run_maintenance();
    lk.lock();
  }
}

TimePoint PoolCore::next_maintenance_locked() const {
  const TimePoint now = clock_.now();
  const auto coarse_offset = now.time_since_epoch().count() - coarse_ns();  // coarse lags precise
  // Connections opened by borrowers after this computation have deadlines no earlier than
  // now + the shortest enabled interval: never sleep past that.
  Duration cap = kMaxSleep;
  for (milliseconds interval : {config_.keepalive_interval, config_.idle_timeout, config_.leak_detection_threshold,
                                config_.max_lifetime}) {
    if (interval.count() != 0) cap = std::min<Duration>(cap, interval);
  }
  TimePoint next = now + cap;
  auto consider = [&](std::int64_t coarse_at) { next = std::min(next, TimePoint(Duration(coarse_at + coarse_offset))); };
  const std::size_t idle = count_in(SlotState::idle);
  if (idle + connecting_ < config_.min_idle && open_ < max_size_.load() &&
      connecting_ < config_.max_concurrent_connects && !closing_.load()) {
    next = std::min(next, std::max(now, refill_connect_at_));
  }
  const SlotTable& slots = slots_;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    Slot& s = slots[i];
    const SlotState st = s.state.load(std::memory_order_relaxed);
    if (st == SlotState::idle) {
      if (auto e = s.expire_at_ns.load(std::memory_order_relaxed); e != 0) consider(e);
      const std::int64_t used = s.last_used_ns.load(std::memory_order_relaxed);
      if (config_.idle_timeout.count() != 0 && idle > config_.min_idle) consider(used + ns(config_.idle_timeout));
      if (config_.keepalive_interval.count() != 0) {
        consider(std::max(used, s.last_checked_ns.load(std::memory_order_relaxed)) + ns(config_.keepalive_interval));
      }
    } else if (st == SlotState::leased && config_.leak_detection_threshold.count() != 0 &&
               !s.leak_reported.load(std::memory_order_relaxed)) {
      consider(s.leased_at_ns.load(std::memory_order_relaxed) + ns(config_.leak_detection_threshold));
    }
  }
  return next;
}

void PoolCore::run_maintenance() {
  if (closing_.load()) return;
  const std::int64_t now = coarse_ns();
  const std::size_t idle = count_in(SlotState::idle);
  std::size_t idle_above_min = idle > config_.min_idle ? idle - config_.min_idle : 0;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    if (s.try_move(SlotState::idle, SlotState::reserved)) check_idle_slot(s, now, idle_above_min);
  }
  report_leaks(now);
  refill_min_idle();
}

std::size_t PoolCore::retire_connections(Duration window) {
  std::size_t marked = 0;
  {
    std::lock_guard g(mu_);  // for random_; no I/O here
    const std::int64_t now = coarse_ns();
    const auto spread = static_cast<double>(std::max<Duration>(window, Duration::zero()).count());
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      Slot& s = slots_[i];
      const SlotState st = s.state.load(std::memory_order_acquire);
      if (st != SlotState::idle && st != SlotState::leased && st != SlotState::reserved) continue;
      const std::int64_t at = now + static_cast<std::int64_t>(spread * random_.uniform());
      // Only ever sooner: a slot reused meanwhile by a newer connection at worst retires early.
      std::int64_t cur = s.expire_at_ns.load(std::memory_order_relaxed);
      while ((cur == 0 || cur > at) && !s.expire_at_ns.compare_exchange_weak(cur, at, std::memory_order_relaxed)) {
      }
      ++marked;
    }
  }
  maintainer_cv_.notify_all();  // its sleep was computed from the old expiries
  return marked;
}

// The slot is reserved (ours): retire it, check it, or give it back.
void PoolCore::check_idle_slot(Slot& slot, std::int64_t now, std::size_t& idle_above_min) {
  const std::int64_t used = slot.last_used_ns.load(std::memory_order_relaxed);
  const std::int64_t expire = slot.expire_at_ns.load(std::memory_order_relaxed);
  auto retire_counted = [&](CloseReason reason) {
    if (idle_above_min > 0) --idle_above_min;
    retire(slot, reason);
  };
  if (slot.forked) return retire_counted(CloseReason::broken);
  if (expire != 0 && now >= expire) return retire_counted(CloseReason::lifetime);
  if (over_capacity_.load()) return retire_counted(CloseReason::shrink);
  if (config_.idle_timeout.count() != 0 && idle_above_min > 0 && now - used >= ns(config_.idle_timeout)) {
    return retire_counted(CloseReason::idle);
  }
  const std::int64_t checked = std::max(used, slot.last_checked_ns.load(std::memory_order_relaxed));
  if (config_.keepalive_interval.count() != 0 && now - checked >= ns(config_.keepalive_interval)) {
    health_checks_.fetch_add(1, std::memory_order_relaxed);
    if (Status st = connector_->check(*slot.conn, config_.keepalive_check, io_deadline()); !st) {
      health_failures_.fetch_add(1, std::memory_order_relaxed);
      logger_->log(LogLevel::info, config_.name + ": keepalive check failed, replacing connection: " + st.error().message());
      emit({.kind = PoolEventKind::check_failed, .error = &st.error()});
      return retire_counted(CloseReason::health);
    }
    slot.last_checked_ns.store(now, std::memory_order_relaxed);
  }
  Deliveries out;
  std::lock_guard g(mu_);
  put_locked(slot, out);
}

void PoolCore::report_leaks(std::int64_t now) {
  if (config_.leak_detection_threshold.count() == 0) return;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    if (s.state.load(std::memory_order_relaxed) != SlotState::leased) continue;
    const std::int64_t held = now - s.leased_at_ns.load(std::memory_order_relaxed);
    if (held < ns(config_.leak_detection_threshold) || s.leak_reported.exchange(true)) continue;
    leaks_reported_.fetch_add(1, std::memory_order_relaxed);
    const char* file = s.lease_file.load(std::memory_order_relaxed);
    const unsigned line = s.lease_line.load(std::memory_order_relaxed);
    logger_->log(LogLevel::warn, config_.name + ": possible connection leak: lease held " +
                                     std::to_string(held / 1'000'000) + " ms, acquired at " +
                                     (file ? file : "?") + ":" + std::to_string(line));
    emit({.kind = PoolEventKind::leak_suspected, .duration = Duration(held), .where = {file ? file : "?", line}});
  }
}

// Tops idle connections up to min_idle on connect threads (bounded like every connect by
// max_concurrent_connects and the backoff); the maintainer never blocks in a connect.
void PoolCore::refill_min_idle() {
  Deliveries out;
  ConnectPlan plan;
  {
    std::lock_guard g(mu_);
    plan = plan_connects_locked(true);
  }
  if (!plan.empty()) (void)start_connects(plan, out);
}

}  // namespace reservoir::detail
