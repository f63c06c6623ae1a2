// reservoir/backoff.hpp — BackoffConfig and Backoff: how long to wait before each retry.
//
// Exponential growth (initial × multiplier^n, capped) spread by jitter so that callers failing
// together do not retry together. The jitter modes none / full / equal / decorrelated follow
// the AWS Architecture Blog ("Exponential Backoff And Jitter", Marc Brooker, 2015);
// `proportional` is the ±fraction spread HikariCP-style pools use. The random source is passed
// in, so a seeded sequence is reproducible.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "reservoir/clock.hpp"
#include "reservoir/error.hpp"
#include "reservoir/random.hpp"

namespace reservoir {

// With exp = min(cap, initial × multiplier^n) for the n-th retry (n from 0):
enum class Jitter {
  none,          // exp
  full,          // uniform [0, exp]
  equal,         // exp/2 + uniform [0, exp/2]
  decorrelated,  // min(cap, uniform [initial, previous × 3]); previous starts at initial.
                 // The multiplier is not used: 3 is the blog's constant.
  proportional,  // min(cap, exp × uniform [1 - jitter_fraction, 1 + jitter_fraction])
};

std::string_view to_string(Jitter jitter) noexcept;

// Plain data; fields may be added later (always with a default).
struct BackoffConfig {
  // First delay (1 us .. cap).
  Duration initial = std::chrono::milliseconds(500);
  // Growth per retry (1.0 .. 16.0; 1.0 = constant delay).
  double multiplier = 2.0;
  // No delay exceeds this, jitter included (initial .. 1 h).
  Duration cap = std::chrono::seconds(30);
  Jitter jitter = Jitter::proportional;
  // Spread of `proportional` jitter (0.0 .. 1.0); ignored by the other modes.
  double jitter_fraction = 0.25;

  // OK, or invalid_config naming the field (`backoff.initial`), its value and the allowed range.
  Status validate() const;
};

// The delay sequence of one retried call. Cheap to copy; not thread-safe (one per call).
class Backoff {
 public:
  // `config` must have passed validate(); an unchecked config is clamped, never trusted to be
  // sane (a zero multiplier would otherwise collapse every delay to 0).
  explicit Backoff(const BackoffConfig& config) noexcept;

  // The delay before the next retry; advances the sequence.
  Duration next(Random& random) noexcept;
  // The un-jittered delay next() would start from (exp above).
  Duration base() const noexcept { return Duration(static_cast<Duration::rep>(base_ns_)); }
  // Retries computed so far.
  std::uint32_t count() const noexcept { return count_; }
  // Back to the first delay (e.g. after a success).
  void reset() noexcept;

 private:
  BackoffConfig config_;
  double base_ns_;
  Duration previous_;
  std::uint32_t count_ = 0;
};

}  // namespace reservoir
