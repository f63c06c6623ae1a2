// reservoir_pool_use_seconds: how long leases are held, recorded per slot at return.
#include "pool_fixture.hpp"

namespace reservoir::testing {
namespace {

using namespace std::chrono_literals;

std::uint64_t at_bound(const HistogramBuckets& h, Duration bound) {
  for (std::size_t i = 0; i < h.bounds.size(); ++i)
    if (h.bounds[i] == bound) return h.cumulative[i];
  ADD_FAILURE() << "no bound " << bound.count();
  return 0;
}

TEST(SingleWriterHistogram, BucketsAreInclusiveUpperBoundsAndSumsAdd) {
  SingleWriterHistogram a, b;
  a.record(0);
  a.record(1'000);      // exactly 1 us: le="1e-06"
  a.record(1'001);      // just above: le="1e-05"
  b.record(20'000'000'000);  // 20 s: only +Inf
  b.record(-5);         // a clock step back counts as zero
  std::array<std::uint64_t, SingleWriterHistogram::kBuckets> counts{};
  std::uint64_t sum = 0;
  a.add_to(counts, sum);
  b.add_to(counts, sum);
  const HistogramBuckets h = SingleWriterHistogram::to_buckets(counts, sum);
  EXPECT_EQ(h.bounds, default_latency_bounds());
  EXPECT_EQ(at_bound(h, 1us), 3u);
  EXPECT_EQ(at_bound(h, 10us), 4u);
  EXPECT_EQ(at_bound(h, 10s), 4u);
  EXPECT_EQ(h.count, 5u);
  EXPECT_EQ(h.sum, Duration(2'001 + 20'000'000'000));
}

TEST_F(PoolTest, UseTimeCountsEveryLeaseWithItsHoldTime) {
  Pool pool = make_pool(quiet_config());
  { auto lease = pool.acquire(in(1s)); ASSERT_TRUE(lease); }                         // held 0
  { auto lease = pool.acquire(in(1s)); ASSERT_TRUE(lease); clock.advance(3ms); }    // held 3 ms
  { auto lease = pool.acquire(in(1s)); ASSERT_TRUE(lease); clock.advance(2s); lease->discard(); }
  {
    auto lease = pool.acquire(in(1s));
    ASSERT_TRUE(lease);
    clock.advance(40ms);
    connector->close(lease->detach(), in(1s));  // a detached lease ends there too
  }
  const PoolStats s = pool.stats();
  const HistogramBuckets& h = s.use_time_buckets;
  EXPECT_EQ(h.count, 4u);
  EXPECT_EQ(h.count, s.releases);
  EXPECT_EQ(at_bound(h, 1us), 1u);
  EXPECT_EQ(at_bound(h, 5ms), 2u);
  EXPECT_EQ(at_bound(h, 50ms), 3u);
  EXPECT_EQ(at_bound(h, 2500ms), 4u);
  EXPECT_EQ(h.sum, 3ms + 2s + 40ms);
}

TEST_F(PoolTest, UseTimeOfALeaseStillOutIsNotCountedYet) {
  Pool pool = make_pool(quiet_config());
  auto lease = pool.acquire(in(1s));
  ASSERT_TRUE(lease);
  clock.advance(1s);
  EXPECT_EQ(pool.stats().use_time_buckets.count, 0u);
}

TEST(PoolStatsFields, EveryHistogramOfTheListIsVisited) {
  PoolStats s;
  std::vector<std::string> metrics;
  s.for_each_histogram([&](std::string_view, std::string_view metric, const HistogramBuckets&, const char*) {
    metrics.emplace_back(metric);
  });
  EXPECT_EQ(metrics, (std::vector<std::string>{"acquire_wait_seconds", "connect_seconds", "use_seconds"}));
}

}  // namespace
}  // namespace reservoir::testing
