// reservoir/pool.hpp — Pool: a bounded, self-healing set of connections to one endpoint.
//
// The pool is generic over a Connector and knows no backend. acquire() is lock-free when an
// idle connection is available and nobody queues; otherwise callers queue FIFO until a
// connection is returned to them, capacity frees up for a connect, or their deadline passes.
// Connects, checks, resets and closes always run outside the pool lock.
#pragma once

#include <cstddef>
#include <memory>

#include "reservoir/clock.hpp"
#include "reservoir/config.hpp"
#include "reservoir/connector.hpp"
#include "reservoir/error.hpp"
#include "reservoir/lease.hpp"
#include "reservoir/logger.hpp"
#include "reservoir/source_location.hpp"
#include "reservoir/stats.hpp"

namespace reservoir {

// Consulted before every connect and told every connect's outcome. A circuit breaker
// implements it (resilience: breaker.hpp) so that while an endpoint is down, acquire() fails
// fast instead of every caller waiting out its deadline, and only the gate's probes connect.
class ConnectGate {
 public:
  virtual ~ConnectGate() = default;
  // OK to connect now, or the error acquire() returns at once (circuit_open, with the time
  // until the next probe). An OK obliges the pool to report exactly one outcome below.
  virtual Status allow_connect() = 0;
  virtual void connect_succeeded() noexcept = 0;
  virtual void connect_failed(const Error& error) noexcept = 0;
};

// What a pool is built with besides its config. Nothing here is global: tests inject a
// ManualClock and a seed.
struct PoolOptions {
  Clock* clock = nullptr;                 // default: SteadyClock::instance(); must outlive the pool
  std::shared_ptr<Logger> logger;         // default: stderr_logger(warn)
  bool start_maintainer = true;           // false: call run_maintenance() yourself (tests)
  std::uint64_t seed = 0;                 // random source for jitter; 0 = seeded from the OS
  std::shared_ptr<ConnectGate> connect_gate;  // optional: e.g. the endpoint's CircuitBreaker
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
  // Shuts down without a grace period. Leases still out stay valid; their connections are
  // closed when they return.
  ~Pool();

  // Borrows a connection within config.acquire_timeout.
  // Errors: exhausted (`5/5 in use, 3 waiting, waited 2000 ms`), unavailable
  // (`<endpoint>: <last connect error>`), timeout (connect took the whole deadline),
  // shutting_down.
  Result<Lease> acquire(SourceLocation where = SourceLocation::current());
  // Borrows a connection before `deadline`. Same errors as acquire().
  Result<Lease> acquire(Deadline deadline, SourceLocation where = SourceLocation::current());

  // Refuses new acquisitions (shutting_down), waits up to `grace` for leases to come back,
  // then closes every idle connection. Leases still out are reported and closed when they
  // return. Errors: timeout, naming the leases still out after `grace`.
  Status shutdown(Duration grace);

  // Changes max_size at runtime. Growing lets waiters through; shrinking closes idle
  // connections first and leased ones as they return. Errors: invalid_config.
  Status set_max_size(std::size_t max_size);

  // One maintenance pass now: retire expired connections, keepalive checks, leak reports,
  // refill to min_idle. The maintainer thread calls this on its own schedule.
  void run_maintenance();

  PoolStats stats() const;
  const PoolConfig& config() const noexcept;
  Connector& connector() const noexcept;
  const Clock& clock() const noexcept;

 private:
  explicit Pool(std::shared_ptr<detail::PoolCore> core) noexcept;
  std::shared_ptr<detail::PoolCore> core_;
};

}  // namespace reservoir
