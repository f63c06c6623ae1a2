// Private: ClusterCore, the state behind a Cluster handle and its leases.
//
// Locking: mu_ guards every endpoint's picking and outlier fields and the endpoint list; it is
// held only for decisions (no I/O, no user code: log lines are written after unlocking).
// change_mu_ serialises runtime changes, whose pool creation and draining run outside mu_.
// Endpoints are shared_ptrs: a lease or an attempt keeps its endpoint (and its pool) alive
// after a change removed it from the list.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "reservoir/breaker.hpp"
#include "reservoir/cluster/cluster.hpp"
#include "reservoir/random.hpp"
#include "rotating_connector.hpp"

namespace reservoir::cluster::detail {

struct Endpoint {
  std::string name;
  std::shared_ptr<RotatingConnector> connector;
  std::shared_ptr<CircuitBreaker> breaker;
  std::unique_ptr<Pool> pool;
  TimePoint added_at{};
  bool ramps = false;  // added at runtime: weight ramps over ClusterConfig::warmup

  // Under ClusterCore::mu_.
  std::uint32_t weight = 1;
  std::uint32_t priority = 0;
  bool draining = false;
  bool ejected = false;
  TimePoint ejected_until{};
  std::uint32_t ejection_level = 0;
  std::uint32_t consecutive = 0;
  std::uint64_t interval_calls = 0;
  std::uint64_t interval_failures = 0;
  double latency_ns = 0;  // decayed average of successful operations' durations
  bool has_latency = false;
  TimePoint latency_at{};
  double rr_current = 0;  // smooth weighted round robin
  std::uint64_t picks = 0, successes = 0, failures = 0, ejections = 0, rotations = 0;

  // Routing (route.cpp), under ClusterCore::mu_.
  EndpointRole role = EndpointRole::unknown;
  TimePoint role_at{};    // when a connection last said it
  TimePoint status_at{};  // when a probe last measured (or began measuring) lag and position
  bool has_status = false;
  std::uint64_t replayed = 0;
  Duration lag{0};
  bool beyond_bound = false;  // the role source's own lag verdict (RoleReport::beyond_bound)
  std::uint64_t role_changes = 0, lag_skips = 0;
  std::string last_error;  // of its pool's last failed acquire, for a read's refusal
};

using Avoid = std::vector<const Endpoint*>;

// Which endpoints a routed pick considers (route.cpp).
enum class Want : std::uint8_t {
  any,
  replica,        // reads: replicas that may serve it (and endpoints of unknown role)
  primary,        // writes, and reads falling back: the primary (and endpoints of unknown role)
  stale_replica,  // writes with no primary: replicas whose role is old enough to re-check
};

// What an acquire_async() in flight reaches the core through. Its outcomes arrive on pool
// threads (a connect thread, a returning one), which must never destroy the cluster (and
// so a pool from its own thread): the gate is entered for each step, and ~Cluster closes it,
// waiting for the steps in progress, before it lets go of the core.
class AsyncGate {
 public:
  explicit AsyncGate(ClusterCore& core) noexcept : core_(&core) {}
  // The core, or null once closed; leave() after.
  ClusterCore* enter() noexcept;
  void leave() noexcept;
  // No step starts after; waits for those in progress (not for one on this very thread: a
  // callback that destroys its cluster).
  void close() noexcept;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t busy_ = 0;
  bool closed_ = false;
  ClusterCore* core_;
};

class ClusterCore : public std::enable_shared_from_this<ClusterCore> {
 public:
  ClusterCore(ClusterConfig config, ClusterOptions options);
  ~ClusterCore();

  Status start();
  void shutdown() noexcept;

  struct Picked {
    Lease lease;
    std::shared_ptr<Endpoint> endpoint;
  };
  // A lease from a serving endpoint, preferring one not in `avoid`; moves on to another
  // endpoint when one refuses before anything was sent.
  // With a routed intent (routing.hpp) only endpoints of the right role and state.
  Result<Picked> acquire(Deadline deadline, SourceLocation where, const Avoid& avoid, const Intent& intent = {});
  Result<ClusterLease> acquire_lease(Deadline deadline, SourceLocation where, const Intent& intent = {});
  // Without blocking (async.cpp): intents any and write only (a read may probe a replica).
  Result<PendingClusterAcquire> acquire_async(Deadline deadline, ClusterAcquireCallback callback, const Intent& intent,
                                              SourceLocation where);

  // An acquire's walk over the endpoints: where it has been and its last error.
  struct Walk {
    Avoid tried, primaries;
    std::optional<Error> last;
    bool fallback = false;  // the endpoint picked last is the primary serving a read
    std::vector<std::pair<const Endpoint*, std::string>> refusals;  // each endpoint's error, for a read's
  };
  // The next endpoint to try, or the error that ends the walk.
  Result<std::shared_ptr<Endpoint>> next_endpoint(Walk& w, const Avoid& avoid, const Intent& intent);
  // A lease of `e` did not suit the intent (wrong role, too far behind): try another.
  void passed_over(Walk& w, Endpoint& e, const Intent& intent);
  // `e`'s pool refused with `error` (kept in w.last): true when another endpoint may serve.
  bool failed_on(Walk& w, Endpoint& e, Error error, Deadline deadline);
  void count_fallback(const Walk& w);
  ClusterLease lease_of(Lease lease, std::shared_ptr<Endpoint> endpoint);
  // After a routed checkout: whether the lease may serve `intent` (probing `e` if its status is
  // old). False: give the lease back and pick another endpoint.
  bool admit(Endpoint& e, Lease& lease, const Intent& intent, Deadline deadline, bool& fallback);
  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }
  const std::shared_ptr<AsyncGate>& gate() const noexcept { return gate_; }

  // Routing (route.cpp). The role source, or null when the cluster does not route.
  RoleSource* roles() const noexcept { return config_.routing.roles.get(); }
  bool routed(const Intent& intent) const noexcept { return roles() != nullptr && intent.access != Access::any; }
  // What `conn` (of `e`) says about its server's role, taken at a checkout or return.
  void observe(Endpoint& e, Connection& conn) noexcept;
  EndpointRole role_of(const Endpoint& e) const noexcept;
  // A write on `e` was refused as a replica's: it is one.
  void wrong_role(Endpoint& e) noexcept;

  // An outcome for the outlier detector; `latency` only for a timed success.
  void record(Endpoint& e, bool failed, std::optional<Duration> latency) noexcept;

  Status update(std::vector<EndpointSpec> endpoints, Duration grace);
  Status add(EndpointSpec spec);
  Status remove(std::string_view name, Duration grace);
  Status rotate(std::string_view name, std::shared_ptr<Connector> connector, Duration window);

  ClusterStats stats() const;
  std::size_t endpoint_count() const;
  // Leases it can lend at once: the pool size times the endpoints not draining.
  std::size_t capacity() const noexcept;
  std::vector<EndpointParts> endpoint_parts() const;
  const Clock& clock() const noexcept { return clock_; }
  const ClusterConfig& config() const noexcept { return config_; }

 private:
  using Logs = std::vector<std::string>;

  // picking (pick.cpp)
  std::shared_ptr<Endpoint> pick_locked(TimePoint now, const Avoid& avoid, const Avoid& tried, Want want = Want::any,
                                        const Intent& intent = {});
  Endpoint* choose_locked(const std::vector<Endpoint*>& candidates, TimePoint now);
  double effective_weight(const Endpoint& e, TimePoint now) const noexcept;
  bool serving_locked(const Endpoint& e) const noexcept;
  Error no_endpoint_error_locked(TimePoint now) const;

  // routing (route.cpp)
  bool wanted_locked(const Endpoint& e, Want want, const Intent& intent, TimePoint now) const noexcept;
  // `tried` is restored before returning; `primaries` are skipped by reads only while a
  // replica may serve.
  std::shared_ptr<Endpoint> pick_routed_locked(TimePoint now, const Avoid& avoid, Avoid& tried, const Avoid& primaries,
                                               const Intent& intent, bool& fallback);
  bool admit_read(Endpoint& e, Connection& conn, Lease& lease, const Intent& intent, Deadline deadline, bool& fallback);
  // One probe of `e`'s role, lag and position on `conn`; false (the lease refused) if it failed.
  bool probe_status(Endpoint& e, Connection& conn, Lease& lease, Deadline deadline);
  bool refused(Endpoint& e, Lease& lease, const Error& error) noexcept;
  void set_role_locked(Endpoint& e, EndpointRole role, TimePoint now, Logs& logs) noexcept;
  Error no_primary_error_locked() const;
  // A read none of whose endpoints served: why, endpoint by endpoint (a replica's lag beyond
  // the bound, the primary's connect error or state).
  Error no_reader_error_locked(const Walk& w, TimePoint now) const;
  // `e`, a replica with a status, lags beyond the bound (the cluster's or its source's).
  bool lagging_locked(const Endpoint& e) const noexcept;

  // outlier detection (outlier.cpp)
  // Ends the ejections that are over. const: stats() calls it too (the endpoints, not the
  // list, change; under mu_ like every endpoint field).
  void refresh_ejections_locked(TimePoint now) const noexcept;
  bool eject_locked(Endpoint& e, TimePoint now, const std::string& why, Logs& logs);
  void evaluate_locked(TimePoint now, Logs& logs);
  void flush(Logs& logs) noexcept;

  // changes (changes.cpp)
  Result<std::shared_ptr<Endpoint>> make_endpoint(const EndpointSpec& spec, bool ramps, std::size_t index);
  std::vector<EndpointSpec> specs_locked() const;

  const ClusterConfig config_;
  Clock& clock_;
  const std::shared_ptr<Logger> logger_;
  const ClusterOptions options_;

  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Endpoint>> endpoints_;
  std::vector<Endpoint*> fresh_, all_;  // pick_locked()'s scratch lists
  Random random_;
  TimePoint next_evaluation_{};
  std::uint64_t failovers_ = 0;
  std::uint64_t no_endpoint_ = 0;
  std::uint64_t read_fallbacks_ = 0, write_reroutes_ = 0;
  std::size_t endpoints_made_ = 0;

  std::mutex change_mu_;
  std::atomic<bool> closed_{false};
  const std::shared_ptr<AsyncGate> gate_ = std::make_shared<AsyncGate>(*this);
};

}  // namespace reservoir::cluster::detail
