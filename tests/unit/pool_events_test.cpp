// Structured events beside the log lines, and the acquire errors that name their real cause.
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "pool_fixture.hpp"

namespace reservoir::testing {
namespace {

struct RecordingListener final : PoolListener {
  struct Seen {
    PoolEventKind kind;
    std::string pool, endpoint;
    CloseReason reason;
    Duration duration;
    std::string error;
    AcquirePhases phases;
    std::string where;
  };
  void on_event(const PoolEvent& e) noexcept override {
    std::lock_guard g(mu);
    seen.push_back({e.kind, std::string(e.pool), std::string(e.endpoint), e.reason, e.duration,
                    e.error ? e.error->message() : "", e.phases, std::string(e.where.file) + ":" + std::to_string(e.where.line)});
  }
  std::vector<Seen> of(PoolEventKind kind) {
    std::lock_guard g(mu);
    std::vector<Seen> out;
    for (auto& s : seen) if (s.kind == kind) out.push_back(s);
    return out;
  }
  std::mutex mu;
  std::vector<Seen> seen;
};

class PoolEventsTest : public PoolTest {
 protected:
  Pool make_listened_pool(PoolConfig c) {
    PoolOptions o;
    o.clock = &clock;
    o.logger = logger;
    o.start_maintainer = false;
    o.seed = 42;
    o.listener = listener;
    return std::move(Pool::create(connector, c, o)).value();
  }
  // One connection, slow acquires from 100 ms.
  Pool make_one_connection_pool() {
    PoolConfig c = quiet_config();
    c.max_size = 1;
    c.slow_acquire_threshold = 100ms;
    return make_listened_pool(c);
  }
  // A pool whose connects take 120 ms of the manual clock; slow acquires from 100 ms.
  Pool make_slow_connecting_pool() {
    struct SlowConnector final : Connector {
      explicit SlowConnector(ManualClock& c) : clock(c) {}
      Result<std::unique_ptr<Connection>> connect(Deadline) override {
        clock.advance(120ms);
        return std::unique_ptr<Connection>(std::make_unique<FakeConnection>(1));
      }
      Status check(Connection&, CheckDepth, Deadline) override { return {}; }
      Status reset(Connection&, Deadline) override { return {}; }
      void close(std::unique_ptr<Connection>, Deadline) noexcept override {}
      std::string endpoint() const override { return "slow:1"; }
      ManualClock& clock;
    };
    PoolOptions o;
    o.clock = &clock;
    o.logger = logger;
    o.start_maintainer = false;
    o.listener = listener;
    PoolConfig c = quiet_config();
    c.slow_acquire_threshold = 100ms;
    return std::move(Pool::create(std::make_shared<SlowConnector>(clock), c, o)).value();
  }
  std::shared_ptr<RecordingListener> listener = std::make_shared<RecordingListener>();
};

TEST_F(PoolEventsTest, ConnectsClosesAndFailedChecksAreReported) {
  PoolConfig c = quiet_config();
  c.validate_on_checkout = true;
  c.validation_bypass = 0ms;
  Pool pool = make_listened_pool(c);
  { auto lease = pool.acquire(in(1s)); ASSERT_TRUE(lease); lease->discard(); }
  ASSERT_EQ(listener->of(PoolEventKind::connection_created).size(), 1u);
  auto closed = listener->of(PoolEventKind::connection_closed);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].reason, CloseReason::broken);
  EXPECT_EQ(closed[0].pool, "reservoir");
  EXPECT_EQ(closed[0].endpoint, "fake:1");
  (void)pool.acquire(in(1s));  // an idle connection again
  connector->set_checks_fail(true);
  connector->script({ConnectOutcome::refuse});
  (void)pool.acquire(in(1s));  // its check fails; the replacement connect is refused
  auto checks = listener->of(PoolEventKind::check_failed);
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0].error, "unavailable: fake:1: check failed");
  EXPECT_TRUE(eventually([&] { return listener->of(PoolEventKind::connect_failed).size() == 1u; }));
  EXPECT_EQ(listener->of(PoolEventKind::connect_failed)[0].error, "unavailable: fake:1: connection refused");
}

// Seed 000 logged every operation slower than 100 ms.
TEST_F(PoolEventsTest, ASlowAcquireIsReportedOnceWithItsPhases) {
  Pool pool = make_one_connection_pool();
  auto held = pool.acquire(in(1s));
  auto fut = std::async(std::launch::async, [&] { return pool.acquire(in(10s)); });
  wait_for_waiters(1);
  clock.advance(150ms);
  held->release();
  ASSERT_TRUE(fut.get());
  auto slow = listener->of(PoolEventKind::acquire_slow);
  ASSERT_EQ(slow.size(), 1u);
  EXPECT_EQ(slow[0].duration, 150ms);
  EXPECT_EQ(slow[0].phases.queued, 150ms);
  EXPECT_NE(slow[0].where.find("pool_events_test.cpp"), std::string::npos) << slow[0].where;
  EXPECT_TRUE(logger->contains("slow acquire: 150 ms (queued 150 ms, connect 0 ms, check 0 ms) at "));
  (void)pool.acquire(in(1s));  // quick: not reported
  EXPECT_EQ(listener->of(PoolEventKind::acquire_slow).size(), 1u);
}

// A caller handed a connection opened for it reports that connect as its own phase, not as
// time in the queue.
TEST_F(PoolEventsTest, ASlowConnectIsItsOwnPhase) {
  auto pool = make_slow_connecting_pool();
  ASSERT_TRUE(pool.acquire(in(10s)));
  auto slow = listener->of(PoolEventKind::acquire_slow);
  ASSERT_EQ(slow.size(), 1u);
  EXPECT_EQ(slow[0].duration, 120ms);
  EXPECT_EQ(slow[0].phases.connect, 120ms);
  EXPECT_EQ(slow[0].phases.queued, 0ms);
  EXPECT_TRUE(logger->contains("slow acquire: 120 ms (queued 0 ms, connect 120 ms, check 0 ms) at "));
}

// acquire_async() handed a connection from the queue: the same report and the same wait in
// the histogram as a blocking acquire (they counted as zero waits before).
TEST_F(PoolEventsTest, AnAsyncAcquireServedFromTheQueueIsReportedWithItsPhases) {
  Pool pool = make_one_connection_pool();
  auto held = pool.acquire(in(1s));
  std::promise<Result<Lease>> got;
  ASSERT_TRUE(pool.acquire_async(in(10s), [&](Result<Lease> r) { got.set_value(std::move(r)); }).ok());
  clock.advance(150ms);
  held->release();
  ASSERT_TRUE(got.get_future().get());
  auto slow = listener->of(PoolEventKind::acquire_slow);
  ASSERT_EQ(slow.size(), 1u);
  EXPECT_EQ(slow[0].duration, 150ms);
  EXPECT_EQ(slow[0].phases.queued, 150ms);
  EXPECT_EQ(slow[0].phases.connect, 0ms);
  EXPECT_NE(slow[0].where.find("pool_events_test.cpp"), std::string::npos) << slow[0].where;
  EXPECT_EQ(pool.stats().acquire_wait.max, 150ms);  // a wait in the histogram, not a zero
}

TEST_F(PoolEventsTest, AnAsyncAcquireReportsTheConnectOpenedForItAsItsOwnPhase) {
  Pool pool = make_slow_connecting_pool();
  std::promise<Result<Lease>> got;
  ASSERT_TRUE(pool.acquire_async(in(10s), [&](Result<Lease> r) { got.set_value(std::move(r)); }).ok());
  ASSERT_TRUE(got.get_future().get());
  auto slow = listener->of(PoolEventKind::acquire_slow);
  ASSERT_EQ(slow.size(), 1u);
  EXPECT_EQ(slow[0].phases.connect, 120ms);
  EXPECT_EQ(slow[0].phases.queued, 0ms);
}

TEST(PoolEventKindTest, EveryKindHasItsName) {
  EXPECT_EQ(to_string(PoolEventKind::connection_created), "connection_created");
  EXPECT_EQ(to_string(PoolEventKind::acquire_slow), "acquire_slow");
  EXPECT_EQ(to_string(PoolEventKind::leak_suspected), "leak_suspected");
  EXPECT_EQ(to_string(PoolEventKind::operation_slow), "operation_slow");
  EXPECT_EQ(to_string(static_cast<PoolEventKind>(200)), "unknown");
}

TEST(PoolEventLineTest, OneLineWithTheFieldsOfItsKind) {
  const Error e = Error::unavailable("db:5432", "said \"no\"\nthen closed");
  PoolEvent slow{.kind = PoolEventKind::operation_slow, .pool = "orders", .endpoint = "db:5432",
                 .duration = 170ms, .error = &e, .phases = {.queued = 10ms, .connect = 20ms, .check = 5ms},
                 .where = {"app.cpp", 12}, .call = 90ms, .backoff = 45ms, .attempts = 3};
  EXPECT_EQ(to_string(slow),
            "pool=orders endpoint=db:5432 event=operation_slow took_ms=170 queued_ms=10 connect_ms=20 check_ms=5 "
            R"(call_ms=90 backoff_ms=45 attempts=3 at=app.cpp:12 error="unavailable: db:5432: said \"no\"\nthen closed")");
  PoolEvent closed{.kind = PoolEventKind::connection_closed, .pool = "p", .endpoint = "e", .reason = CloseReason::idle};
  EXPECT_EQ(to_string(closed), "pool=p endpoint=e event=connection_closed reason=idle");
}

TEST(PoolEventFanOutTest, EveryListenerSeesEveryEvent) {
  auto a = std::make_shared<RecordingListener>();
  auto b = std::make_shared<RecordingListener>();
  auto all = fan_out({a, nullptr, b});
  all->on_event({.kind = PoolEventKind::leak_suspected, .pool = "p"});
  EXPECT_EQ(a->of(PoolEventKind::leak_suspected).size(), 1u);
  EXPECT_EQ(b->of(PoolEventKind::leak_suspected).size(), 1u);
}

// A store lock held by another process is `busy`, and stays `busy` when the caller times out
// during the connect backoff (it came back as `unavailable` before).
TEST_F(PoolEventsTest, TimingOutDuringTheBackoffKeepsTheCausesKind) {
  struct BusyConnector final : Connector {
    Result<std::unique_ptr<Connection>> connect(Deadline) override {
      return Error::make(ErrorKind::busy, "store /x.db is in use by pid 7 (other, since 10:00)");
    }
    Status check(Connection&, CheckDepth, Deadline) override { return {}; }
    Status reset(Connection&, Deadline) override { return {}; }
    void close(std::unique_ptr<Connection>, Deadline) noexcept override {}
    std::string endpoint() const override { return "/x.db"; }
  };
  PoolOptions o;
  o.clock = &clock;
  o.logger = logger;
  o.start_maintainer = false;
  PoolConfig c = quiet_config();
  auto pool = std::move(Pool::create(std::make_shared<BusyConnector>(), c, o)).value();
  auto first = pool.acquire(in(1s));
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error().kind(), ErrorKind::busy);
  auto during_backoff = std::async(std::launch::async, [&] { return pool.acquire(in(50ms)); });
  wait_for_waiters(1);
  clock.advance(50ms);
  auto r = during_backoff.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::busy) << r.error().message();
  EXPECT_NE(r.error().message().find("in use by pid 7"), std::string::npos);
}

// `exhausted` means every connection was in use; a deadline already gone on an empty pool is
// a `timeout`, as run() and the SQLite calls say for the same situation.
TEST_F(PoolEventsTest, ADeadlineAlreadyPassedOnAnEmptyPoolIsATimeout) {
  Pool pool = make_listened_pool(quiet_config());
  auto r = pool.acquire(Deadline::at(clock, clock.now() - 1ms));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::timeout) << r.error().message();
}

// load().in_use follows a lease through every way one is made (fast path, handed to a queued
// caller, to a callback) and ends (release, discard, detach): it pins the figure for whatever
// computes it (today the in_use count in the pool's load word, see LoadWord).
TEST_F(PoolEventsTest, LoadFiguresAreCheapAndAddUp) {
  PoolConfig c = quiet_config();
  c.max_size = 2;
  Pool pool = make_listened_pool(c);
  auto a = pool.acquire(in(1s));
  auto b = pool.acquire(in(1s));
  ASSERT_TRUE(a && b);
  auto queued = std::async(std::launch::async, [&] { return pool.acquire(in(10s)); });
  wait_for_waiters(1);
  PoolLoad l = pool.load();
  EXPECT_EQ(l.open, 2u);
  EXPECT_EQ(l.in_use, 2u);
  EXPECT_EQ(l.waiting, 1u);
  EXPECT_EQ(l.connecting, 0u);
  EXPECT_EQ(l.max_size, 2u);
  a->release();  // handed to the queued caller
  auto handed = queued.get();
  ASSERT_TRUE(handed);
  EXPECT_EQ(pool.load().in_use, 2u);
  std::promise<Result<Lease>> delivered;
  auto pending = pool.acquire_async(in(10s), [&](Result<Lease> r) { delivered.set_value(std::move(r)); });
  ASSERT_TRUE(pending);
  b->discard();
  b->release();  // closed; the callback gets a fresh connection
  auto by_callback = delivered.get_future().get();
  ASSERT_TRUE(by_callback);
  EXPECT_EQ(pool.load().in_use, 2u);
  connector->close(by_callback->detach(), in(1s));  // the caller closes what it took
  EXPECT_EQ(pool.load().in_use, 1u);
  handed->release();
  EXPECT_EQ(pool.load().in_use, 0u);
  EXPECT_EQ(pool.load().open, 1u);
}

// The other ways a lease is made or ends, and the slots taken that never make one: a return
// handed to a queued callback, the callback fast path, a checkout that gives its slot back
// unchecked (its deadline gone) or retires it (failed check), a return that uses a connection
// up (max_uses), a lease out across shutdown.
TEST_F(PoolEventsTest, LoadInUseCountsLeasesOnEveryOtherPath) {
  PoolConfig c = quiet_config();
  c.max_size = 2;
  c.max_uses = 2;
  c.validate_on_checkout = true;
  c.validation_bypass = 0ms;  // every checkout checks
  Pool pool = make_listened_pool(c);
  auto a = pool.acquire(in(1s));
  auto b = pool.acquire(in(1s));
  ASSERT_TRUE(a && b);
  std::promise<Result<Lease>> queued;
  ASSERT_TRUE(pool.acquire_async(in(10s), [&](Result<Lease> r) { queued.set_value(std::move(r)); }));
  EXPECT_EQ(pool.load().waiting, 1u);
  a->release();  // straight to the queued callback
  auto by_callback = queued.get_future().get();
  ASSERT_TRUE(by_callback);
  EXPECT_EQ(pool.load().in_use, 2u);
  EXPECT_EQ(pool.load().waiting, 0u);
  by_callback->release();  // its second use: retired (max_uses)
  EXPECT_EQ(pool.load().in_use, 1u);
  EXPECT_EQ(pool.load().open, 1u);
  std::promise<Result<Lease>> fast;
  ASSERT_TRUE(pool.acquire_async(in(1s), [&](Result<Lease> r) { fast.set_value(std::move(r)); }));
  auto by_fast_callback = fast.get_future().get();  // b's connection is leased: a fresh one
  ASSERT_TRUE(by_fast_callback);
  EXPECT_EQ(pool.load().in_use, 2u);
  by_fast_callback->release();
  b->release();
  EXPECT_EQ(pool.load().in_use, 0u);
  ASSERT_EQ(pool.load().open, 2u);

  EXPECT_FALSE(pool.acquire(Deadline::at(clock, clock.now() - 1ms)));  // back unchecked
  EXPECT_EQ(pool.load().in_use, 0u);
  connector->set_checks_fail(true);
  auto fresh = pool.acquire(in(1s));  // both idle ones fail their check; a new one is opened
  ASSERT_TRUE(fresh);
  EXPECT_EQ(pool.load().in_use, 1u);
  connector->set_checks_fail(false);

  EXPECT_FALSE(pool.shutdown(0ms).ok());  // `fresh` is still out
  EXPECT_EQ(pool.load().in_use, 1u);
  fresh->release();  // closed on return
  EXPECT_EQ(pool.load().in_use, 0u);
  EXPECT_EQ(pool.load().open, 0u);
}

// Threads racing through the fast path, the queue and handoffs, blocking and callback
// borrowers, some discarding: at rest, in_use is back to 0 and agrees with the slot walk.
TEST_F(PoolEventsTest, LoadInUseIsExactAfterConcurrentUse) {
  PoolConfig c = quiet_config();
  c.max_size = 3;
  Pool pool = make_listened_pool(c);
  constexpr int kThreads = 6;
  constexpr int kRounds = 1500;
  std::atomic<int> failures{0};
  auto borrow = [&](int t) {
    for (int i = 0; i < kRounds; ++i) {
      const bool discard = (i + t) % 97 == 0;
      if (t % 2 == 0) {
        auto lease = pool.acquire(in(60s));
        if (!lease) { failures.fetch_add(1); continue; }
        if (discard) lease->discard();
        continue;
      }
      std::promise<void> done;
      auto pending = pool.acquire_async(in(60s), [&](Result<Lease> r) {
        if (!r) {
          failures.fetch_add(1);
        } else {
          if (discard) r->discard();
          r->release();  // before `done`: this runs on whichever thread delivered it
        }
        done.set_value();
      });
      if (!pending) failures.fetch_add(1);
      else done.get_future().wait();
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(borrow, t);
  for (auto& th : threads) th.join();
  // A connect started for a waiter that a return served first may still be running.
  ASSERT_TRUE(eventually([&] { return pool.load().connecting == 0; }));
  EXPECT_EQ(failures.load(), 0);
  const PoolLoad l = pool.load();
  EXPECT_EQ(l.in_use, 0u);
  EXPECT_EQ(l.waiting, 0u);
  EXPECT_EQ(l.in_use, pool.stats().in_use);
  expect_consistent(pool, *connector);
}

}  // namespace
}  // namespace reservoir::testing
