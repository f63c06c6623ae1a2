// reservoir/stats.hpp — PoolStats, a point-in-time snapshot of a pool's gauges and counters.
//
// Counters only grow. Gauges (size, idle, in_use, waiting) are read without the pool lock and
// may be off by one transition under load. Fields may be added later.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "reservoir/histogram.hpp"

namespace reservoir {

// Why a connection was closed by the pool.
enum class CloseReason : std::size_t {
  lifetime,       // reached max_lifetime
  idle,           // idle past idle_timeout
  uses,           // reached max_uses
  broken,         // discard(), is_broken, failed reset
  health,         // failed a checkout or keepalive check
  shrink,         // set_max_size() below the open count
  shutdown,       // shutdown() or destruction
  kCount,
};

std::string_view to_string(CloseReason reason) noexcept;

struct PoolStats {
  // Gauges.
  std::uint64_t size = 0;        // open connections: idle + in_use + connecting
  std::uint64_t idle = 0;
  std::uint64_t in_use = 0;
  std::uint64_t connecting = 0;
  std::uint64_t waiting = 0;     // callers queued in acquire()
  std::uint64_t max_size = 0;

  // Counters.
  std::uint64_t acquires = 0;        // successful acquisitions
  std::uint64_t releases = 0;        // leases returned
  std::uint64_t timeouts = 0;        // acquire() that ended at its deadline
  std::uint64_t rejected = 0;        // acquire() refused at once (waiter limit, shutdown)
  std::uint64_t failed_acquires = 0; // acquire() that returned any error
  std::uint64_t created = 0;         // connections opened
  std::uint64_t failed_connects = 0;
  std::uint64_t closed = 0;          // connections closed, all reasons
  std::array<std::uint64_t, static_cast<std::size_t>(CloseReason::kCount)> closed_by{};
  std::uint64_t health_checks = 0;
  std::uint64_t health_failures = 0;
  std::uint64_t leaks_reported = 0;

  // Time callers waited in acquire() (zero for the lock-free fast path).
  LatencySummary acquire_wait;

  std::uint64_t recycled() const noexcept;  // closed for lifetime, idle or uses
  // Share of acquisitions served by an existing connection: 1 - created / acquires.
  double reuse_ratio() const noexcept;
  // Share of health checks that passed (1.0 with no checks).
  double health_pass_rate() const noexcept;
  // Share of acquire() calls that succeeded (1.0 with no calls).
  double acquisition_success_rate() const noexcept;

  // One line, `key=value` pairs, for logs.
  std::string to_string() const;
};

}  // namespace reservoir
