// reservoir/random.hpp — Random: a small, seedable, non-global random source for jitter.
//
// Backoff jitter and lifetime jitter need randomness that tests can replay, so the source is a
// value passed in (Envoy's RandomGenerator), never a global. xoshiro256** seeded through
// splitmix64: fast, tiny state, and good enough for spreading retries (not for secrets).
// Not thread-safe: give each thread or each call its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>

#include "reservoir/clock.hpp"

namespace reservoir {

class Random {
 public:
  using result_type = std::uint64_t;

  // The same seed always yields the same sequence.
  explicit Random(std::uint64_t seed) noexcept;
  // Seeded from the operating system (std::random_device); for production defaults.
  static Random from_os();

  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }
  result_type operator()() noexcept { return next(); }

  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1), 53 bits of precision.
  double uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  // Uniform in [lo, hi] (both included); returns lo when hi <= lo.
  Duration between(Duration lo, Duration hi) noexcept;

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

}  // namespace reservoir
