#include <gtest/gtest.h>

#include <thread>

#include "reservoir/deadline.hpp"

using namespace reservoir;
using namespace std::chrono_literals;

TEST(ManualClock, MovesOnlyWhenTold) {
  ManualClock clock;
  const TimePoint t0 = clock.now();
  EXPECT_EQ(clock.now(), t0);
  clock.advance(5s);
  EXPECT_EQ(clock.now(), t0 + 5s);
}

TEST(ManualClock, AdvanceWakesWaiter) {
  ManualClock clock;
  std::mutex mu;
  std::condition_variable cv;
  const TimePoint until = clock.now() + 10s;
  std::atomic<bool> done{false};
  std::thread t([&] {
    std::unique_lock lk(mu);
    while (clock.now() < until) clock.wait_until(cv, lk, until);
    done = true;
  });
  while (clock.waiters() == 0) std::this_thread::sleep_for(1ms);
  EXPECT_FALSE(done.load());
  clock.advance(10s);
  t.join();
  EXPECT_TRUE(done.load());
}

TEST(Deadline, RemainingNeverNegative) {
  ManualClock clock;
  Deadline d = Deadline::after(clock, 1500us);
  EXPECT_EQ(d.remaining(), 1500us);
  EXPECT_EQ(d.remaining_ms(), 2);  // rounded up: a poll never spins with time left
  clock.advance(2ms);
  EXPECT_TRUE(d.expired());
  EXPECT_EQ(d.remaining(), Duration::zero());
  EXPECT_EQ(d.remaining_ms(), 0);
}

TEST(Deadline, CappedAndEarliest) {
  ManualClock clock;
  Deadline d = Deadline::after(clock, 10s);
  EXPECT_EQ(d.capped(1s).remaining(), 1s);
  EXPECT_EQ(d.capped(20s).remaining(), 10s);
  EXPECT_EQ(earliest(d, Deadline::after(clock, 3s)).remaining(), 3s);
  EXPECT_FALSE(Deadline::never(clock).expired());
}

// Deadline::after(clock, Duration::max()) is the natural spelling of "no limit"; clock.now() + d
// used to overflow (UB) and wrap into the past, so the deadline had expired on creation.
TEST(Deadline, AfterSaturatesOnHugeDurations) {
  ManualClock clock;
  const Deadline forever = Deadline::after(clock, Duration::max());
  EXPECT_FALSE(forever.expired());
  EXPECT_EQ(forever.when(), TimePoint::max());
  EXPECT_GT(forever.remaining(), std::chrono::hours(24 * 365 * 100));
  EXPECT_EQ(forever.remaining_ms(), 1 << 30);
  const Deadline past = Deadline::after(clock, Duration::min());
  EXPECT_TRUE(past.expired());
  EXPECT_EQ(past.remaining_ms(), 0);
  EXPECT_TRUE(past.capped(1s).expired());
  EXPECT_EQ(forever.capped(Duration::max()).when(), TimePoint::max());
  EXPECT_EQ(forever.capped(1s).remaining(), 1s);
}

// With almost Duration::max() left, the rounding up in remaining_ms() overflowed into a
// negative value: poll() takes a negative timeout as "wait forever".
TEST(Deadline, RemainingMsNeverNegativeNearMax) {
  ManualClock clock{TimePoint{}};
  EXPECT_EQ(Deadline::never(clock).remaining_ms(), 1 << 30);
  EXPECT_EQ(Deadline::at(clock, TimePoint::max()).remaining_ms(1000), 1000);
}

TEST(SteadyClock, CoarseIsCloseToPrecise) {
  // Bracketed by two precise reads, so a preemption between the reads cannot fail it: the
  // coarse clock is the same timeline, never ahead, behind by at most a (generous) tick.
  auto& c = SteadyClock::instance();
  const TimePoint before = c.now();
  const TimePoint coarse = c.now_coarse();
  const TimePoint after = c.now();
  EXPECT_LE(coarse, after);
  EXPECT_GE(coarse, before - 50ms);
}
