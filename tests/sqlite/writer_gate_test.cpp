// The writer gate on its own: one writer inside at a time, waits bounded by the deadline on
// either kind of clock, and a gate left on another thread than the one that entered it.
#include "sqlite/writer_gate.hpp"

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace reservoir::sqlite::detail {
namespace {

Deadline in_ms(int ms) { return Deadline::after(SteadyClock::instance(), std::chrono::milliseconds(ms)); }

TEST(WriterGate, OneWriterInsideAtATimeAndEveryoneGetsIn) {
  WriterGate gate;
  constexpr int kThreads = 6;
  constexpr int kRounds = 3000;
  std::atomic<int> inside{0};
  std::atomic<int> most_inside{0};
  std::atomic<int> entered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRounds; ++i) {
        if (!gate.enter(in_ms(10'000))) continue;
        const int now = inside.fetch_add(1) + 1;
        int seen = most_inside.load();
        while (now > seen && !most_inside.compare_exchange_weak(seen, now)) {
        }
        if (i % 64 == 0) std::this_thread::yield();  // let the others queue and sleep
        inside.fetch_sub(1);
        entered.fetch_add(1);
        gate.leave();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(most_inside.load(), 1);
  EXPECT_EQ(entered.load(), kThreads * kRounds);
}

TEST(WriterGate, AWaitOnTheSteadyClockEndsAtItsDeadline) {
  WriterGate gate;
  ASSERT_TRUE(gate.enter(in_ms(1000)));
  const Deadline d = in_ms(30);
  EXPECT_FALSE(gate.enter(d));
  EXPECT_TRUE(d.expired());
  gate.leave();
  EXPECT_TRUE(gate.enter(in_ms(0))) << "a free gate is entered even with no time left";
  gate.leave();
}

// A transaction may end on another thread than the one that began it (a lease handed on, a
// connection closed by the pool): the gate has no owner, so that leave() lets the next one in.
TEST(WriterGate, LeftOnAnotherThreadLetsTheNextWriterIn) {
  WriterGate gate;
  ASSERT_TRUE(gate.enter(in_ms(1000)));
  std::atomic<bool> got{false};
  std::thread next([&] { got = gate.enter(in_ms(10'000)); });
  std::thread other([&] { gate.leave(); });
  other.join();
  next.join();
  EXPECT_TRUE(got.load());
  gate.leave();
}

// Writers waiting on an injected clock and on the steady clock at once: each leave() lets one
// more in, whichever kind, and none is left waiting.
TEST(WriterGate, WritersOnBothKindsOfClockAllGetIn) {
  WriterGate gate;
  ManualClock manual;
  ASSERT_TRUE(gate.enter(in_ms(1000)));
  std::atomic<int> in{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&] {
      if (gate.enter(Deadline::after(manual, std::chrono::seconds(5)))) {
        in.fetch_add(1);
        gate.leave();
      }
    });
    threads.emplace_back([&] {
      if (gate.enter(in_ms(10'000))) {
        in.fetch_add(1);
        gate.leave();
      }
    });
  }
  while (manual.waiters() < 2) std::this_thread::yield();  // both injected-clock writers queued
  gate.leave();
  for (auto& t : threads) t.join();
  EXPECT_EQ(in.load(), 4);
  EXPECT_TRUE(gate.enter(in_ms(0)));
  gate.leave();
}

// On an injected clock a queued writer gives up when that clock passes its deadline, not
// before, and a later leave() still lets the others in.
TEST(WriterGate, AWaitOnAnInjectedClockEndsWhenThatClockPassesItsDeadline) {
  WriterGate gate;
  ManualClock manual;
  ASSERT_TRUE(gate.enter(in_ms(1000)));
  std::atomic<int> result{-1};
  std::thread quitter([&] { result = gate.enter(Deadline::after(manual, std::chrono::seconds(1))) ? 1 : 0; });
  while (manual.waiters() == 0) std::this_thread::yield();
  manual.advance(std::chrono::milliseconds(999));
  EXPECT_EQ(result.load(), -1) << "gave up before its deadline";
  manual.advance(std::chrono::milliseconds(1));
  quitter.join();
  EXPECT_EQ(result.load(), 0);
  std::atomic<bool> got{false};
  std::thread next([&] { got = gate.enter(Deadline::after(manual, std::chrono::seconds(1))); });
  while (manual.waiters() == 0) std::this_thread::yield();
  gate.leave();
  next.join();
  EXPECT_TRUE(got.load());
  gate.leave();
}

}  // namespace
}  // namespace reservoir::sqlite::detail
