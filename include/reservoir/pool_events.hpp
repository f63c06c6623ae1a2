// reservoir/pool_events.hpp — structured events a pool reports beside its log lines.
//
// A listener sees what the pool did to its connections and what its callers went through:
// metrics, dashboards and slow-operation logs are built on these, never by parsing log text.
// Events are delivered synchronously on the thread where they happen, never under a pool
// lock; a listener must be quick and must not block (hand the event to a queue if it must).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "reservoir/clock.hpp"
#include "reservoir/error.hpp"
#include "reservoir/source_location.hpp"
#include "reservoir/stats.hpp"

namespace reservoir {

enum class PoolEventKind : std::uint8_t {
  connection_created,  // a connect succeeded; `duration` is how long it took
  connect_failed,      // a connect failed; `error` says why, `duration` how long it took
  connection_closed,   // the pool closed a connection; `reason` says why
  check_failed,        // a checkout or keepalive check failed; `error` says why
  acquire_slow,        // an acquire took longer than PoolConfig::slow_acquire_threshold
  leak_suspected,      // a lease was held past leak_detection_threshold; `where` acquired it
  operation_slow,      // a run() took longer than its slow threshold; phases, call, backoff, attempts
};

std::string_view to_string(PoolEventKind kind) noexcept;

// Where an acquire spent its time (acquire_slow, operation_slow: summed over attempts).
struct AcquirePhases {
  Duration queued{0};   // waiting in the queue for a returned connection or a connect slot
  Duration connect{0};  // the connect of the fresh connection this acquire was handed
  Duration check{0};    // the checkout check
};

struct PoolEvent {
  PoolEventKind kind = PoolEventKind::connection_created;
  std::string_view pool;                     // PoolConfig::name
  std::string_view endpoint;                 // the connector's endpoint (never a secret)
  CloseReason reason = CloseReason::kCount;  // connection_closed
  Duration duration{0};                      // connect time, acquire time, or lease age
  const Error* error = nullptr;              // connect_failed, check_failed; operation_slow: its failure
  AcquirePhases phases;                      // acquire_slow, operation_slow
  SourceLocation where{};                    // acquire_slow, leak_suspected, operation_slow: the caller
  // operation_slow: time in the caller's function, waiting between attempts, attempts made.
  Duration call{0};
  Duration backoff{0};
  std::uint32_t attempts = 0;
};

class PoolListener {
 public:
  virtual ~PoolListener() = default;
  // Called from any pool thread, possibly concurrently. noexcept: a listener that lets an
  // exception escape terminates the process, so catch inside.
  virtual void on_event(const PoolEvent& event) noexcept = 0;
};

// One line of `key=value` fields, the fields that matter for the event's kind:
//   pool=orders endpoint=127.0.0.1:5432 event=connect_failed took_ms=12 error="unavailable: ..."
// Times in whole milliseconds; the error in double quotes (`"`, `\` and newlines escaped).
std::string to_string(const PoolEvent& event);

// Hands every event to each of `listeners` in order (a metrics ring and a log adapter, say).
// Empty entries are skipped.
std::shared_ptr<PoolListener> fan_out(std::vector<std::shared_ptr<PoolListener>> listeners);

}  // namespace reservoir
