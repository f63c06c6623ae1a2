#include "reservoir/breaker.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace reservoir {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Transitions = std::vector<std::pair<BreakerState, BreakerState>>;

class BreakerTest : public ::testing::Test {
 protected:
  std::shared_ptr<CircuitBreaker> make(BreakerConfig c) {
    auto b = CircuitBreaker::create("db:5432", c, clock_);
    EXPECT_TRUE(b.ok()) << b.error().message();
    auto breaker = std::move(b).value();
    breaker->add_listener([this](BreakerState from, BreakerState to) { transitions_.emplace_back(from, to); });
    return breaker;
  }
  // One admitted call with the given outcome.
  static void call(CircuitBreaker& b, bool ok) {
    auto p = b.allow();
    ASSERT_TRUE(p.ok()) << p.error().message();
    ok ? b.record_success(*p) : b.record_failure(*p);
  }
  static BreakerConfig consecutive(std::uint32_t n) {
    return {.consecutive_failures = n, .failure_rate = 0.0, .open_time = seconds(5)};
  }

  ManualClock clock_;
  Transitions transitions_;
};

TEST_F(BreakerTest, OpensOnNConsecutiveFailuresAndASuccessResetsTheCount) {
  auto b = make(consecutive(3));
  call(*b, false);
  call(*b, false);
  call(*b, true);
  call(*b, false);
  call(*b, false);
  EXPECT_EQ(b->state(), BreakerState::closed);
  call(*b, false);
  EXPECT_EQ(b->state(), BreakerState::open);
  EXPECT_EQ(transitions_, (Transitions{{BreakerState::closed, BreakerState::open}}));
}

TEST_F(BreakerTest, OpenRejectsWithCircuitOpenAndTimeUntilTheNextProbe) {
  auto b = make(consecutive(2));
  call(*b, false);
  call(*b, false);
  auto r = b->allow();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::circuit_open);
  EXPECT_FALSE(r.error().retryable());
  EXPECT_EQ(r.error().message(), "circuit_open: db:5432: open after 2 consecutive failures; next probe in 5000 ms");
  clock_.advance(milliseconds(1200));
  EXPECT_EQ(b->allow().error().message(),
            "circuit_open: db:5432: open after 2 consecutive failures; next probe in 3800 ms");
  EXPECT_EQ(b->time_until_probe(), milliseconds(3800));
  EXPECT_EQ(b->check().error().kind(), ErrorKind::circuit_open);
  EXPECT_EQ(b->stats().rejected, 3u);
}

TEST_F(BreakerTest, FailureRateTripsOnlyAfterMinimumCalls) {
  auto b = make({.consecutive_failures = 0, .failure_rate = 0.5, .window_calls = 10, .minimum_calls = 6});
  for (int i = 0; i < 5; ++i) call(*b, i % 2 == 1);  // F S F S F: 60% but only 5 calls
  EXPECT_EQ(b->state(), BreakerState::closed);
  call(*b, true);  // 3 of 6 = 50%, but a success never trips
  EXPECT_EQ(b->state(), BreakerState::closed);
  call(*b, false);  // 4 of 7
  EXPECT_EQ(b->state(), BreakerState::open);
  EXPECT_EQ(b->allow().error().message(),
            "circuit_open: db:5432: open after failure rate >= 50% of the last 10 calls; next probe in 5000 ms");
}

TEST_F(BreakerTest, FailureRateLooksOnlyAtTheLastMCalls) {
  auto b = make({.consecutive_failures = 0, .failure_rate = 0.5, .window_calls = 4, .minimum_calls = 4});
  call(*b, false);
  call(*b, true);
  call(*b, true);
  call(*b, true);
  call(*b, true);  // the failure drops out of the window
  call(*b, true);
  call(*b, false);  // 1 of 4
  EXPECT_EQ(b->state(), BreakerState::closed);
  call(*b, false);  // 2 of 4
  EXPECT_EQ(b->state(), BreakerState::open);
}

// Once the window holds only successes, a success is counted without the lock: the count
// stays exact, and failures after a long run of successes still trip on rate and in a row.
TEST_F(BreakerTest, AWindowFullOfSuccessesStillCountsAndTripsExactly) {
  auto b = make({.consecutive_failures = 3, .failure_rate = 0.5, .window_calls = 4, .minimum_calls = 4});
  for (int i = 0; i < 100; ++i) call(*b, true);
  EXPECT_EQ(b->stats().successes, 100u);
  call(*b, false);
  call(*b, true);
  call(*b, false);  // 2 of the last 4
  EXPECT_EQ(b->state(), BreakerState::open);
  const BreakerStats s = b->stats();
  EXPECT_EQ(s.successes, 101u);
  EXPECT_EQ(s.failures, 2u);

  auto c = make(consecutive(3));
  for (int i = 0; i < 50; ++i) call(*c, true);
  for (int i = 0; i < 3; ++i) call(*c, false);
  EXPECT_EQ(c->state(), BreakerState::open);
  EXPECT_EQ(c->stats().successes, 50u);
}

TEST_F(BreakerTest, ConcurrentOutcomesAreAllCounted) {
  auto b = make({.consecutive_failures = 0, .failure_rate = 0.9, .window_calls = 10, .minimum_calls = 10});
  constexpr int kThreads = 4;
  constexpr int kCalls = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&b, t] {
      for (int i = 0; i < kCalls; ++i) {
        auto p = b->allow();
        ASSERT_TRUE(p.ok());
        (t == 0 && i % 50 == 0) ? b->record_failure(*p) : b->record_success(*p);
      }
    });
  }
  for (auto& t : threads) t.join();
  const BreakerStats s = b->stats();
  EXPECT_EQ(b->state(), BreakerState::closed);
  EXPECT_EQ(s.failures, static_cast<std::uint64_t>(kCalls / 50));
  EXPECT_EQ(s.successes + s.failures, static_cast<std::uint64_t>(kThreads * kCalls));
}

TEST_F(BreakerTest, HalfOpenAdmitsKProbesAndASuccessCloses) {
  BreakerConfig c = consecutive(1);
  c.half_open_probes = 2;
  auto b = make(c);
  call(*b, false);
  clock_.advance(seconds(5));
  EXPECT_TRUE(b->check().ok()) << "a probe is due";
  auto p1 = b->allow();
  auto p2 = b->allow();
  ASSERT_TRUE(p1.ok() && p2.ok());
  EXPECT_TRUE(p1->probe && p2->probe);
  EXPECT_EQ(b->state(), BreakerState::half_open);
  auto p3 = b->allow();
  ASSERT_FALSE(p3.ok());
  EXPECT_EQ(p3.error().message(), "circuit_open: db:5432: half-open, 2 probes in flight");
  EXPECT_FALSE(b->check().ok());
  b->record_success(*p1);
  EXPECT_EQ(b->state(), BreakerState::closed);
  b->record_failure(*p2);  // stale: the breaker already closed
  EXPECT_EQ(b->state(), BreakerState::closed);
  EXPECT_EQ(transitions_, (Transitions{{BreakerState::closed, BreakerState::open},
                                       {BreakerState::open, BreakerState::half_open},
                                       {BreakerState::half_open, BreakerState::closed}}));
  EXPECT_EQ(b->stats().probes, 2u);
}

TEST_F(BreakerTest, ProbeFailureReopens) {
  auto b = make(consecutive(1));
  call(*b, false);
  clock_.advance(seconds(5));
  call(*b, false);
  EXPECT_EQ(b->state(), BreakerState::open);
  EXPECT_EQ(b->allow().error().message(), "circuit_open: db:5432: open after a failed probe; next probe in 5000 ms");
  EXPECT_EQ(b->stats().trips, 2u);
}

TEST_F(BreakerTest, IgnoredProbeFreesItsSlot) {
  auto b = make(consecutive(1));
  call(*b, false);
  clock_.advance(seconds(5));
  auto p = b->allow();
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(b->allow().ok());
  b->record_ignored(*p);
  EXPECT_EQ(b->state(), BreakerState::half_open);
  EXPECT_TRUE(b->allow().ok());
}

TEST_F(BreakerTest, OpenTimeGrowsOnTripsInARowUpToTheCapAndResetsOnClose) {
  BreakerConfig c = consecutive(1);
  c.open_time_multiplier = 2.0;
  c.max_open_time = seconds(15);
  auto b = make(c);
  call(*b, false);
  EXPECT_EQ(b->time_until_probe(), seconds(5));
  clock_.advance(seconds(5));
  call(*b, false);  // probe fails
  EXPECT_EQ(b->time_until_probe(), seconds(10));
  clock_.advance(seconds(10));
  call(*b, false);
  EXPECT_EQ(b->time_until_probe(), seconds(15)) << "20 s capped at 15 s";
  clock_.advance(seconds(15));
  call(*b, false);
  EXPECT_EQ(b->time_until_probe(), seconds(15));
  clock_.advance(seconds(15));
  call(*b, true);  // probe succeeds: closed, growth forgotten
  EXPECT_EQ(b->state(), BreakerState::closed);
  call(*b, false);
  EXPECT_EQ(b->time_until_probe(), seconds(5));
}

TEST_F(BreakerTest, OutcomesOfCallsAdmittedBeforeATripAreIgnored) {
  auto b = make(consecutive(2));
  auto slow = b->allow();  // admitted while closed, finishes late
  ASSERT_TRUE(slow.ok());
  call(*b, false);
  call(*b, false);
  ASSERT_EQ(b->state(), BreakerState::open);
  clock_.advance(seconds(5));
  auto probe = b->allow();
  ASSERT_TRUE(probe.ok());
  b->record_failure(*slow);  // must not count as the probe's outcome
  EXPECT_EQ(b->state(), BreakerState::half_open);
  b->record_success(*probe);
  EXPECT_EQ(b->state(), BreakerState::closed);
}

TEST_F(BreakerTest, ClosingClearsTheFailureWindow) {
  auto b = make({.consecutive_failures = 2, .failure_rate = 0.75, .window_calls = 4, .minimum_calls = 4});
  call(*b, true);
  call(*b, false);
  call(*b, false);
  ASSERT_EQ(b->state(), BreakerState::open);
  clock_.advance(seconds(5));
  call(*b, true);
  ASSERT_EQ(b->state(), BreakerState::closed);
  // With the old window this would be S F F F = 75% of 4 calls; counted afresh it is 1 call.
  call(*b, false);
  EXPECT_EQ(b->state(), BreakerState::closed);
}

TEST_F(BreakerTest, ConnectGateFailsFastWhileOpenAndLetsOneProbeConnect) {
  auto b = make(consecutive(3));
  ConnectGate& gate = *b;
  for (int i = 0; i < 3; ++i) {
    auto ticket = gate.admit();
    ASSERT_TRUE(ticket.ok());
    ticket->failed(Error::unavailable("db:5432", "connection refused"));
  }
  EXPECT_EQ(b->state(), BreakerState::open);
  EXPECT_EQ(gate.admit().error().kind(), ErrorKind::circuit_open);
  clock_.advance(seconds(5));
  auto probe = gate.admit();  // the single probe
  ASSERT_TRUE(probe.ok());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(gate.admit().error().kind(), ErrorKind::circuit_open);
  probe->succeeded();
  EXPECT_EQ(b->state(), BreakerState::closed);
  auto next = gate.admit();
  ASSERT_TRUE(next.ok());
  next->succeeded();
  EXPECT_EQ(b->stats().successes, 2u);
}

TEST_F(BreakerTest, ConnectGateProbeFailureReopens) {
  auto b = make(consecutive(1));
  ConnectGate& gate = *b;
  gate.admit()->failed(Error::unavailable("db:5432", "connection refused"));
  clock_.advance(seconds(5));
  auto probe = gate.admit();
  ASSERT_TRUE(probe.ok());
  probe->failed(Error::unavailable("db:5432", "connection refused"));
  EXPECT_EQ(b->state(), BreakerState::open);
  EXPECT_EQ(b->stats().trips, 2u);
}

// The ticket carries the permit: a slow connect admitted while closed that fails after the
// trip is stale, whatever probes are in flight (before tickets the breaker had to guess).
TEST_F(BreakerTest, ConnectAdmittedBeforeATripIsNotTakenForTheProbe) {
  auto b = make(consecutive(2));
  ConnectGate& gate = *b;
  auto slow = gate.admit();  // a slow connect, admitted while closed
  ASSERT_TRUE(slow.ok());
  call(*b, false);
  call(*b, false);
  clock_.advance(seconds(5));
  auto probe = gate.admit();  // a probe connect, through the gate too
  ASSERT_TRUE(probe.ok());
  slow->failed(Error::unavailable("db:5432", "connection refused"));  // the slow one ends
  EXPECT_EQ(b->state(), BreakerState::half_open);
  probe->succeeded();
  EXPECT_EQ(b->state(), BreakerState::closed);
}

TEST_F(BreakerTest, ATicketDroppedWithoutAnOutcomeFreesTheProbe) {
  auto b = make(consecutive(1));
  ConnectGate& gate = *b;
  gate.admit()->failed(Error::unavailable("db:5432", "connection refused"));
  clock_.advance(seconds(5));
  { auto probe = gate.admit(); ASSERT_TRUE(probe.ok()); }  // e.g. the pool shut down meanwhile
  EXPECT_EQ(b->state(), BreakerState::half_open);
  auto again = gate.admit();
  ASSERT_TRUE(again.ok()) << "the dropped ticket must give its probe slot back";
  again->succeeded();
  EXPECT_EQ(b->state(), BreakerState::closed);
}

// ---- refused connects: a short probe cadence; timeouts and calls keep the open time ----------

Error refused() { return Error::unavailable("db:5432", "connection refused"); }
Error timed_out() { return Error::timeout("db:5432: connect timed out"); }

TEST_F(BreakerTest, ARefusedConnectReopensForTheRefusedProbeIntervalOnly) {
  auto b = make(consecutive(1));
  ConnectGate& gate = *b;
  gate.admit()->failed(refused());
  ASSERT_EQ(b->state(), BreakerState::open);
  EXPECT_EQ(b->time_until_probe(), milliseconds(25)) << "not the 5 s open time";
  clock_.advance(milliseconds(24));
  EXPECT_EQ(gate.admit().error().kind(), ErrorKind::circuit_open);
  clock_.advance(milliseconds(1));
  auto probe = gate.admit();
  ASSERT_TRUE(probe.ok());
  probe->failed(refused());  // still down: the next probe is as close
  EXPECT_EQ(b->time_until_probe(), milliseconds(25));
  clock_.advance(milliseconds(25));
  auto back = gate.admit();
  ASSERT_TRUE(back.ok());
  back->succeeded();
  EXPECT_EQ(b->state(), BreakerState::closed);
}

TEST_F(BreakerTest, ATimedOutConnectKeepsTheOpenTimeSoABlackholedHostIsNotHammered) {
  auto b = make(consecutive(1));
  ConnectGate& gate = *b;
  gate.admit()->failed(timed_out());
  EXPECT_EQ(b->time_until_probe(), seconds(5));
  clock_.advance(seconds(5));
  gate.admit()->failed(timed_out());
  EXPECT_EQ(b->time_until_probe(), seconds(5));
}

TEST_F(BreakerTest, AFailedCallKeepsTheOpenTime) {
  auto b = make(consecutive(1));
  call(*b, false);  // a call's failure says nothing about what a connect costs
  EXPECT_EQ(b->time_until_probe(), seconds(5));
  clock_.advance(seconds(5));
  b->admit()->failed(refused());  // the probe is a connect, refused: now the short cadence
  EXPECT_EQ(b->time_until_probe(), milliseconds(25));
}

// Refused probes count as trips in a row: when the outage turns into timeouts, the open time
// is the grown one it would have been, not the first.
TEST_F(BreakerTest, RefusedProbesStillGrowTheOpenTimeATimeoutGets) {
  BreakerConfig c = consecutive(1);
  c.open_time_multiplier = 2.0;
  c.max_open_time = seconds(40);
  auto b = make(c);
  ConnectGate& gate = *b;
  for (int i = 0; i < 3; ++i) {
    gate.admit()->failed(refused());
    EXPECT_EQ(b->time_until_probe(), milliseconds(25));
    clock_.advance(milliseconds(25));
  }
  gate.admit()->failed(timed_out());
  EXPECT_EQ(b->time_until_probe(), seconds(40)) << "5 s doubled three times";
}

TEST_F(BreakerTest, ARefusedProbeIntervalLongerThanTheOpenTimeNeverLengthensIt) {
  BreakerConfig c = consecutive(1);
  c.open_time = milliseconds(10);
  auto b = make(c);
  b->admit()->failed(refused());
  EXPECT_EQ(b->time_until_probe(), milliseconds(10));
}

TEST_F(BreakerTest, RefusedProbeIntervalZeroMeansAlwaysTheOpenTime) {
  BreakerConfig c = consecutive(1);
  c.refused_probe_interval = Duration::zero();
  auto b = make(c);
  b->admit()->failed(refused());
  EXPECT_EQ(b->time_until_probe(), seconds(5));
}

// The bound on what reaches a server that stays down: callers asking every millisecond for a
// second of refusals get at most one connect per interval through (1000 / 25 = 40), and a
// blackholed host one per open time.
TEST_F(BreakerTest, ConnectsPerSecondWhileDownAreBoundedByTheProbeCadence) {
  auto admitted_in_one_second = [this](const Error& failure) {
    auto b = make(consecutive(1));
    int admitted = 0;
    for (int ms = 0; ms < 1000; ++ms) {
      for (int caller = 0; caller < 8; ++caller) {
        if (auto t = b->admit()) {
          ++admitted;
          t->failed(failure);
        }
      }
      clock_.advance(milliseconds(1));
    }
    return admitted;
  };
  EXPECT_EQ(admitted_in_one_second(refused()), 40);
  EXPECT_EQ(admitted_in_one_second(timed_out()), 1);
}

TEST_F(BreakerTest, ValidateNamesFieldValueAndRange) {
  auto message = [this](BreakerConfig c) {
    auto r = CircuitBreaker::create("x", c, clock_);
    return r.ok() ? std::string("ok") : r.error().message();
  };
  EXPECT_EQ(message({.consecutive_failures = 0, .failure_rate = 0.0}),
            "invalid_config: breaker.consecutive_failures=0: allowed 1..100000 while breaker.failure_rate is 0 (off)");
  EXPECT_EQ(message({.consecutive_failures = 100001}),
            "invalid_config: breaker.consecutive_failures=100001: allowed 0..100000 (0 = off)");
  EXPECT_EQ(message({.failure_rate = 1.5}), "invalid_config: breaker.failure_rate=1.5: allowed 0..1 (0 = off)");
  EXPECT_EQ(message({.window_calls = 10, .minimum_calls = 11}),
            "invalid_config: breaker.minimum_calls=11: allowed 1..breaker.window_calls (10)");
  EXPECT_EQ(message({.open_time = Duration::zero()}), "invalid_config: breaker.open_time=0: allowed 1ms..1h");
  EXPECT_EQ(message({.open_time = seconds(10), .max_open_time = seconds(5)}),
            "invalid_config: breaker.max_open_time=5s: allowed breaker.open_time (10s)..1h");
  EXPECT_EQ(message({.half_open_probes = 0}), "invalid_config: breaker.half_open_probes=0: allowed 1..1000");
  EXPECT_EQ(message({.window_calls = 0}), "invalid_config: breaker.window_calls=0: allowed 1..10000");
  EXPECT_EQ(message({.open_time_multiplier = 0.5}), "invalid_config: breaker.open_time_multiplier=0.5: allowed 1..100");
  EXPECT_EQ(message({.refused_probe_interval = std::chrono::hours(2)}),
            "invalid_config: breaker.refused_probe_interval=2h: allowed 0 (off) or 1ms..1h");
  EXPECT_EQ(message({}), "ok");
}

// Run under TSan: admissions and outcomes from many threads while time moves.
TEST_F(BreakerTest, ConcurrentCallsKeepProbesBounded) {
  BreakerConfig c = consecutive(2);
  c.open_time = milliseconds(1);
  c.half_open_probes = 1;
  auto b = make(c);
  std::atomic<int> probes_now{0};
  std::atomic<int> max_probes{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        auto p = b->allow();
        if (!p) continue;
        if (p->probe) {
          const int now = ++probes_now;
          int seen = max_probes.load();
          while (now > seen && !max_probes.compare_exchange_weak(seen, now)) {
          }
          --probes_now;
        }
        (i + t) % 3 == 0 ? b->record_success(*p) : b->record_failure(*p);
      }
    });
  }
  std::thread mover([&] {
    while (!stop) {
      clock_.advance(milliseconds(1));
      std::this_thread::yield();
    }
  });
  for (auto& t : threads) t.join();
  stop = true;
  mover.join();
  EXPECT_LE(max_probes.load(), 1);
  const auto s = b->stats();
  EXPECT_GT(s.trips, 0u);
}

}  // namespace
}  // namespace reservoir
