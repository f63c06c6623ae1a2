// reservoir/admin/events.hpp — EventRing: the recent structured events, for /events and health.
//
// A PoolListener (PoolOptions::listener; with another listener, through fan_out()) that keeps the last `capacity` events of interest
// (slow acquires and run() calls, failed connects and checks, leaks with the caller's file:line, closes for a
// reason other than routine recycling) plus the breaker transitions it is told about, as owned
// copies with a sequence number. on_event() takes a short mutex of its own (never a pool's) and
// copies a few strings; it never blocks on I/O. Every text is passed through redact_secrets().
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "reservoir/breaker.hpp"
#include "reservoir/pool_events.hpp"

namespace reservoir::admin {

struct EventRecord {
  std::uint64_t seq = 0;         // 1, 2, ... in arrival order
  std::int64_t unix_ms = 0;      // wall-clock time of arrival
  std::string kind;              // PoolEventKind's name, or "breaker_transition"
  std::string pool;              // empty for a breaker transition
  std::string endpoint;
  std::string reason;            // connection_closed: the CloseReason; breaker: "closed->open"
  double duration_ms = 0;        // connect, acquire or lease age
  double queued_ms = 0;          // acquire_slow
  double connect_ms = 0;         // acquire_slow, operation_slow
  double check_ms = 0;           // acquire_slow, operation_slow
  double call_ms = 0;            // operation_slow: time in the caller's function
  double backoff_ms = 0;         // operation_slow: waits between attempts
  std::uint32_t attempts = 0;    // operation_slow
  std::string error;             // connect_failed, check_failed
  std::string where;             // acquire_slow, leak_suspected: file:line of the caller
};

// Replaces what looks like a credential (`password=...`, `:secret@` in a URL, `sslpassword=`)
// with `***`. Errors are meant to hold none; this is the admin endpoint's second guard.
std::string redact_secrets(std::string_view text);

class EventRing final : public PoolListener, public std::enable_shared_from_this<EventRing> {
 public:
  explicit EventRing(std::size_t capacity = 512) : capacity_(capacity == 0 ? 1 : capacity) {}

  void on_event(const PoolEvent& event) noexcept override;
  void on_breaker_transition(std::string_view endpoint, BreakerState from, BreakerState to) noexcept;
  // Records `breaker`'s transitions from now on (the breaker keeps a weak reference to this).
  void watch(CircuitBreaker& breaker);

  // Events with seq > after_seq, oldest first.
  std::vector<EventRecord> recent(std::uint64_t after_seq = 0) const;

  // The last connect outcome seen for a pool (for /healthz: "no connection possible").
  struct ConnectOutcome {
    bool failed = false;
    std::string error;
  };
  bool last_connect(std::string_view pool, ConnectOutcome& out) const;

 private:
  void push(EventRecord record);  // may throw bad_alloc: callers catch

  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::deque<EventRecord> ring_;
  std::uint64_t next_seq_ = 1;
  std::map<std::string, ConnectOutcome, std::less<>> connects_;  // one per pool name
};

}  // namespace reservoir::admin
