#include <gtest/gtest.h>

#include "reservoir/histogram.hpp"
#include "reservoir/stats.hpp"

using namespace reservoir;
using namespace std::chrono_literals;

TEST(LatencyHistogram, BucketsAreMonotonicAndBoundTheirValues) {
  int last = -1;
  for (std::uint64_t ns : {0ull, 1ull, 7ull, 8ull, 9ull, 100ull, 1000ull, 123456ull, 1ull << 40}) {
    const int b = LatencyHistogram::bucket_of(ns);
    EXPECT_GE(b, last);
    EXPECT_GE(LatencyHistogram::bucket_upper(b), ns);
    // Within 12.5% above the value.
    EXPECT_LE(static_cast<double>(LatencyHistogram::bucket_upper(b)), static_cast<double>(ns) * 1.125 + 1);
    last = b;
  }
}

TEST(LatencyHistogram, Percentiles) {
  LatencyHistogram h;
  for (int i = 1; i <= 100; ++i) h.record(std::chrono::microseconds(i));
  const LatencySummary s = h.summary();
  EXPECT_EQ(s.count, 100u);
  EXPECT_NEAR(static_cast<double>(s.p50.count()), 50'000, 50'000 * 0.13);
  EXPECT_NEAR(static_cast<double>(s.p95.count()), 95'000, 95'000 * 0.13);
  EXPECT_NEAR(static_cast<double>(s.p99.count()), 99'000, 99'000 * 0.13);
  EXPECT_EQ(s.max, 100us);
  EXPECT_EQ(s.min, 1us);
  EXPECT_EQ(s.avg, Duration(50'500));
}

TEST(LatencyHistogram, ZerosCount) {
  LatencyHistogram h;
  h.record(10ms);
  const LatencySummary s = h.summary(99);
  EXPECT_EQ(s.count, 100u);
  EXPECT_EQ(s.p50, Duration(0));
  EXPECT_EQ(s.p99, Duration(0));
  EXPECT_EQ(s.max, 10ms);
  EXPECT_EQ(s.min, Duration(0));
}

TEST(LatencyHistogram, EmptyIsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.summary().count, 0u);
  EXPECT_EQ(h.summary().p99, Duration(0));
}

namespace reservoir {
namespace {

TEST(HistogramBuckets, CumulativeCountsAtTheBoundsWithZerosAndSum) {
  LatencyHistogram h;
  h.record(std::chrono::microseconds(50));
  h.record(std::chrono::milliseconds(3));
  h.record(std::chrono::milliseconds(3));
  h.record(std::chrono::seconds(20));  // above every bound: only in count
  const std::vector<Duration> bounds{std::chrono::microseconds(100), std::chrono::milliseconds(5),
                                     std::chrono::seconds(10)};
  const HistogramBuckets b = h.buckets(bounds, 2);  // two fast-path acquires: zero wait
  ASSERT_EQ(b.cumulative.size(), 3u);
  EXPECT_EQ(b.cumulative[0], 3u);  // 2 zeros + 50 us
  EXPECT_EQ(b.cumulative[1], 5u);
  EXPECT_EQ(b.cumulative[2], 5u);
  EXPECT_EQ(b.count, 6u);
  EXPECT_EQ(b.sum, std::chrono::microseconds(50) + std::chrono::milliseconds(6) + std::chrono::seconds(20));
}

TEST(PoolStatsFields, ToStringNamesEveryGaugeAndCounterOfTheList) {
  PoolStats s;
  std::uint64_t v = 1;
  std::vector<std::string> names;
  s.for_each_gauge([&](std::string_view n, std::uint64_t, const char*) { names.emplace_back(n); });
  s.for_each_counter([&](std::string_view n, std::uint64_t, const char*) { names.emplace_back(n); });
  s.size = v++;
  s.slow_acquires = 42;
  const std::string text = s.to_string();
  for (const auto& n : names) EXPECT_NE(text.find(n + "="), std::string::npos) << n;
  EXPECT_NE(text.find("slow_acquires=42"), std::string::npos) << text;
  EXPECT_EQ(names.size(), 18u);
}

}  // namespace
}  // namespace reservoir
