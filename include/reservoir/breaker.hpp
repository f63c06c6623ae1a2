// reservoir/breaker.hpp — CircuitBreaker: stops calling an endpoint that keeps failing.
//
// closed → open on N consecutive failures, or on a failure rate ≥ X over the last M calls once
// at least `minimum_calls` were seen; open rejects at once (circuit_open, with the time until
// the next probe) for open_time, which grows by a factor on each trip in a row up to a cap;
// then half-open admits K probe calls: a probe success closes, a probe failure re-opens.
// Like Envoy's outlier detector it is fed outcomes and never calls anything itself; the
// half-open transition happens on the first call after open_time (no timer thread).
// It is also a ConnectGate (connect_gate.hpp): a pool built with PoolOptions{.connect_gate =
// breaker} fails acquire() fast while the endpoint is down and lets only the probes connect;
// each admitted connect's ticket carries its permit, so its outcome counts exactly as a call's.
// A connect that failed fast (refused) reopens it for refused_probe_interval only: the next
// probe costs the endpoint nothing, so a server that comes back is found within that interval
// instead of a whole (grown) open time; timeouts and failed calls keep the open time.
// Thread-safe. Rejection in the open state takes no lock and allocates only the message.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "reservoir/clock.hpp"
#include "reservoir/error.hpp"
#include "reservoir/connect_gate.hpp"
#include "reservoir/striped_counter.hpp"

namespace reservoir {

enum class BreakerState : std::uint8_t { closed, open, half_open };

std::string_view to_string(BreakerState state) noexcept;

// Plain data; fields may be added later (always with a default).
struct BreakerConfig {
  // Trip after this many failures in a row (0 = off; else 1 .. 100000).
  std::uint32_t consecutive_failures = 5;
  // Trip when failures / calls over the last `window_calls` calls reach this (0 = off; else
  // 0.0 < x <= 1.0), but only once `minimum_calls` calls were seen since closing.
  double failure_rate = 0.5;
  std::uint32_t window_calls = 20;   // 1 .. 10000
  std::uint32_t minimum_calls = 10;  // 1 .. window_calls
  // Time spent open before probing (1 ms .. 1 h).
  Duration open_time = std::chrono::seconds(5);
  // Each trip in a row (a failed probe) multiplies the open time by this (1.0 .. 100.0; 1.0 =
  // fixed), up to max_open_time (open_time .. 1 h).
  double open_time_multiplier = 1.0;
  Duration max_open_time = std::chrono::seconds(60);
  // Probe calls admitted at once while half-open (1 .. 1000).
  std::uint32_t half_open_probes = 1;
  // When the failure that opened the breaker was a connect through its ConnectGate side that
  // failed without timing out (refused: an RST, a server still starting up), the breaker stays
  // open only this long, if shorter than the open time. Such a probe costs the endpoint
  // nothing, and a restarted server is found within this of accepting connections; while it
  // stays down, at most half_open_probes connects per interval reach it (40/s by default). A
  // connect that timed out (a blackholed host costs a whole connect timeout) and a failed call
  // keep open_time and its growth. 0 = off (always open_time); else 1 ms .. 1 h.
  Duration refused_probe_interval = std::chrono::milliseconds(25);

  // OK, or invalid_config naming the field (`breaker.window_calls`), its value and the range.
  Status validate() const;
};

// Why the breaker last opened.
enum class TripReason : std::uint8_t { none, consecutive_failures, failure_rate, probe_failed };

struct BreakerStats {
  BreakerState state = BreakerState::closed;
  std::uint64_t trips = 0;         // closed/half-open → open transitions
  std::uint64_t rejected = 0;      // calls refused with circuit_open
  std::uint64_t probes = 0;        // half-open calls admitted
  std::uint64_t successes = 0;     // outcomes recorded (stale ones excluded)
  std::uint64_t failures = 0;
};

class CircuitBreaker final : public ConnectGate, public std::enable_shared_from_this<CircuitBreaker> {
 public:
  // Called after each transition, outside the breaker's lock, on the thread that caused it.
  // Under concurrency two callbacks may run in either order; each names both states. A
  // callback must not call add_listener().
  using Listener = std::function<void(BreakerState from, BreakerState to)>;

  // A ticket for one admitted call; hand it back with exactly one record_*().
  struct Permit {
    std::uint64_t generation = 0;  // outcomes from an older state are ignored
    bool probe = false;
  };

  // `name` (an endpoint, never a secret) heads every rejection message. `clock` must outlive
  // the breaker. Errors: invalid_config.
  static Result<std::shared_ptr<CircuitBreaker>> create(std::string name, BreakerConfig config, const Clock& clock);

  // Admits a call, or rejects it. Errors: circuit_open, e.g.
  // `circuit_open: db:5432: open after 5 consecutive failures; next probe in 2300 ms` or
  // `circuit_open: db:5432: half-open, 1 probe in flight`.
  Result<Permit> allow();
  // Like allow() but admits nothing: the error allow() would return now for a non-probe, or
  // OK. A cheap pre-check that avoids work (an acquire) that would be thrown away.
  Status check() const;

  void record_success(Permit permit) noexcept;
  void record_failure(Permit permit) noexcept;
  // The call told nothing about the endpoint (e.g. it never ran); frees a probe slot.
  void record_ignored(Permit permit) noexcept;

  // ConnectGate: one connect is one call, admitted like allow(); the ticket reports its
  // outcome with the permit (a connect admitted before a trip is stale and ignored).
  Result<GateTicket> admit() override;
  // The open time paces reconnects: a pool skips its own backoff for queued callers.
  bool paces_connects() const noexcept override { return true; }

  void add_listener(Listener listener);

  BreakerState state() const noexcept { return state_.load(std::memory_order_acquire); }
  // Zero unless open; then the time until a call may probe.
  Duration time_until_probe() const noexcept;
  BreakerStats stats() const;
  const std::string& name() const noexcept { return name_; }

  struct Key {};  // create() is the only way in; make_shared needs a public constructor.
  CircuitBreaker(Key, std::string name, const BreakerConfig& config, const Clock& clock);

 private:
  // `refused`: a failure of a connect that did not time out (see refused_probe_interval).
  enum class Outcome : std::uint8_t { success, failure, refused, ignored };
  struct Transition {
    BreakerState from = BreakerState::closed;
    BreakerState to = BreakerState::closed;
    bool happened = false;
  };

  struct Admission {
    enum Verdict : std::uint8_t { admit, reject_open, reject_probes } verdict = admit;
    Permit permit;
    TimePoint open_until;
  };

  class Ticket;
  Result<Permit> admit_call();
  Admission admit_locked(TimePoint now, Transition& t);
  void record(Permit permit, Outcome outcome) noexcept;
  Transition record_closed_locked(Outcome outcome);
  Transition open_locked(TripReason reason, Outcome cause);
  Transition close_locked();
  Transition set_state_locked(BreakerState to);
  Error reject_open(TimePoint now, TimePoint until) const;
  Error reject_half_open() const;
  void notify(Transition t) noexcept;

  const std::string name_;
  const BreakerConfig config_;
  const Clock& clock_;

  // Read without the lock by the fast paths; written under mu_.
  std::atomic<BreakerState> state_{BreakerState::closed};
  std::atomic<std::int64_t> open_until_ns_{0};
  std::atomic<std::uint64_t> generation_{1};
  std::atomic<TripReason> trip_reason_{TripReason::none};
  mutable std::atomic<std::uint64_t> rejected_{0};
  // Closed with a full window of successes: one more success changes nothing but the count, so
  // it is counted without the lock (every call of a healthy endpoint records one).
  std::atomic<bool> all_successes_{false};
  StripedCounter lock_free_successes_;  // added to by every call while the window holds only successes

  mutable std::mutex mu_;
  std::vector<std::uint8_t> window_;  // last window_calls outcomes, 1 = failure (ring)
  std::size_t window_next_ = 0;
  std::size_t window_count_ = 0;
  std::size_t window_failures_ = 0;
  std::uint32_t consecutive_ = 0;
  std::uint32_t trips_in_row_ = 0;
  std::uint32_t probes_in_flight_ = 0;
  BreakerStats stats_;

  std::mutex listeners_mu_;
  std::vector<Listener> listeners_;
};

}  // namespace reservoir
