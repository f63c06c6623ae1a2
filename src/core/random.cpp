#include "reservoir/random.hpp"

#include <random>

namespace reservoir {

namespace {
// splitmix64 spreads any seed, even 0 or 1, over xoshiro's 256-bit state, which must not be
// all zero.
std::uint64_t splitmix64(std::uint64_t& x) noexcept {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
}  // namespace

Random::Random(std::uint64_t seed) noexcept {
  for (auto& word : s_) word = splitmix64(seed);
}

Random Random::from_os() {
  std::random_device device;
  const std::uint64_t seed = (static_cast<std::uint64_t>(device()) << 32) ^ device();
  return Random(seed);
}

Duration Random::between(Duration lo, Duration hi) noexcept {
  if (hi <= lo) return lo;
  const auto span = static_cast<std::uint64_t>((hi - lo).count());
  if (span == std::numeric_limits<std::uint64_t>::max()) return lo + Duration(static_cast<Duration::rep>(next() >> 1));
  // Modulo bias is below 2^-40 for any span a backoff uses; not worth a rejection loop.
  return lo + Duration(static_cast<Duration::rep>(next() % (span + 1)));
}

}  // namespace reservoir
