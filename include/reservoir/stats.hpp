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

// Every plain figure of PoolStats, once (Envoy's ALL_..._STATS): the struct's fields, its
// to_string() and the metrics exposition are all generated from these lists.
// X(name, help)
#define RESERVOIR_POOL_GAUGES(X)                                              \
  X(size, "open connections: idle + in_use + connecting")                     \
  X(idle, "connections in the pool, free to take")                            \
  X(in_use, "connections leased")                                             \
  X(connecting, "connects in flight")                                         \
  X(waiting, "callers queued in acquire() or acquire_async()")                \
  X(max_size, "the cap on open connections")

#define RESERVOIR_POOL_COUNTERS(X)                                            \
  X(acquires, "successful acquisitions")                                      \
  X(releases, "leases returned")                                              \
  X(timeouts, "acquisitions that ended at their deadline")                    \
  X(rejected, "acquisitions refused at once (waiter limit, shutdown)")        \
  X(failed_acquires, "acquisitions that returned any error")                  \
  X(created, "connections opened")                                            \
  X(failed_connects, "connects that failed")                                  \
  X(closed, "connections closed, every reason")                               \
  X(health_checks, "checkout and keepalive checks run")                       \
  X(health_failures, "checks that failed")                                    \
  X(leaks_reported, "leases reported held past leak_detection_threshold")     \
  X(slow_acquires, "acquisitions slower than slow_acquire_threshold")

// Every histogram of PoolStats, cumulative at default_latency_bounds(): the struct's fields,
// /stats.json and the exposition (reservoir_pool_<metric>) come from this list.
// X(field, metric, help)
#define RESERVOIR_POOL_HISTOGRAMS(X)                                                              \
  X(acquire_wait_buckets, "acquire_wait_seconds", "time callers waited in acquire()")            \
  X(connect_time_buckets, "connect_seconds", "time connects took, failed ones included")         \
  X(use_time_buckets, "use_seconds",                                                              \
    "how long leases were held, from acquire to return (coarse clock: resolution 1-4 ms)")

struct PoolStats {
#define RESERVOIR_STATS_FIELD(name, help) std::uint64_t name = 0;
  RESERVOIR_POOL_GAUGES(RESERVOIR_STATS_FIELD)
  RESERVOIR_POOL_COUNTERS(RESERVOIR_STATS_FIELD)
#undef RESERVOIR_STATS_FIELD
  std::array<std::uint64_t, static_cast<std::size_t>(CloseReason::kCount)> closed_by{};

  // Time callers waited in acquire() (zero for the lock-free fast path) as a summary; its
  // buckets are acquire_wait_buckets below.
  LatencySummary acquire_wait;
  // How long the longest-queued caller has waited so far (zero with nobody queued).
  Duration oldest_wait{0};
#define RESERVOIR_STATS_HISTOGRAM(field, metric, help) HistogramBuckets field;
  RESERVOIR_POOL_HISTOGRAMS(RESERVOIR_STATS_HISTOGRAM)
#undef RESERVOIR_STATS_HISTOGRAM

  // Calls f(name, value, help) for each gauge, then for each counter, in list order.
  template <class F>
  void for_each_gauge(F&& f) const {
#define RESERVOIR_STATS_VISIT(name, help) f(#name, name, help);
    RESERVOIR_POOL_GAUGES(RESERVOIR_STATS_VISIT)
  }
  template <class F>
  void for_each_counter(F&& f) const {
    RESERVOIR_POOL_COUNTERS(RESERVOIR_STATS_VISIT)
#undef RESERVOIR_STATS_VISIT
  }
  // Calls f(field, metric, buckets, help) for each histogram, in list order.
  template <class F>
  void for_each_histogram(F&& f) const {
#define RESERVOIR_STATS_VISIT_HISTOGRAM(field, metric, help) f(#field, metric, field, help);
    RESERVOIR_POOL_HISTOGRAMS(RESERVOIR_STATS_VISIT_HISTOGRAM)
#undef RESERVOIR_STATS_VISIT_HISTOGRAM
  }

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
