#include "reservoir/retry_budget.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace reservoir {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::shared_ptr<RetryBudget> make(const Clock& clock, RetryBudgetConfig c) {
  auto b = RetryBudget::create(clock, c);
  EXPECT_TRUE(b.ok());
  return std::move(b).value();
}

int spend_all(RetryBudget& b) {
  int n = 0;
  while (b.try_spend_retry()) ++n;
  return n;
}

TEST(RetryBudget, FloorAllowsRetriesWithoutRequestsThenRefuses) {
  ManualClock clock;
  auto b = make(clock, {.ratio = 0.0, .min_retries_per_second = 2, .window = seconds(10)});
  EXPECT_EQ(spend_all(*b), 20);  // 2/s over a 10 s window
  EXPECT_FALSE(b->try_spend_retry());
  EXPECT_EQ(b->stats().rejected, 2u);
}

TEST(RetryBudget, RatioCapsRetriesAtAShareOfRequests) {
  ManualClock clock;
  auto b = make(clock, {.ratio = 0.2, .min_retries_per_second = 0, .window = seconds(10)});
  EXPECT_FALSE(b->try_spend_retry()) << "no requests, no floor: no retry";
  for (int i = 0; i < 100; ++i) b->record_request();
  EXPECT_EQ(spend_all(*b), 20);
  const auto s = b->stats();
  EXPECT_EQ(s.requests, 100u);
  EXPECT_EQ(s.retries, 20u);
  EXPECT_EQ(s.allowed, 20u);
}

TEST(RetryBudget, FloorAndRatioAdd) {
  ManualClock clock;
  auto b = make(clock, {.ratio = 0.5, .min_retries_per_second = 1, .window = seconds(10)});
  for (int i = 0; i < 10; ++i) b->record_request();
  EXPECT_EQ(spend_all(*b), 15);
}

TEST(RetryBudget, WindowSlidesOldRequestsAndRetriesOut) {
  ManualClock clock;
  auto b = make(clock, {.ratio = 1.0, .min_retries_per_second = 0, .window = seconds(10)});
  for (int i = 0; i < 5; ++i) b->record_request();
  EXPECT_EQ(spend_all(*b), 5);
  clock.advance(seconds(5));
  for (int i = 0; i < 3; ++i) b->record_request();
  EXPECT_EQ(spend_all(*b), 3) << "8 requests, 5 retries already spent";
  clock.advance(seconds(6));  // the first 5 requests and 5 retries are now older than 10 s
  EXPECT_EQ(b->stats().requests, 3u);
  EXPECT_EQ(spend_all(*b), 0) << "3 requests, 3 retries in the window";
  clock.advance(seconds(10));
  EXPECT_EQ(b->stats().requests, 0u);
  EXPECT_EQ(b->stats().retries, 0u);
}

TEST(RetryBudget, ExhaustedBudgetRecoversAsTimePasses) {
  ManualClock clock;
  auto b = make(clock, {.ratio = 0.0, .min_retries_per_second = 1, .window = seconds(1)});
  EXPECT_EQ(spend_all(*b), 1);
  clock.advance(milliseconds(500));
  EXPECT_FALSE(b->try_spend_retry());
  clock.advance(milliseconds(600));
  EXPECT_TRUE(b->try_spend_retry());
}

TEST(RetryBudget, ConcurrentSpendersNeverExceedTheBudget) {
  ManualClock clock;
  auto b = make(clock, {.ratio = 0.1, .min_retries_per_second = 0, .window = seconds(10)});
  for (int i = 0; i < 1000; ++i) b->record_request();
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        if (b->try_spend_retry()) ++granted;
        b->record_request();
      }
    });
  }
  for (auto& t : threads) t.join();
  // 1400 requests by the end: at most 140 retries, and every refusal came when the budget was
  // spent, so the 400 attempts got at least the 100 the first 1000 requests paid for.
  EXPECT_LE(granted.load(), 140);
  EXPECT_GE(granted.load(), 100);
  EXPECT_EQ(b->stats().retries, static_cast<std::uint64_t>(granted.load()));
  EXPECT_EQ(b->stats().requests, 1400u);  // requests are counted without the lock, none lost
}

TEST(RetryBudget, ValidateNamesFieldValueAndRange) {
  ManualClock clock;
  auto r = RetryBudget::create(clock, {.ratio = -1.0});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "invalid_config: retry_budget.ratio=-1: allowed 0..10");
  r = RetryBudget::create(clock, {.window = milliseconds(10)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "invalid_config: retry_budget.window=10ms: allowed 100ms..10min");
  r = RetryBudget::create(clock, {.min_retries_per_second = 1000000});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "invalid_config: retry_budget.min_retries_per_second=1000000: allowed 0..100000");
}

}  // namespace
}  // namespace reservoir
