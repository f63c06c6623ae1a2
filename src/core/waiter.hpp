// Private: waiters, the callers queued for a connection (Go's connRequest).
//
// A waiter is something that is completed, not a thread that is woken: under the pool lock it
// is taken off the queue and given a leased slot or an error. A blocking waiter is then
// notified (its thread builds the lease); an async waiter's callback runs later, after the
// lock is released, from a Deliveries batch. Removal is O(1), so a waiter that times out or is
// cancelled leaves at once, and one completed at that very moment keeps what it was given.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <optional>

#include "reservoir/clock.hpp"
#include "reservoir/error.hpp"
#include "reservoir/lease.hpp"
#include "reservoir/pool.hpp"
#include "reservoir/source_location.hpp"

namespace reservoir::detail {

struct Slot;
class PoolCore;

struct Waiter {
  enum class Kind : std::uint8_t { blocking, async };
  explicit Waiter(Kind k) noexcept : kind(k) {}

  const Kind kind;
  Waiter* next = nullptr;
  Waiter* prev = nullptr;
  bool queued = false;
  TimePoint since{};  // when it queued: the age of the oldest waiter, the connect decision
};

// A thread parked in acquire(); lives on that thread's stack.
struct BlockingWaiter final : Waiter {
  BlockingWaiter() noexcept : Waiter(Kind::blocking) {}
  std::condition_variable cv;
  bool notified = false;         // woken to compete for a returned connection, not yet back asleep
  Slot* handed = nullptr;        // completed with this (leased) slot
  std::optional<Error> failed;   // completed with this error
  bool completed() const noexcept { return handed != nullptr || failed.has_value(); }
};

// An acquire_async() request; shared by the queue, its timer and its PendingAcquire handle.
struct AsyncWaiter final : Waiter {
  static constexpr TimerId kNoTimer = 0;
  static constexpr TimerId kTimerDone = ~TimerId{0};

  AsyncWaiter() noexcept : Waiter(Kind::async) {}
  AcquireCallback callback;
  SourceLocation where{};
  std::weak_ptr<PoolCore> core;
  std::shared_ptr<AsyncWaiter> self;       // the queue's (then the delivery's) reference
  std::optional<Result<Lease>> outcome;    // set under the pool lock, delivered after it
  AsyncWaiter* next_delivery = nullptr;
  const Clock* clock = nullptr;            // the pool's, to cancel the timer at delivery
  std::shared_ptr<Logger> log;             // kept alive: a callback may destroy the pool
  std::atomic<TimerId> timer{kNoTimer};    // kTimerDone once delivered
  std::atomic<bool> done{false};
  // Handed a connection from the queue (under the pool lock): its wait is reported at delivery
  // as the blocking path's, with the connect of a connection opened for it as its own phase.
  bool handed = false;
  Duration connect{0};
};

// FIFO of waiters, intrusive: no allocation.
class WaiterQueue {
 public:
  void push_back(Waiter& w) noexcept {
    w.next = nullptr;
    w.prev = tail_;
    if (tail_ != nullptr) tail_->next = &w;
    else head_ = &w;
    tail_ = &w;
    w.queued = true;
    ++size_;
    if (head_ == &w) note_front();
  }
  void remove(Waiter& w) noexcept {
    const bool was_front = head_ == &w;
    if (w.prev != nullptr) w.prev->next = w.next;
    else head_ = w.next;
    if (w.next != nullptr) w.next->prev = w.prev;
    else tail_ = w.prev;
    w.next = w.prev = nullptr;
    w.queued = false;
    --size_;
    if (was_front) note_front();
  }
  Waiter* front() const noexcept { return head_; }
  std::size_t size() const noexcept { return size_; }
  // Forgets every waiter without touching them (a forked child: their threads are gone).
  void forget_all() noexcept {
    head_ = tail_ = nullptr;
    size_ = 0;
    note_front();
  }
  // When the front waiter queued (its `since`, in clock ns), 0 with none: read without the
  // lock by stats() and load(), for the age of the oldest waiter.
  std::int64_t front_since_ns() const noexcept { return front_since_ns_.load(std::memory_order_relaxed); }

 private:
  void note_front() noexcept {
    front_since_ns_.store(head_ != nullptr ? head_->since.time_since_epoch().count() : 0, std::memory_order_relaxed);
  }

  std::atomic<std::int64_t> front_since_ns_{0};
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
  std::size_t size_ = 0;
};

// Async completions decided under the pool lock, run after it (user code never runs under a
// pool lock). Intrusive through AsyncWaiter::next_delivery: no allocation. A callback that
// returns its lease at once hands it to the next waiter, whose callback would run inside the
// first one's, and so on down the stack for every queued request: instead, a run() started
// inside another on the same thread passes its list to the outer loop (a trampoline).
class Deliveries {
 public:
  Deliveries() = default;
  Deliveries(const Deliveries&) = delete;
  Deliveries& operator=(const Deliveries&) = delete;
  ~Deliveries() { run(); }

  // `w` is already off the queue; its `self` reference moves here. The clock cancels its
  // timer; the logger reports a callback that throws.
  void add(AsyncWaiter& w, Result<Lease> outcome, const Clock& clock, const std::shared_ptr<Logger>& log) noexcept;
  // Runs every callback, in completion order, on this thread.
  void run() noexcept;
  bool empty() const noexcept { return head_ == nullptr; }

 private:
  void append(Deliveries& other) noexcept;

  AsyncWaiter* head_ = nullptr;
  AsyncWaiter* tail_ = nullptr;
};

// Runs one async waiter's callback now, with `outcome`: for a waiter never queued (the fast
// path, an immediate error) or just taken off the queue (cancel, its timer, shutdown).
void deliver_now(AsyncWaiter& w, Result<Lease> outcome, const Clock& clock, Logger& log) noexcept;

}  // namespace reservoir::detail
