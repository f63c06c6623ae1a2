#include "reservoir/histogram.hpp"

#include <bit>

namespace reservoir {

int LatencyHistogram::bucket_of(std::uint64_t ns) noexcept {
  if (ns < (1u << kSubBits)) return static_cast<int>(ns);
  const int msb = 63 - std::countl_zero(ns);
  const int shift = msb - kSubBits;
  const int sub = static_cast<int>((ns >> shift) & ((1u << kSubBits) - 1));
  return ((shift + 1) << kSubBits) + sub;
}

std::uint64_t LatencyHistogram::bucket_upper(int bucket) noexcept {
  if (bucket < (1 << kSubBits)) return static_cast<std::uint64_t>(bucket);
  const int shift = (bucket >> kSubBits) - 1;
  const std::uint64_t sub = static_cast<std::uint64_t>(bucket & ((1 << kSubBits) - 1));
  const std::uint64_t base = ((1ull << kSubBits) | sub) << shift;
  return base + ((1ull << shift) - 1);
}

void LatencyHistogram::record(Duration d) noexcept {
  const std::uint64_t ns = d.count() < 0 ? 0 : static_cast<std::uint64_t>(d.count());
  buckets_[static_cast<std::size_t>(bucket_of(ns))].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(ns, std::memory_order_relaxed);
  std::uint64_t seen = max_ns_.load(std::memory_order_relaxed);
  while (ns > seen && !max_ns_.compare_exchange_weak(seen, ns, std::memory_order_relaxed)) {
  }
  seen = min_ns_.load(std::memory_order_relaxed);
  while (ns < seen && !min_ns_.compare_exchange_weak(seen, ns, std::memory_order_relaxed)) {
  }
}

LatencySummary LatencyHistogram::summary(std::uint64_t extra_zeros) const noexcept {
  std::array<std::uint64_t, kBuckets> counts{};
  const std::uint64_t zeros = zeros_.load(std::memory_order_relaxed) + extra_zeros;
  std::uint64_t total = zeros;
  for (int i = 0; i < kBuckets; ++i) {
    counts[static_cast<std::size_t>(i)] = buckets_[static_cast<std::size_t>(i)].load(std::memory_order_relaxed);
    total += counts[static_cast<std::size_t>(i)];
  }
  LatencySummary s;
  s.count = total;
  if (total == 0) return s;
  s.avg = Duration(static_cast<Duration::rep>(sum_ns_.load(std::memory_order_relaxed) / total));
  const std::uint64_t recorded = total - zeros;
  s.max = recorded ? Duration(static_cast<Duration::rep>(max_ns_.load(std::memory_order_relaxed))) : Duration(0);
  s.min = zeros ? Duration(0) : Duration(static_cast<Duration::rep>(min_ns_.load(std::memory_order_relaxed)));
  auto percentile = [&](double q) {
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total - 1)) + 1;
    if (rank <= zeros) return Duration(0);
    std::uint64_t seen = zeros;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts[static_cast<std::size_t>(i)];
      if (seen >= rank) {
        const auto upper = static_cast<Duration::rep>(bucket_upper(i));
        return std::min(Duration(upper), s.max);
      }
    }
    return s.max;
  };
  s.p50 = percentile(0.50);
  s.p95 = percentile(0.95);
  s.p99 = percentile(0.99);
  return s;
}

const std::vector<Duration>& default_latency_bounds() {
  static const std::vector<Duration> bounds = [] {
    std::vector<Duration> v;
    for (std::int64_t ns : kDefaultLatencyBoundsNs) v.emplace_back(ns);
    return v;
  }();
  return bounds;
}

HistogramBuckets SingleWriterHistogram::to_buckets(const std::array<std::uint64_t, kBuckets>& counts,
                                                   std::uint64_t sum_ns) {
  HistogramBuckets h;
  h.bounds = default_latency_bounds();
  h.cumulative.reserve(h.bounds.size());
  std::uint64_t running = 0;
  for (std::size_t b = 0; b < kBuckets; ++b) {
    running += counts[b];
    if (b < h.bounds.size()) h.cumulative.push_back(running);
  }
  h.count = running;
  h.sum = Duration(static_cast<Duration::rep>(sum_ns));
  return h;
}

HistogramBuckets LatencyHistogram::buckets(const std::vector<Duration>& bounds, std::uint64_t extra_zeros) const {
  HistogramBuckets h;
  h.bounds = bounds;
  h.cumulative.assign(bounds.size(), 0);
  const std::uint64_t zeros = zeros_.load(std::memory_order_relaxed) + extra_zeros;
  h.count = zeros;
  std::size_t b = 0;
  std::uint64_t running = zeros;
  for (int i = 0; i < kBuckets; ++i) {
    const std::uint64_t n = buckets_[static_cast<std::size_t>(i)].load(std::memory_order_relaxed);
    if (n == 0) continue;
    const auto upper = static_cast<Duration::rep>(bucket_upper(i));
    while (b < bounds.size() && bounds[b].count() < upper) h.cumulative[b++] = running;
    running += n;
  }
  while (b < bounds.size()) h.cumulative[b++] = running;
  h.count = running;
  h.sum = Duration(static_cast<Duration::rep>(sum_ns_.load(std::memory_order_relaxed)));
  return h;
}

void LatencyHistogram::reset() noexcept {
  for (auto& b : buckets_) b.store(0, std::memory_order_relaxed);
  zeros_.store(0);
  sum_ns_.store(0);
  max_ns_.store(0);
  min_ns_.store(UINT64_MAX);
}

}  // namespace reservoir
