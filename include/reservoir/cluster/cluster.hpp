// reservoir/cluster/cluster.hpp — Cluster: one pool and one circuit breaker per endpoint, an
// endpoint picked per acquire, outliers ejected, endpoints and credentials changed live.
//
//   cluster::ClusterConfig config{.name = "orders", .endpoints = {{.connector = a}, {.connector = b}}};
//   auto c = cluster::Cluster::create(std::move(config));
//   auto lease = c->acquire(deadline);           // lease->endpoint() says which server
//   auto rows = cluster::run<pg::Connector>(*c, [](pg::Connection& conn, Attempt& a) {...},
//                                           {.idempotent = true});  // retried on another endpoint
//
// Picking (under one short lock, no I/O): the best priority tier that has a serving endpoint
// (not ejected, breaker not open, not draining), then the policy within it. An acquire that
// fails before anything was sent (connect refused, circuit open, endpoint draining) moves on
// to another endpoint within the same deadline.
//
// Read/write routing over a primary and replicas (config.routing, routing.hpp): acquire() and
// run() take an Intent (read, write, read_after a WriteToken); see routing.hpp for where each
// endpoint's role, lag and position come from and what they cost.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "reservoir/cluster/config.hpp"
#include "reservoir/lease.hpp"
#include "reservoir/logger.hpp"
#include "reservoir/pool.hpp"
#include "reservoir/source_location.hpp"

namespace reservoir {
class CircuitBreaker;
}

namespace reservoir::cluster {

namespace detail {
class ClusterCore;
struct Endpoint;
struct AsyncPick;
}  // namespace detail

struct ClusterOptions {
  Clock* clock = nullptr;             // default: SteadyClock::instance(); must outlive the cluster
  std::shared_ptr<Logger> logger;     // default: stderr_logger(warn)
  bool start_maintainers = true;      // false: pools run no maintainer thread (tests)
  std::uint64_t seed = 0;             // picks, jitter; 0 = from the OS
};

// A borrowed connection of one endpoint. Move-only; returns on destruction. Its outcome feeds
// the outlier detector: discard() counts as a failure, a normal return as a success (no
// latency sample: only run() times the operation itself).
class [[nodiscard]] ClusterLease {
 public:
  ClusterLease() noexcept = default;
  ClusterLease(ClusterLease&&) noexcept = default;
  ClusterLease& operator=(ClusterLease&& other) noexcept;
  ~ClusterLease() { release(); }

  bool valid() const noexcept { return lease_.valid(); }
  explicit operator bool() const noexcept { return valid(); }
  // The backend's connection (what its connector opened).
  Connection& connection() const noexcept;
  template <PoolConnector C>
  typename C::connection& as() const noexcept { return ConnectorAdapter<C>::cast(connection()); }
  // The endpoint's name.
  const std::string& endpoint() const noexcept;
  // Read-your-writes (routing.hpp): the position after the writes made on this lease's
  // connection (a primary's), for Intent::read_after. Errors: invalid_argument without
  // routing.roles; as the role source's query (PostgreSQL: pg_current_wal_lsn()).
  Result<WriteToken> write_token(Deadline deadline);

  void discard() noexcept;
  void release() noexcept;

 private:
  friend class detail::ClusterCore;
  ClusterLease(Lease lease, std::shared_ptr<detail::ClusterCore> core, std::shared_ptr<detail::Endpoint> endpoint) noexcept;
  Lease lease_;
  std::shared_ptr<detail::ClusterCore> core_;
  std::shared_ptr<detail::Endpoint> endpoint_;
  bool failed_ = false;
};

// Receives the outcome of Cluster::acquire_async(): a lease, or why there is none.
using ClusterAcquireCallback = std::function<void(Result<ClusterLease>)>;

// A pending Cluster::acquire_async(). Dropping the handle does not cancel it.
class PendingClusterAcquire {
 public:
  PendingClusterAcquire() noexcept = default;
  // Withdraws the request: true when its callback gets `cancelled` (at once on this thread
  // when it was queued in an endpoint's pool; else on the thread moving it to the next
  // endpoint). False when it has completed or a lease is on its way to the callback (a lease
  // handed over at the moment of the cancel is never lost; dropped, it returns to its pool).
  bool cancel() noexcept;
  bool done() const noexcept;

 private:
  friend class detail::ClusterCore;
  explicit PendingClusterAcquire(std::shared_ptr<detail::AsyncPick> op) noexcept : op_(std::move(op)) {}
  std::shared_ptr<detail::AsyncPick> op_;
};

// An endpoint's connector from a backend's typed one: `cluster::adapt<pg::Connector>(std::move(c))`.
template <PoolConnector C, class... Args>
std::shared_ptr<Connector> adapt(Args&&... connector_args) {
  return std::make_shared<ConnectorAdapter<C>>(std::forward<Args>(connector_args)...);
}

enum class EndpointState : std::uint8_t { serving, ejected, circuit_open, draining };
std::string_view to_string(EndpointState state) noexcept;

struct EndpointStats {
  std::string name;
  std::uint32_t weight = 1;
  std::uint32_t priority = 0;
  EndpointState state = EndpointState::serving;
  std::uint64_t picks = 0;          // acquires sent here
  std::uint64_t successes = 0;      // outcomes seen by the outlier detector
  std::uint64_t failures = 0;
  std::uint64_t ejections = 0;      // in total
  std::uint32_t ejection_level = 0; // current multiplier of base_ejection_time
  Duration latency_ewma{0};         // 0 = no sample
  std::uint64_t credential_rotations = 0;
  PoolLoad load;
  // Routing (routing.hpp): the role its server last reported (changes: how often it changed);
  // for a replica the lag and replayed position of its last probe, and how many checkouts
  // for a read were turned away after a probe found it beyond max_replica_lag.
  EndpointRole role = EndpointRole::unknown;
  Duration replica_lag{0};
  std::uint64_t replayed = 0;
  std::uint64_t role_changes = 0;
  std::uint64_t lag_skips = 0;
};

struct ClusterStats {
  std::vector<EndpointStats> endpoints;
  std::uint64_t failovers = 0;      // acquires that moved on to another endpoint
  std::uint64_t no_endpoint = 0;    // acquires refused because no endpoint served
  bool routing = false;             // routing.roles set: the fields below count
  std::uint64_t read_fallbacks = 0; // reads sent to the primary because no replica was eligible
  std::uint64_t write_reroutes = 0; // writes refused by a replica (wrong role) and sent on
  std::string to_string() const;
};

// One endpoint's own pool and breaker, read-only (for metrics and health checks). Each
// keeps its endpoint alive while held: drop them once read.
struct EndpointParts {
  std::string name;
  std::shared_ptr<const Pool> pool;
  std::shared_ptr<const CircuitBreaker> breaker;
};

class Cluster {
 public:
  // Validates `config`, then starts one pool per endpoint (each per config.pool.init_mode).
  // Errors: invalid_config; a pool's creation error, naming the endpoint.
  static Result<Cluster> create(ClusterConfig config, ClusterOptions options = {});

  Cluster(Cluster&&) noexcept;
  Cluster& operator=(Cluster&&) noexcept;
  ~Cluster();

  // A connection of one endpoint, before `deadline`. Errors: the last endpoint's acquire
  // error; circuit_open or unavailable (`no endpoint serves: ...`) when none serves.
  Result<ClusterLease> acquire(Deadline deadline, SourceLocation where = SourceLocation::current());
  Result<ClusterLease> acquire(SourceLocation where = SourceLocation::current());
  // Routed (routing.hpp): a write gets the primary; a read a replica within the lag bound
  // (and past intent.after), else the primary. Errors: as above; `unavailable: <cluster>: no
  // primary serves (...)` for a write when none does.
  Result<ClusterLease> acquire(Deadline deadline, Intent intent, SourceLocation where = SourceLocation::current());
  // Without blocking the caller (Pool::acquire_async()'s contract): `callback` gets the lease
  // or the error exactly once, on this thread when it is decided at once, else on the thread
  // that hands a connection over, the clock's timer thread at the deadline, or the thread that
  // cancels or destroys the cluster (`shutting_down`). An endpoint refusing before anything
  // was sent moves the request on to the next, as acquire() does, on the thread that learnt
  // it. No thread per waiter: each is a queued request of one endpoint's pool. Intents any and
  // write (the write's role check reads what the connection knows; no I/O); a read may have
  // to probe a replica, so it is invalid_argument here: use acquire(). Errors of the call:
  // invalid_argument (empty callback, a read intent); nothing is queued then.
  Result<PendingClusterAcquire> acquire_async(Deadline deadline, ClusterAcquireCallback callback,
                                              Intent intent = Intent::any(),
                                              SourceLocation where = SourceLocation::current());

  // Runtime changes. Each is validated whole first and refused whole (invalid_config, the
  // cluster as it was) when anything in it is invalid.
  // Adds an endpoint: its pool starts (config.pool.init_mode), then it takes traffic (ramped
  // over config.warmup).
  Status add_endpoint(EndpointSpec spec);
  // Stops sending new acquires to it at once, waits up to `grace` for its leases to return,
  // then closes its pool (leases still out are closed when they return; a warning says so).
  // Refused when the endpoint is unknown or the last one.
  Status remove_endpoint(std::string_view name, Duration grace);
  // Makes the endpoint set `endpoints`: new names are added, missing ones removed (drained
  // as above), kept ones take the new weight and priority (their connector stays: see
  // rotate_credentials).
  Status update_endpoints(std::vector<EndpointSpec> endpoints, Duration grace);
  // Every new connection to `name` uses `connector` (new credentials) from now on, including
  // connects already in flight (they reconnect); the connections open now are retired at
  // random times over `window` (0..24h; Pool::retire_connections), so the server sees no
  // reconnect storm and no call fails.
  Status rotate_credentials(std::string_view name, std::shared_ptr<Connector> connector, Duration window);

  ClusterStats stats() const;
  // The endpoints' pools and breakers, in the order of stats().endpoints.
  std::vector<EndpointParts> endpoint_parts() const;
  const Clock& clock() const noexcept;
  const ClusterConfig& config() const noexcept;  // as created (endpoints: see stats())
  std::shared_ptr<detail::ClusterCore> core() const noexcept { return core_; }

 private:
  explicit Cluster(std::shared_ptr<detail::ClusterCore> core) noexcept;
  std::shared_ptr<detail::ClusterCore> core_;
};

}  // namespace reservoir::cluster
