// reservoir/pool.hpp — Pool: a bounded, self-healing set of connections to one endpoint.
//
// The pool is generic over a Connector and knows no backend. acquire() is lock-free when an
// idle connection is available and no caller has queued for more than queue_bypass (1 ms by
// default; 0 = strict FIFO); otherwise callers queue FIFO until a connection is returned to
// them, capacity frees up for a connect, or their deadline passes. A return within that time
// wakes the oldest waiter to take it, and a running caller that finds it first may take it
// instead (as HikariCP's borrow and Go's sync.Mutex do): parking every caller behind the queue
// costs a context switch per lease.
// Connects, checks, resets and closes always run outside the pool lock.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include "reservoir/clock.hpp"
#include "reservoir/config.hpp"
#include "reservoir/connect_gate.hpp"
#include "reservoir/connector.hpp"
#include "reservoir/error.hpp"
#include "reservoir/lease.hpp"
#include "reservoir/logger.hpp"
#include "reservoir/pool_events.hpp"
#include "reservoir/source_location.hpp"
#include "reservoir/stats.hpp"

namespace reservoir {

// What a pool is built with besides its config. Nothing here is global: tests inject a
// ManualClock and a seed.
struct PoolOptions {
  Clock* clock = nullptr;                 // default: SteadyClock::instance(); must outlive the pool
  std::shared_ptr<Logger> logger;         // default: stderr_logger(warn)
  bool start_maintainer = true;           // false: call run_maintenance() yourself (tests)
  std::uint64_t seed = 0;                 // random source for jitter; 0 = seeded from the OS
  // Asked before every connect (connect_gate.hpp); default: the OpenGate. E.g. the endpoint's
  // CircuitBreaker, so that while it is down acquire() fails fast and only probes connect.
  std::shared_ptr<ConnectGate> connect_gate;
  std::shared_ptr<PoolListener> listener;  // optional: structured events (pool_events.hpp)
};

// A pool's load as a balancer reads it, without a lock and without walking the slots: open,
// waiting and connecting are one relaxed atomic read each, in_use the sum of 8 relaxed reads
// (leases made and not yet ended, counted per group of slots so that a lease writes no cache
// line all cores share). A lease ends just before its connection is back in the pool; a
// hand-on may show in_use one low for that instant. Each figure is exact at some instant;
// together they may be a transition apart.
struct PoolLoad {
  std::size_t open = 0;        // connections open or being opened
  std::size_t in_use = 0;      // leased
  std::size_t waiting = 0;     // callers queued in acquire() or acquire_async()
  std::size_t connecting = 0;  // connects in flight
  std::size_t max_size = 0;
  Duration oldest_wait{0};     // how long the longest-queued caller has waited (0: none)
};

// Receives the outcome of acquire_async(): a lease, or why there is none.
using AcquireCallback = std::function<void(Result<Lease>)>;

namespace detail {
struct AsyncWaiter;
}

// A pending acquire_async(). Dropping the handle does not cancel it.
class PendingAcquire {
 public:
  PendingAcquire() noexcept = default;
  // Withdraws the request if it is still queued: its callback then runs at once, on this
  // thread, with `cancelled`, and this returns true. False if the callback has run or is
  // about to run with a lease or an error: a connection handed over at the moment of the
  // cancel is never lost, it reaches the callback (which may drop it: it returns to the pool).
  bool cancel() noexcept;
  // The callback has run (or is running).
  bool done() const noexcept;

 private:
  friend class detail::PoolCore;
  explicit PendingAcquire(std::shared_ptr<detail::AsyncWaiter> waiter) noexcept : waiter_(std::move(waiter)) {}
  std::shared_ptr<detail::AsyncWaiter> waiter_;
};

class Pool {
 public:
  // Validates `config`, then opens connections as config.init_mode says.
  // Errors: invalid_config; with init_mode fail_fast or wait, the connect error
  // (unavailable / timeout).
  static Result<Pool> create(std::shared_ptr<Connector> connector, PoolConfig config,
                             PoolOptions options = {});

  Pool(Pool&&) noexcept;
  Pool& operator=(Pool&&) noexcept;
  // Shuts down without a grace period: queued acquire_async() callbacks get shutting_down;
  // connects in flight are waited for (each is bounded by connect_timeout). Leases still out
  // stay valid; their connections are closed when they return.
  ~Pool();

  // Borrows a connection within config.acquire_timeout.
  // Errors: exhausted (`5/5 in use, 3 waiting, waited 2000 ms`), unavailable
  // (`<endpoint>: <last connect error>`), timeout (connect took the whole deadline),
  // shutting_down.
  Result<Lease> acquire(SourceLocation where = SourceLocation::current());
  // Borrows a connection before `deadline`. Same errors as acquire().
  Result<Lease> acquire(Deadline deadline, SourceLocation where = SourceLocation::current());
  // As above, and adds where it spent its time to `phases` (also when it fails). The pool then
  // leaves the slow-acquire report to the caller, who reports its whole operation once (run()).
  Result<Lease> acquire(Deadline deadline, AcquirePhases& phases, SourceLocation where = SourceLocation::current());

  // Borrows a connection without blocking the caller: `callback` receives the lease or the
  // error (the same errors as acquire(), or `cancelled`) exactly once, on one of these threads:
  //  - this one, before acquire_async() returns, when an idle connection is free or the
  //    request fails at once (shutting down, an open circuit breaker, too many waiters);
  //  - the thread that returns a lease, or the pool's connect thread, that hands it over;
  //  - the clock's timer thread when `deadline` passes (SteadyClock: one thread for the whole
  //    process; ManualClock: the thread that moves time);
  //  - the thread that cancels it, shuts the pool down or destroys it (`shutting_down`).
  // A waiter costs no thread: 10,000 queued callbacks are 10,000 small heap objects.
  // The checkout check of an idle connection runs at depth `fast` here (a deeper one would
  // block the caller); the maintainer's keepalive still checks idle connections in depth.
  // The callback must not block. An exception it throws is caught, logged at error level
  // and dropped (the lease it held, if any, returns to the pool as the stack unwinds).
  // Errors of the call itself: invalid_argument for an empty callback (nothing is queued).
  Result<PendingAcquire> acquire_async(Deadline deadline, AcquireCallback callback,
                                       SourceLocation where = SourceLocation::current());

  // Refuses new acquisitions (shutting_down), waits up to `grace` for leases to come back,
  // then closes every idle connection. Leases still out are reported and closed when they
  // return. Errors: timeout, naming the leases still out after `grace`.
  Status shutdown(Duration grace);

  // Changes max_size at runtime. Growing lets waiters through; shrinking closes idle
  // connections first and leased ones as they return. Errors: invalid_config.
  Status set_max_size(std::size_t max_size);

  // Retires every connection open now by a time spread at random over the next `window` (0:
  // at once): idle ones at the next maintenance pass (the maintainer is woken), leased ones
  // when they return; a checkout never hands one out past its time. Connections opened
  // after this call keep the normal max_lifetime. For a credentials rotation (HikariCP's
  // softEvictConnections, spread out): the old sessions go without a reconnect storm.
  // Returns how many connections were marked.
  std::size_t retire_connections(Duration window);

  // One maintenance pass now: retire expired connections, keepalive checks, leak reports,
  // refill to min_idle. The maintainer thread calls this on its own schedule.
  void run_maintenance();

  PoolStats stats() const;
  PoolLoad load() const noexcept;
  const PoolConfig& config() const noexcept;
  Connector& connector() const noexcept;
  const Clock& clock() const noexcept;
  // The logger and listener of PoolOptions, for the layers above the pool (run() reports its
  // slow operations through them). emit() fills in the pool's name and endpoint.
  Logger& logger() const noexcept;
  void emit(PoolEvent event) const noexcept;

 private:
  explicit Pool(std::shared_ptr<detail::PoolCore> core) noexcept;
  std::shared_ptr<detail::PoolCore> core_;
};

}  // namespace reservoir
