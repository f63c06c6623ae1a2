// reservoir/histogram.hpp — a lock-free latency histogram and its summary.
//
// Log-linear buckets (8 per power of two) over nanoseconds: recording is one relaxed atomic
// increment, percentiles are within 12.5% of the true value.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include "reservoir/clock.hpp"

namespace reservoir {

struct LatencySummary {
  std::uint64_t count = 0;
  Duration avg{0};
  Duration p50{0};
  Duration p95{0};
  Duration p99{0};
  Duration max{0};
  Duration min{0};
};

// Cumulative counts at chosen upper bounds, as Prometheus histograms expose them: bucket i
// counts the samples <= bounds[i]; `count` and `sum` cover every sample.
struct HistogramBuckets {
  std::vector<Duration> bounds;
  std::vector<std::uint64_t> cumulative;
  std::uint64_t count = 0;
  Duration sum{0};
};

// Prometheus' default latency bounds, in seconds 0.005 .. 10, plus 1 us .. 1 ms for a pool
// whose waits are mostly far below a millisecond. The array is for hot paths that bucket
// without a vector (SingleWriterHistogram); both are the same list.
inline constexpr std::array<std::int64_t, 15> kDefaultLatencyBoundsNs{
    1'000,         10'000,        100'000,         1'000'000,     5'000'000,
    10'000'000,    25'000'000,    50'000'000,      100'000'000,   250'000'000,
    500'000'000,   1'000'000'000, 2'500'000'000,   5'000'000'000, 10'000'000'000};
const std::vector<Duration>& default_latency_bounds();

// Counts at kDefaultLatencyBoundsNs (plus +Inf) written by ONE thread at a time (a slot's
// holder), so record() is plain relaxed loads and stores: no locked instruction, no shared
// cache line. Readers sum many of them (add_to) and may see a sample half-recorded (its count
// without its sum): fine for monitoring.
class SingleWriterHistogram {
 public:
  static constexpr std::size_t kBuckets = kDefaultLatencyBoundsNs.size() + 1;

  void record(std::int64_t ns) noexcept {
    if (ns < 0) ns = 0;
    std::size_t b = 0;
    while (b < kDefaultLatencyBoundsNs.size() && ns > kDefaultLatencyBoundsNs[b]) ++b;
    bump(counts_[b], 1);
    bump(sum_ns_, static_cast<std::uint64_t>(ns));
  }
  // Adds this histogram's counts (per bucket, not cumulative) and sum to `counts` and `sum_ns`.
  void add_to(std::array<std::uint64_t, kBuckets>& counts, std::uint64_t& sum_ns) const noexcept {
    for (std::size_t b = 0; b < kBuckets; ++b) counts[b] += counts_[b].load(std::memory_order_relaxed);
    sum_ns += sum_ns_.load(std::memory_order_relaxed);
  }
  // Cumulative HistogramBuckets at default_latency_bounds() from summed per-bucket counts.
  static HistogramBuckets to_buckets(const std::array<std::uint64_t, kBuckets>& counts, std::uint64_t sum_ns);

 private:
  static void bump(std::atomic<std::uint64_t>& a, std::uint64_t n) noexcept {
    a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::atomic<std::uint64_t> sum_ns_{0};  // first: a short hold touches one cache line
  std::array<std::atomic<std::uint64_t>, kBuckets> counts_{};
};

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 3;
  static constexpr int kBuckets = 64 << kSubBits;

  void record(Duration d) noexcept;
  // Adds `n` samples of zero without touching the buckets' cache lines on the hot path.
  void record_zeros(std::uint64_t n) noexcept { zeros_.fetch_add(n, std::memory_order_relaxed); }
  LatencySummary summary(std::uint64_t extra_zeros = 0) const noexcept;
  // Counts at `bounds` (ascending). A log-linear bucket is counted under the first bound at
  // or above its upper edge, so a count may lag by samples within 12.5% below a bound.
  HistogramBuckets buckets(const std::vector<Duration>& bounds, std::uint64_t extra_zeros = 0) const;
  void reset() noexcept;

  static int bucket_of(std::uint64_t ns) noexcept;
  static std::uint64_t bucket_upper(int bucket) noexcept;

 private:
  std::array<std::atomic<std::uint64_t>, kBuckets> buckets_{};
  std::atomic<std::uint64_t> zeros_{0};
  std::atomic<std::uint64_t> sum_ns_{0};
  std::atomic<std::uint64_t> max_ns_{0};
  std::atomic<std::uint64_t> min_ns_{UINT64_MAX};
};

}  // namespace reservoir
