// reservoir/config.hpp — PoolConfig: every knob of a pool, validated, and read from the
// environment.
//
// A plain aggregate: build it with designated initializers, then Pool::create() validates it.
// Fields may be added in later versions (always with a default); don't rely on positional
// initialization.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "reservoir/connector.hpp"
#include "reservoir/error.hpp"

namespace reservoir {

using std::chrono::milliseconds;

// What Pool::create() does before it returns.
enum class InitMode {
  fail_fast,  // open one connection; if that fails, create() returns the error
  wait,       // open min_idle connections, max_concurrent_connects at a time; the first failure is the error
  lazy,       // open nothing; the maintainer fills min_idle in the background
};

std::string_view to_string(InitMode mode) noexcept;

struct PoolConfig {
  // Shown in logs and metrics.
  std::string name = "reservoir";
  // Idle connections the maintainer keeps open (0..max_size).
  std::size_t min_idle = 1;
  // Hard cap on open connections, leased or idle (1..kMaxPoolSize).
  std::size_t max_size = 10;
  // Default bound of acquire() without an explicit deadline (1 ms..1 h).
  milliseconds acquire_timeout{5000};
  // Bound of one connect attempt, further capped by the caller's deadline (1 ms..1 h).
  milliseconds connect_timeout{5000};
  // Bound of reset (on return), checks and polite close (1 ms..1 h).
  milliseconds io_timeout{2000};
  // A connection is retired when it reaches this age, minus a random jitter (0 = never;
  // else >= 1 s). Idle ones are retired by the maintainer, leased ones when they return.
  milliseconds max_lifetime{30 * 60 * 1000};
  // Random share of max_lifetime taken off each connection's lifetime so connections opened
  // together do not expire together (0.0..0.5).
  double lifetime_jitter = 0.025;
  // Idle connections above min_idle are retired after this long unused (0 = never).
  milliseconds idle_timeout{10 * 60 * 1000};
  // Retire a connection after this many leases (0 = unlimited).
  std::uint64_t max_uses = 0;
  // Check a connection before handing it out, unless it was used within the bypass window.
  bool validate_on_checkout = true;
  milliseconds validation_bypass{500};
  CheckDepth checkout_check = CheckDepth::ping;
  // Background check of connections idle this long (0 = off).
  milliseconds keepalive_interval{2 * 60 * 1000};
  CheckDepth keepalive_check = CheckDepth::ping;
  // Report a lease held longer than this, with where it was acquired (0 = off; else >= 1 ms).
  milliseconds leak_detection_threshold{0};
  // Connects in flight at once (1..kMaxPoolSize; max_size bounds it too); bounds the herd when
  // a server comes back.
  std::size_t max_concurrent_connects = 2;
  // Callers allowed to queue for a connection; one more gets `exhausted` at once (1..1000000).
  std::size_t max_waiters = 10000;
  // After a failed connect, no new connect starts for a backoff that doubles from
  // connect_backoff_initial up to connect_backoff_max (HikariCP uses 10 ms .. 5 s).
  milliseconds connect_backoff_initial{10};
  milliseconds connect_backoff_max{5000};
  // A connect refused at once (a refused or reset TCP connection, a server still starting)
  // costs nearly nothing, unlike one that timed out (a blackholed host costs a whole
  // connect_timeout): while callers wait, the backoff after refusals stops growing here, so
  // the pool notices a server that is back within this much (1 ms..1 h; connect_backoff_max
  // caps it too). With no caller waiting (min_idle refill) connect_backoff_max rules.
  milliseconds connect_backoff_refused_max{25};
  // An acquire that takes longer than this is reported (a log line at info and an
  // acquire_slow event with its phases); 0 = off (else 1 ms..1 h). Seed 000 logged > 100 ms.
  milliseconds slow_acquire_threshold{100};
  // How long a queued caller may be bypassed by running callers that find a returned
  // connection first (0 = strict FIFO handoff: every return goes to the oldest waiter; else
  // 1 ms..1 h). Bypassing keeps running threads running when they outnumber connections (a
  // context switch per lease otherwise) at the price of a longer tail for a few waiters.
  milliseconds queue_bypass{1};
  InitMode init_mode = InitMode::lazy;

  static constexpr std::size_t kMaxPoolSize = 4096;

  // OK, or an `invalid_config` error naming the field, the value and what is allowed.
  Status validate() const;

  // `base` overlaid with the environment variables `<prefix><FIELD>` (upper case; durations
  // in milliseconds with an `_MS` suffix, e.g. RESERVOIR_MAX_SIZE=10,
  // RESERVOIR_ACQUIRE_TIMEOUT_MS=2000, RESERVOIR_INIT_MODE=wait). A variable that does not
  // parse, or a result that fails validate(), is an `invalid_config` error naming the
  // variable and its value.
  static Result<PoolConfig> from_env(std::string_view prefix, PoolConfig base);
  static Result<PoolConfig> from_env(std::string_view prefix = "RESERVOIR_");
};

}  // namespace reservoir
