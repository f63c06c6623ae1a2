// Private: PoolCore, the state behind a Pool handle and its leases.
//
// Locking: mu_ guards the accounting (open_, connecting_, waiters, connect backoff, the
// maintainer's schedule). Slots change state by CAS without it. No I/O and no user code ever
// runs under mu_: connect, check, reset and close happen after unlocking, and async callbacks
// run from a Deliveries batch after the lock is released.
//
// Decisions apart from I/O: the functions named `..._locked` change the accounting and
// return what to do next (a ConnectPlan of reserved capacity that must be used or given back,
// a Deliveries batch), and the caller carries it out after unlocking.
//
// Lifetime. A PoolCore is owned by shared_ptrs: the Pool handle's; once the handle is gone
// while connections are still leased or being opened, its own `self_` (orphan()); and each
// connect thread's, until that thread's last instruction. It is destroyed when the last of
// these goes: the handle's destructor (no lease out), the free_slot() that gives back the last
// open slot of an orphan, or the end of a connect thread on which a callback dropped the pool.
// Leases hold a raw pointer, safe because a leased slot counts in open_. Other threads may
// still be inside it at that moment, and each is waited for: a thread returning a lease holds
// a release mark (~PoolCore waits for marks); connect threads are joined by ~Pool
// (join_connect_threads) or else by ~PoolCore, which detaches only the thread it runs on; the
// maintainer is joined by shutdown. Async waiters hold only a weak_ptr.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "reservoir/backoff.hpp"
#include "reservoir/histogram.hpp"
#include "reservoir/pool.hpp"
#include "reservoir/random.hpp"
#include "slot_table.hpp"
#include "waiter.hpp"

namespace reservoir::detail {

// The slot this thread returned last, per pool (HikariCP's thread-local list, one entry):
// a loop of acquire/release on one thread finds its connection without scanning. constinit
// and inline: no TLS init-guard and no call on the hot path.
struct ThreadHint {
  const PoolCore* core = nullptr;
  std::uint32_t index = 0;
};
extern constinit thread_local ThreadHint t_hint;
inline void remember_for_this_thread(const PoolCore* core, std::uint32_t index) noexcept { t_hint = {core, index}; }
void register_for_fork(PoolCore* core);
void unregister_for_fork(PoolCore* core);

// Capacity reserved under mu_ for connects (bb8's Approval): each slot is `connecting` and
// counted in open_ and connecting_. Every reserved slot must be connected or given back.
struct ConnectPlan {
  static constexpr std::size_t kMax = 4;  // Envoy: at most a few new connections per trigger
  std::array<Slot*, kMax> slots{};
  std::size_t count = 0;
  bool empty() const noexcept { return count == 0; }
};

// What an acquire went through, for the slow-acquire report.
struct AcquireTrace {
  TimePoint start{};
  Duration connect{0};  // a connection opened during this acquire and handed to it
  Duration check{0};
};

class PoolCore : public std::enable_shared_from_this<PoolCore> {
 public:
  PoolCore(std::shared_ptr<Connector> connector, PoolConfig config, PoolOptions options);
  ~PoolCore();
  PoolCore(const PoolCore&) = delete;
  PoolCore& operator=(const PoolCore&) = delete;

  Status initialize();
  void start_maintainer();
  // With `phases`, fills it and leaves the slow-acquire report to the caller.
  Result<Lease> acquire(std::optional<Deadline> deadline, SourceLocation where, AcquirePhases* phases = nullptr);
  Result<PendingAcquire> acquire_async(Deadline deadline, AcquireCallback callback, SourceLocation where);
  // At the delivery of a lease an async waiter was handed from the queue (outside the lock):
  // its wait in the histogram and the slow-acquire report, with its phases.
  void note_handed(const AsyncWaiter& w) noexcept;
  bool cancel(AsyncWaiter& w) noexcept;
  void release(Slot& slot) noexcept;
  std::unique_ptr<Connection> detach(Slot& slot) noexcept;
  Status shutdown(Duration grace);
  // Blocks until every connect thread has ended and is joined (bounded by connect_timeout);
  // ~Pool calls it.
  void join_connect_threads() noexcept;
  Status set_max_size(std::size_t max_size);
  void run_maintenance();
  std::size_t retire_connections(Duration window);
  PoolStats stats() const;
  PoolLoad load() const noexcept;
  Duration oldest_wait() const noexcept;  // lock-free: the front waiter's queue time
  // The Pool handle is gone: stay alive (through `self`) until the last lease returns.
  void orphan(std::shared_ptr<PoolCore> self);

  const PoolConfig& config() const noexcept { return config_; }
  Connector& connector() const noexcept { return *connector_; }
  Logger& logger() const noexcept { return *logger_; }
  void report(PoolEvent event) const noexcept { emit(event); }
  const Clock& clock() const noexcept { return clock_; }

  // Called in a child process after fork() (see fork_guard.cpp), with mu_ held.
  void forget_parent_connections_locked();
  std::mutex& mutex() noexcept { return mu_; }

 private:
  // acquire (pool_acquire.cpp)
  Slot* try_take_idle() noexcept;
  Lease checkout(Slot& slot, SourceLocation where, std::optional<Deadline>& deadline, CheckDepth depth,
                 AcquireTrace* trace);
  Result<Lease> acquire_slow(Deadline deadline, SourceLocation where, AcquirePhases* phases);
  Result<Lease> wait_for_lease(std::unique_lock<std::mutex>& lk, BlockingWaiter& w, Deadline deadline,
                               SourceLocation where, AcquireTrace& trace);
  void leave_queue_locked(Waiter& w) noexcept;
  Status enqueue_locked(Waiter& w);
  Error timeout_error_locked(TimePoint start) const;
  Error reject(Error error);
  Lease make_lease(Slot& slot, SourceLocation where, std::int64_t now_ns) noexcept;
  void note_acquired(const AcquireTrace& trace, SourceLocation where, AcquirePhases* phases);

  // async (pool_async.cpp)
  void expire(AsyncWaiter& w) noexcept;
  void arm_timer(const std::shared_ptr<AsyncWaiter>& w, Deadline deadline);

  // connects (pool_connect.cpp)
  ConnectPlan plan_connects_locked(bool refill);
  struct InitRun {
    std::size_t wanted = 0;
    std::size_t started = 0;     // under mu_
    std::optional<Error> error;  // under mu_: the first connect that failed
  };
  void init_connects(InitRun& run);
  Slot* reserve_connect_slot_locked() noexcept;
  void give_back_locked(Slot& slot) noexcept;
  Status start_connects(ConnectPlan& plan, Deliveries& out, std::size_t first = 0);
  void spawn_connect(Slot& slot, GateTicket ticket);
  void connect_thread(Slot* slot, GateTicket ticket) noexcept;
  void end_connect_thread() noexcept;
  void reap_connect_threads() noexcept;
  // One connect, outside the lock; then, under it, the slot joins the pool (or is given back)
  // and waiters hear of it. Returns the next slot this thread should connect, if any.
  Slot* connect_one(Slot& slot, GateTicket ticket, Deliveries& out) noexcept;
  Result<std::unique_ptr<Connection>> open_connection(GateTicket& ticket, Duration& took) noexcept;
  void connected_locked(Slot& slot, std::unique_ptr<Connection> conn, Duration took, Deliveries& out);
  void connect_failed_locked(const Error& error, bool attempted, Deliveries& out);
  void fail_waiters_locked(const Error& error, bool owe_one, Deliveries& out);
  TimePoint connect_allowed_at_locked(bool demand) const noexcept;
  void note_connect_time_locked(Duration took) noexcept;
  void set_expiry(Slot& slot, std::int64_t now_ns) noexcept;

  // release / retire (pool_release.cpp)
  void note_use_time(Slot& slot, std::int64_t now_ns) noexcept;
  // `lease_ended`: the slot comes back from a lease (counted in in_use), not from a checkout
  // that put it back unchecked.
  void make_idle(Slot& slot, bool lease_ended) noexcept;
  void count_lease_ended(const Slot& slot) noexcept;
  bool release_slow(Slot& slot);  // true: it retired the slot
  bool hand_to_starving(Slot& slot, bool lease_ended);
  void stop_spinning() noexcept;
  void put_locked(Slot& slot, Deliveries& out) noexcept;
  bool hand_to_front_locked(Slot& slot, Deliveries& out) noexcept;
  void complete_locked(Waiter& w, Slot* slot, std::optional<Error> error, Deliveries& out) noexcept;
  void retire_idle(CloseReason reason, std::size_t limit);
  void retire(Slot& slot, CloseReason reason) noexcept;
  void close_connection(Slot& slot, CloseReason reason) noexcept;
  void free_slot(Slot& slot) noexcept;
  void on_slot_emptied_locked() noexcept;
  std::optional<CloseReason> retire_reason(Slot& slot, std::int64_t now_ns) const noexcept;
  bool needs_attention() const noexcept;

  // maintenance (pool_maintain.cpp)
  void maintainer_loop();
  void stop_maintainer();
  void check_idle_slot(Slot& slot, std::int64_t now_ns, std::size_t& idle_above_min);
  void report_leaks(std::int64_t now_ns);
  void refill_min_idle();
  TimePoint next_maintenance_locked() const;
  std::size_t count_in(SlotState state) const noexcept;

  void emit(PoolEvent event) const noexcept;
  std::int64_t coarse_ns() const noexcept { return clock_.now_coarse().time_since_epoch().count(); }
  // Whether the oldest waiter has queued for config_.queue_bypass (always, when it is 0):
  // returns then go to it directly and the fast path stands aside, so bypassing the queue
  // delays a waiter by that much at most.
  bool front_waiter_starving(std::int64_t now_ns) const noexcept;
  // Wakes the oldest blocking waiter not already woken, to compete for an idle connection.
  void wake_one_locked() noexcept;
  Deadline io_deadline() const noexcept { return Deadline::after(clock_, config_.io_timeout); }

  const std::shared_ptr<Connector> connector_;
  PoolConfig config_;
  const std::string endpoint_;
  Clock& clock_;
  const std::shared_ptr<Logger> logger_;
  const std::shared_ptr<ConnectGate> gate_;
  const bool gate_paces_;  // gate_->paces_connects(), read once
  const std::shared_ptr<PoolListener> listener_;
  const bool want_maintainer_;

  SlotTable slots_;

  mutable std::mutex mu_;
  std::atomic<std::size_t> open_{0};        // slots not empty; written under mu_, read lock-free
  std::atomic<std::size_t> connecting_{0};  // connects in flight; written under mu_
  WaiterQueue waiters_;
  std::optional<Error> last_connect_error_;
  std::uint32_t consecutive_connect_failures_ = 0;
  // After failures: no connect for callers before demand_connect_at_, none for the min_idle
  // refill before refill_connect_at_ (refusals cost little, so callers retry sooner).
  TimePoint demand_connect_at_{};
  TimePoint refill_connect_at_{};
  Backoff refused_backoff_;
  Backoff timeout_backoff_;
  Duration connect_time_ewma_{0};  // how long a connect takes here; 0 = not measured yet
  Random random_;
  std::vector<std::thread> connect_threads_;  // under mu_: connect threads still at work
  std::thread ended_connect_thread_;          // under mu_: the one ended, not yet joined
  std::condition_variable connects_done_cv_;  // connect_threads_ became empty
  std::condition_variable drained_cv_;      // open_ went down
  std::condition_variable maintainer_cv_;
  bool maintainer_stop_ = false;
  std::thread maintainer_;
  std::once_flag maintainer_stopped_;
  std::shared_ptr<PoolCore> self_;          // set by orphan() while leases are out

  // Read lock-free on the hot path.
  std::atomic<std::size_t> waiting_{0};
  std::atomic<std::uint32_t> spinning_{0};  // callers in acquire()'s spin (see stop_spinning)
  std::atomic<bool> closing_{false};
  std::atomic<bool> over_capacity_{false};
  std::atomic<std::size_t> max_size_;
  // A connect failed at this (coarse) time: connections last checked before it get a check at
  // their next checkout even inside the bypass window (a server restart killed their sessions).
  std::atomic<std::int64_t> suspect_before_ns_{0};

  // load().in_use without walking the slots: leases made (make_lease) and not yet ended,
  // counted in the shard of their slot's index, each shard on its own cache line. One
  // shared counter costs every lease a write to a line all cores share, and the cycle stopped
  // scaling across cores (bench/spike/README.md: 2.1-2.7x the wall time per operation at
  // 2-8 threads); a lease's add and its end land in one shard, written by the threads using
  // that slot, whose own line they already share. load() sums the shards.
  struct alignas(128) InUseShard {  // 128: Intel fetches lines in adjacent pairs
    std::atomic<std::int64_t> leases{0};
  };
  static constexpr std::size_t kInUseShards = 8;
  std::array<InUseShard, kInUseShards> in_use_{};
  InUseShard& in_use_shard(const Slot& slot) noexcept { return in_use_[slot.index % kInUseShards]; }

  // Counters (stats); never under mu_ on the hot path.
  std::atomic<std::uint64_t> timeouts_{0}, rejected_{0}, failed_acquires_{0}, created_{0},
      failed_connects_{0}, health_checks_{0}, health_failures_{0}, leaks_reported_{0}, queued_acquires_{0},
      slow_reported_{0};
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(CloseReason::kCount)> closed_by_{};
  LatencyHistogram acquire_wait_;
  LatencyHistogram connect_time_;  // every connect, succeeded or failed (connects are rare)
};

}  // namespace reservoir::detail
