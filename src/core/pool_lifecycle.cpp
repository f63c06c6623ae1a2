// Construction, initialization, shutdown, resize, stats.
#include <string>

#include "pool_core.hpp"
#include "release_mark.hpp"

namespace reservoir::detail {

PoolCore::PoolCore(std::shared_ptr<Connector> connector, PoolConfig config, PoolOptions options)
    : connector_(std::move(connector)),
      config_(std::move(config)),
      endpoint_(connector_->endpoint()),
      clock_(options.clock ? *options.clock : SteadyClock::instance()),
      logger_(options.logger ? std::move(options.logger) : stderr_logger()),
      gate_(options.connect_gate ? std::move(options.connect_gate) : OpenGate::instance()),
      gate_paces_(gate_->paces_connects()),
      listener_(std::move(options.listener)),
      want_maintainer_(options.start_maintainer),
      refused_backoff_(BackoffConfig{.initial = config_.connect_backoff_initial,
                                     .cap = std::max(config_.connect_backoff_initial,
                                                     std::min(config_.connect_backoff_refused_max,
                                                              config_.connect_backoff_max)),
                                     .jitter = Jitter::none}),
      timeout_backoff_(BackoffConfig{.initial = config_.connect_backoff_initial,
                                     .cap = config_.connect_backoff_max,
                                     .jitter = Jitter::none}),
      random_(options.seed != 0 ? Random(options.seed) : Random::from_os()),
      max_size_(config_.max_size) {
  slots_.grow_to(config_.max_size);
  register_for_fork(this);
}

PoolCore::~PoolCore() {
  // A lease returned while the Pool was destroyed may have made its slot idle (and lost it to
  // shutdown) a moment ago and still be reading the core: let it finish.
  wait_for_release_marks(this);
  reap_connect_threads();
  stop_maintainer();
  unregister_for_fork(this);
  // Whatever is still here was never leased out (orphan() keeps us alive otherwise).
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    if (s.conn) close_connection(s, CloseReason::shutdown);
  }
}

void PoolCore::emit(PoolEvent event) const noexcept {
  if (!listener_) return;
  event.pool = config_.name;
  event.endpoint = endpoint_;
  try {
    listener_->on_event(event);
  } catch (...) {
    // A listener's failure must not break the pool; it was told it may not throw.
  }
}

Status PoolCore::shutdown(Duration grace) {
  closing_.store(true, std::memory_order_seq_cst);
  stop_maintainer();
  const TimePoint until = clock_.now() + std::min<Duration>(grace, std::chrono::hours(24 * 365));
  {
    // Every queued caller hears it now; async callbacks run here, after the lock.
    Deliveries out;
    std::lock_guard g(mu_);
    while (Waiter* w = waiters_.front()) {
      leave_queue_locked(*w);
      rejected_.fetch_add(1, std::memory_order_relaxed);
      complete_locked(*w, nullptr, Error::make(ErrorKind::shutting_down, config_.name + ": pool is shutting down"), out);
    }
  }
  retire_idle(CloseReason::shutdown, SIZE_MAX);
  std::unique_lock lk(mu_);
  while (open_ > 0 && clock_.now() < until) clock_.wait_until(drained_cv_, lk, until);
  if (open_ == 0) return {};
  std::string sites;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    if (s.state.load() != SlotState::leased) continue;
    const char* file = s.lease_file.load();
    sites += sites.empty() ? "" : ", ";
    sites += std::string(file ? file : "?") + ":" + std::to_string(s.lease_line.load());
  }
  const std::string msg = config_.name + ": " + std::to_string(open_) +
                          " connection(s) still out after the grace period; they close when returned" +
                          (sites.empty() ? "" : " (acquired at " + sites + ")");
  lk.unlock();  // a slow logger must not stall returning leases
  logger_->log(LogLevel::warn, msg);
  return Error(ErrorKind::timeout, msg, false);
}

// Retires up to `limit` idle connections (reserving each first, so no borrower races us).
void PoolCore::retire_idle(CloseReason reason, std::size_t limit) {
  for (std::size_t i = 0; i < slots_.size() && limit > 0; ++i) {
    Slot& s = slots_[i];
    if (s.try_move(SlotState::idle, SlotState::reserved)) {
      retire(s, reason);
      --limit;
    }
  }
}

void PoolCore::orphan(std::shared_ptr<PoolCore> self) {
  std::lock_guard g(mu_);
  if (open_ > 0) self_ = std::move(self);
}

Status PoolCore::set_max_size(std::size_t max_size) {
  if (max_size < 1 || max_size > PoolConfig::kMaxPoolSize) {
    return Error::invalid_config("max_size", std::to_string(max_size),
                                 "must be in 1.." + std::to_string(PoolConfig::kMaxPoolSize));
  }
  if (max_size < config_.min_idle) {
    return Error::invalid_config("max_size", std::to_string(max_size),
                                 "must be >= min_idle (" + std::to_string(config_.min_idle) + ")");
  }
  std::size_t excess = 0;
  Deliveries out;
  ConnectPlan plan;
  {
    std::lock_guard g(mu_);
    slots_.grow_to(max_size);
    max_size_.store(max_size);
    if (open_ > max_size) {
      excess = open_ - max_size;
      over_capacity_.store(true);
    }
    // Growing: queued callers may now get connects.
    plan = plan_connects_locked(false);
  }
  if (!plan.empty()) (void)start_connects(plan, out);
  if (excess > 0) retire_idle(CloseReason::shrink, excess);
  return {};
}

PoolStats PoolCore::stats() const {
  PoolStats s;
  const SlotTable& slots = slots_;
  std::array<std::uint64_t, SingleWriterHistogram::kBuckets> use_counts{};
  std::uint64_t use_sum_ns = 0;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    const Slot& slot = slots[i];
    switch (slot.state.load(std::memory_order_relaxed)) {
      case SlotState::idle: ++s.idle; break;
      case SlotState::leased: ++s.in_use; break;
      case SlotState::connecting: ++s.connecting; break;
      case SlotState::reserved: ++s.idle; break;  // being checked by the maintainer
      case SlotState::empty: break;
    }
    s.acquires += slot.acquires.load(std::memory_order_relaxed);
    s.releases += slot.releases.load(std::memory_order_relaxed);
    slot.use_time.add_to(use_counts, use_sum_ns);
  }
  s.size = s.idle + s.in_use + s.connecting;
  s.waiting = waiting_.load();
  s.max_size = max_size_.load();
  s.timeouts = timeouts_.load();
  s.rejected = rejected_.load();
  s.failed_acquires = failed_acquires_.load();
  s.created = created_.load();
  s.failed_connects = failed_connects_.load();
  for (std::size_t r = 0; r < s.closed_by.size(); ++r) {
    s.closed_by[r] = closed_by_[r].load();
    s.closed += s.closed_by[r];
  }
  s.health_checks = health_checks_.load();
  s.health_failures = health_failures_.load();
  s.leaks_reported = leaks_reported_.load();
  s.slow_acquires = slow_reported_.load();
  const std::uint64_t queued = queued_acquires_.load();
  const std::uint64_t fast = s.acquires > queued ? s.acquires - queued : 0;
  s.acquire_wait = acquire_wait_.summary(fast);
  s.acquire_wait_buckets = acquire_wait_.buckets(default_latency_bounds(), fast);
  s.connect_time_buckets = connect_time_.buckets(default_latency_bounds());
  s.use_time_buckets = SingleWriterHistogram::to_buckets(use_counts, use_sum_ns);
  s.oldest_wait = oldest_wait();
  return s;
}

PoolLoad PoolCore::load() const noexcept {
  PoolLoad l;
  l.open = open_.load(std::memory_order_relaxed);
  l.connecting = connecting_.load(std::memory_order_relaxed);
  l.waiting = waiting_.load(std::memory_order_relaxed);
  l.max_size = max_size_.load(std::memory_order_relaxed);
  // A lease's end follows its start in each shard's order, so no shard is ever below zero.
  for (const InUseShard& shard : in_use_) {
    l.in_use += static_cast<std::size_t>(shard.leases.load(std::memory_order_relaxed));
  }
  l.oldest_wait = oldest_wait();
  return l;
}

Duration PoolCore::oldest_wait() const noexcept {
  const std::int64_t since = waiters_.front_since_ns();
  if (since == 0) return Duration::zero();
  const Duration age = clock_.now() - TimePoint(Duration(since));
  return age > Duration::zero() ? age : Duration::zero();
}

}  // namespace reservoir::detail
