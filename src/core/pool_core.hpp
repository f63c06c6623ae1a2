// Private: PoolCore, the state behind a Pool handle and its leases.
//
// Locking: mu_ guards the accounting (open_, connecting_, waiters, connect backoff, the
// maintainer's schedule). Slots change state by CAS without it. No I/O ever runs under mu_:
// connect, check, reset and close happen after unlocking.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "reservoir/histogram.hpp"
#include "reservoir/pool.hpp"
#include "slot_table.hpp"

namespace reservoir::detail {

// A caller queued in acquire(). Lives on the caller's stack; linked while queued.
struct Waiter {
  std::condition_variable cv;
  Slot* handed = nullptr;  // set under mu_ when a connection is handed over
  Waiter* next = nullptr;
  Waiter* prev = nullptr;
};

// FIFO of waiters (intrusive, no allocation).
class WaiterQueue {
 public:
  void push_back(Waiter& w) noexcept;
  void remove(Waiter& w) noexcept;
  Waiter* front() const noexcept { return head_; }
  std::size_t size() const noexcept { return size_; }
  void clear() noexcept { head_ = tail_ = nullptr; size_ = 0; }
  bool contains(const Waiter& w) const noexcept { return w.prev != nullptr || head_ == &w; }

 private:
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
  std::size_t size_ = 0;
};

void remember_for_this_thread(const PoolCore* core, std::uint32_t index) noexcept;
std::uint64_t current_fork_generation() noexcept;
void register_for_fork(PoolCore* core);
void unregister_for_fork(PoolCore* core);

class PoolCore {
 public:
  PoolCore(std::shared_ptr<Connector> connector, PoolConfig config, PoolOptions options);
  ~PoolCore();
  PoolCore(const PoolCore&) = delete;
  PoolCore& operator=(const PoolCore&) = delete;

  Status initialize();
  void start_maintainer();
  Result<Lease> acquire(std::optional<Deadline> deadline, SourceLocation where);
  void release(Slot& slot) noexcept;
  std::unique_ptr<Connection> detach(Slot& slot) noexcept;
  Status shutdown(Duration grace);
  Status set_max_size(std::size_t max_size);
  void run_maintenance();
  PoolStats stats() const;
  // The Pool handle is gone: stay alive (through `self`) until the last lease returns.
  void orphan(std::shared_ptr<PoolCore> self);

  const PoolConfig& config() const noexcept { return config_; }
  Connector& connector() const noexcept { return *connector_; }
  const Clock& clock() const noexcept { return clock_; }

  // Called in a child process after fork() (see fork_guard.cpp), with mu_ held.
  void forget_parent_connections_locked();
  std::mutex& mutex() noexcept { return mu_; }

 private:
  // acquire
  Slot* try_take_idle() noexcept;
  Lease checkout(Slot& slot, SourceLocation where, std::optional<Deadline>& deadline);
  Result<Lease> acquire_slow(Deadline deadline, SourceLocation where);
  Result<Lease> wait_or_connect(std::unique_lock<std::mutex>& lk, Deadline deadline, SourceLocation where,
                                TimePoint start);
  bool can_connect_locked() const noexcept;
  Slot* reserve_slot_locked();
  Result<Slot*> connect_slot(std::unique_lock<std::mutex>& lk, Deadline deadline);
  Error timeout_error_locked(TimePoint start) const;
  Error reject(Error error);
  Lease make_lease(Slot& slot, SourceLocation where, std::int64_t now_ns) noexcept;

  // release / retire
  void make_idle(Slot& slot) noexcept;
  bool release_slow(Slot& slot);  // true: it retired the slot
  void put_locked(Slot& slot) noexcept;
  void hand_to_front_locked(Slot& slot) noexcept;
  void retire_idle(CloseReason reason, std::size_t limit);
  void retire(Slot& slot, CloseReason reason) noexcept;
  void close_connection(Slot& slot, CloseReason reason) noexcept;
  void free_slot(Slot& slot) noexcept;
  void on_slot_emptied_locked() noexcept;
  std::optional<CloseReason> retire_reason(Slot& slot, std::int64_t now_ns) const noexcept;
  bool needs_attention() const noexcept;

  // maintenance
  void maintainer_loop();
  void stop_maintainer();
  void check_idle_slot(Slot& slot, std::int64_t now_ns, std::size_t& idle_above_min);
  void report_leaks(std::int64_t now_ns);
  void refill_min_idle();
  TimePoint next_maintenance_locked() const;
  std::size_t count_in(SlotState state) const noexcept;

  void set_expiry(Slot& slot, std::int64_t now_ns) noexcept;
  std::int64_t coarse_ns() const noexcept { return clock_.now_coarse().time_since_epoch().count(); }
  Deadline io_deadline() const noexcept { return Deadline::after(clock_, config_.io_timeout); }
  void note_connect_failure_locked(const Error& error, bool attempted);
  std::uint64_t next_random_locked() noexcept;

  const std::shared_ptr<Connector> connector_;
  PoolConfig config_;
  Clock& clock_;
  const std::shared_ptr<Logger> logger_;
  const std::shared_ptr<ConnectGate> gate_;
  const bool want_maintainer_;

  SlotTable slots_;

  mutable std::mutex mu_;
  std::atomic<std::size_t> open_{0};  // slots not empty; written under mu_, read lock-free
  std::size_t connecting_ = 0;  // connects in flight
  WaiterQueue waiters_;
  std::optional<Error> last_connect_error_;
  std::uint32_t consecutive_connect_failures_ = 0;
  TimePoint next_connect_at_{};
  std::uint64_t rng_state_;
  std::condition_variable drained_cv_;      // open_ went down
  std::condition_variable maintainer_cv_;
  bool maintainer_stop_ = false;
  std::thread maintainer_;
  std::once_flag maintainer_stopped_;
  std::shared_ptr<PoolCore> self_;          // set by orphan() while leases are out
  std::uint64_t fork_generation_;

  // Read lock-free on the hot path.
  std::atomic<std::size_t> waiting_{0};
  std::atomic<bool> closing_{false};
  std::atomic<bool> over_capacity_{false};
  std::atomic<std::size_t> max_size_;

  // Counters (stats); never under mu_ on the hot path.
  std::atomic<std::uint64_t> timeouts_{0}, rejected_{0}, failed_acquires_{0}, created_{0},
      failed_connects_{0}, health_checks_{0}, health_failures_{0}, leaks_reported_{0}, slow_acquires_{0};
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(CloseReason::kCount)> closed_by_{};
  LatencyHistogram acquire_wait_;
};

}  // namespace reservoir::detail
