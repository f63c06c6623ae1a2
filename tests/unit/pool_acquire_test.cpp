// Acquire and release: reuse, errors, FIFO handoff, discard, connect limits and backoff.
#include <atomic>
#include <future>
#include <thread>

#include "pool_fixture.hpp"

namespace reservoir::testing {
namespace {

TEST_F(PoolTest, ReusesAReturnedConnection) {
  Pool pool = make_pool(quiet_config());
  int first_id = 0;
  {
    auto lease = pool.acquire();
    ASSERT_TRUE(lease);
    first_id = fake(*lease).id;
  }
  auto again = pool.acquire();
  ASSERT_TRUE(again);
  EXPECT_EQ(fake(*again).id, first_id);
  const PoolStats s = pool.stats();
  EXPECT_EQ(s.created, 1u);
  EXPECT_EQ(s.acquires, 2u);
  EXPECT_EQ(s.releases, 1u);
  EXPECT_EQ(s.in_use, 1u);
  EXPECT_DOUBLE_EQ(s.reuse_ratio(), 0.5);
  expect_consistent(pool, *connector);
}

TEST_F(PoolTest, ResetRunsOnEveryReturnSoStateNeverLeaks) {
  Pool pool = make_pool(quiet_config());
  {
    auto lease = pool.acquire();
    fake(*lease).session_state = "SET search_path TO secret";
  }
  auto next = pool.acquire();
  EXPECT_EQ(fake(*next).session_state, "");
  EXPECT_EQ(connector->resets.load(), 1);
}

TEST_F(PoolTest, FailedResetClosesInsteadOfReusing) {
  Pool pool = make_pool(quiet_config());
  connector->set_reset_fails(true);
  int id = 0;
  {
    auto lease = pool.acquire();
    id = fake(*lease).id;
  }
  EXPECT_EQ(connector->closes.load(), 1);
  connector->set_reset_fails(false);
  auto next = pool.acquire();
  EXPECT_NE(fake(*next).id, id);
  EXPECT_EQ(pool.stats().closed_by[static_cast<std::size_t>(CloseReason::broken)], 1u);
}

TEST_F(PoolTest, ExhaustedErrorCarriesCounts) {
  PoolConfig c = quiet_config();
  c.max_size = 2;
  Pool pool = make_pool(c);
  auto a = pool.acquire();
  auto b = pool.acquire();
  ASSERT_TRUE(a && b);
  auto fut = std::async(std::launch::async, [&] { return pool.acquire(in(2000ms)); });
  wait_for_waiters(1);
  clock.advance(2000ms);
  auto r = fut.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::exhausted);
  EXPECT_EQ(r.error().message(), "exhausted: 2/2 in use, 0 waiting, waited 2000 ms");
  EXPECT_TRUE(r.error().retryable());
  EXPECT_EQ(pool.stats().timeouts, 1u);
  EXPECT_EQ(pool.stats().failed_acquires, 1u);
}

TEST_F(PoolTest, DeadServerIsUnavailableWithEndpointAndCause) {
  connector->set_fallback(ConnectOutcome::refuse);
  Pool pool = make_pool(quiet_config());
  auto r = pool.acquire(in(1000ms));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "unavailable: fake:1: connection refused");
  EXPECT_EQ(pool.stats().failed_connects, 1u);
  expect_consistent(pool, *connector);
}

TEST_F(PoolTest, WaiterTimingOutDuringBackoffReportsLastConnectError) {
  connector->set_fallback(ConnectOutcome::refuse);
  Pool pool = make_pool(quiet_config());
  ASSERT_FALSE(pool.acquire(in(1000ms)));  // fails, starts a 100 ms backoff
  auto fut = std::async(std::launch::async, [&] { return pool.acquire(in(50ms)); });
  wait_for_waiters(1);
  clock.advance(50ms);
  auto r = fut.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::unavailable);
  EXPECT_EQ(r.error().message(), "unavailable: fake:1: connection refused (0/4 in use, 0 waiting, waited 50 ms)");
  EXPECT_EQ(connector->connects.load(), 1) << "no connect may start inside the backoff";
}

// A refused connect costs the server nothing: while callers wait, its backoff doubles only up
// to connect_backoff_refused_max, so a server that is back is noticed within that much.
TEST_F(PoolTest, RefusedConnectsBackOffOnlyUpToTheRefusedCap) {
  PoolConfig c = quiet_config();
  c.connect_backoff_initial = 10ms;
  c.connect_backoff_refused_max = 40ms;
  c.connect_backoff_max = 1000ms;
  connector->script({ConnectOutcome::refuse, ConnectOutcome::refuse, ConnectOutcome::refuse, ConnectOutcome::refuse});
  Pool pool = make_pool(c);
  ASSERT_FALSE(pool.acquire(in(1000ms)));  // backoff 10 ms
  clock.advance(10ms);
  ASSERT_FALSE(pool.acquire(in(1000ms)));  // 20 ms
  clock.advance(20ms);
  ASSERT_FALSE(pool.acquire(in(1000ms)));  // 40 ms
  clock.advance(40ms);
  ASSERT_FALSE(pool.acquire(in(1000ms)));  // 40 ms again: capped
  auto fut = std::async(std::launch::async, [&] { return pool.acquire(in(1000ms)); });
  wait_for_waiters(1);
  clock.advance(39ms);
  EXPECT_EQ(connector->connects.load(), 4) << "no connect inside the backoff";
  clock.advance(1ms);
  auto r = fut.get();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(connector->connects.load(), 5);
}

// A connect that timed out may mean a blackholed host, where every attempt costs a whole
// connect_timeout: that backoff doubles up to connect_backoff_max.
TEST_F(PoolTest, TimedOutConnectsBackOffUpToTheMax) {
  PoolConfig c = quiet_config();
  c.connect_timeout = 50ms;
  c.connect_backoff_initial = 100ms;
  c.connect_backoff_refused_max = 100ms;
  c.connect_backoff_max = 1000ms;
  connector->script({ConnectOutcome::hang, ConnectOutcome::hang});
  Pool pool = make_pool(c);
  for (int i = 0; i < 2; ++i) {
    auto fut = std::async(std::launch::async, [&] { return pool.acquire(in(10s)); });
    wait_for_waiters(2);  // the caller and the connect, both on the clock
    clock.advance(50ms);  // the connect times out: the caller hears it at once
    auto r = fut.get();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind(), ErrorKind::timeout) << r.error().message();
    EXPECT_TRUE(eventually([&] { return pool.stats().connecting == 0; }));
    if (i == 0) clock.advance(100ms);  // the first backoff
  }
  // Second timeout: 200 ms now, not the 100 ms refused cap.
  auto fut = std::async(std::launch::async, [&] { return pool.acquire(in(10s)); });
  wait_for_waiters(1);
  clock.advance(199ms);
  EXPECT_EQ(connector->connects.load(), 2);
  clock.advance(1ms);
  ASSERT_TRUE(fut.get());
  EXPECT_EQ(connector->connects.load(), 3);
}

// The pool sat at one connection with callers queued for seconds after the server came back:
// a success did not clear the backoff the outage had built up.
TEST_F(PoolTest, ASuccessfulConnectEndsTheBackoffAtOnce) {
  PoolConfig c = quiet_config();
  c.connect_backoff_initial = 100ms;
  c.connect_backoff_refused_max = 1000ms;
  c.connect_backoff_max = 1000ms;
  connector->script({ConnectOutcome::refuse, ConnectOutcome::refuse});
  Pool pool = make_pool(c);
  ASSERT_FALSE(pool.acquire(in(1s)));  // 100 ms
  clock.advance(100ms);
  ASSERT_FALSE(pool.acquire(in(1s)));  // 200 ms
  clock.advance(200ms);
  auto first = pool.acquire(in(1s));  // the server is back
  ASSERT_TRUE(first);
  auto second = pool.acquire(in(1s));  // needs a connect now, with no backoff left to wait out
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(connector->connects.load(), 4);
}

TEST_F(PoolTest, WaitersAreServedFirstInFirstOut) {
  PoolConfig c = quiet_config();
  c.max_size = 1;
  Pool pool = make_pool(c);
  auto held = pool.acquire();
  ASSERT_TRUE(held);
  std::vector<int> order;
  std::mutex order_mu;
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      auto lease = pool.acquire(in(10s));
      ASSERT_TRUE(lease);
      std::lock_guard g(order_mu);
      order.push_back(i);
    });
    wait_for_waiters(i + 1);  // queue them in a known order
  }
  held->release();
  for (auto& t : threads) t.join();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(pool.stats().created, 1u);
}

// Within the bypass window a return is not handed to the parked waiter: the waiter is woken
// and takes the connection itself (unless a running caller took it first). Time stands
// still here, so only that wake-up can complete it.
TEST_F(PoolTest, AWokenWaiterTakesTheReturnedConnectionItself) {
  PoolConfig c = quiet_config();
  c.max_size = 1;
  Pool pool = make_pool(c);
  auto held = pool.acquire();
  ASSERT_TRUE(held);
  std::thread waiter([&] {
    auto lease = pool.acquire(in(10s));
    EXPECT_TRUE(lease) << lease.error().message();
  });
  ASSERT_TRUE(eventually([&] { return pool.stats().waiting == 1; }));
  held->release();
  waiter.join();
  EXPECT_EQ(pool.stats().created, 1u);
  EXPECT_EQ(pool.stats().waiting, 0u);
}

// With one connection held and one caller queued for it, `wait` passes, the connection is
// returned, and a caller arriving at that moment must not get it: the return went to the
// queued caller before release() came back.
class PoolHandoff : public PoolTest {
 protected:
  void expect_return_handed_to_the_waiter(Pool& pool, Duration wait);
};

void PoolHandoff::expect_return_handed_to_the_waiter(Pool& pool, Duration wait) {
  auto held = pool.acquire();
  ASSERT_TRUE(held);
  std::promise<void> done;  // the waiter keeps its lease until the late caller has tried
  std::thread waiter([&, finished = done.get_future()] {
    auto lease = pool.acquire(in(10s));
    EXPECT_TRUE(lease) << lease.error().message();
    finished.wait();
  });
  // Queued, not merely waiting on the clock (a connect thread may be too), before time moves.
  ASSERT_TRUE(eventually([&] { return pool.stats().waiting == 1; }));
  clock.advance(wait);
  held->release();
  auto late = pool.acquire(Deadline::at(clock, clock.now()));
  EXPECT_FALSE(late);
  if (late) late->release();  // so the waiter is not left waiting on a clock that never moves
  done.set_value();
  waiter.join();
}

// A waiter queued for longer than the bypass window (1 ms) is handed the next return
// directly: a caller arriving at that moment does not get it.
TEST_F(PoolHandoff, AWaiterPastTheBypassWindowIsHandedTheNextReturn) {
  PoolConfig c = quiet_config();
  c.max_size = 1;
  Pool pool = make_pool(c);
  expect_return_handed_to_the_waiter(pool, 2ms);
  EXPECT_EQ(pool.stats().created, 1u);
}

// queue_bypass = 0: strict FIFO handoff, every return goes to the oldest waiter at once.
TEST_F(PoolHandoff, ZeroQueueBypassHandsEveryReturnToTheOldestWaiter) {
  PoolConfig c = quiet_config();
  c.max_size = 1;
  c.queue_bypass = 0ms;
  Pool pool = make_pool(c);
  expect_return_handed_to_the_waiter(pool, 0ms);  // no time passes: handed over all the same
}

TEST_F(PoolTest, DiscardClosesAndReplaces) {
  Pool pool = make_pool(quiet_config());
  int id = 0;
  {
    auto lease = pool.acquire();
    id = fake(*lease).id;
    lease->discard();
  }
  EXPECT_EQ(connector->closes.load(), 1);
  auto next = pool.acquire();
  EXPECT_NE(fake(*next).id, id);
  EXPECT_EQ(pool.stats().closed_by[static_cast<std::size_t>(CloseReason::broken)], 1u);
  expect_consistent(pool, *connector);
}

TEST_F(PoolTest, BrokenConnectionIsNotReused) {
  Pool pool = make_pool(quiet_config());
  {
    auto lease = pool.acquire();
    fake(*lease).broken = true;  // e.g. the peer closed the socket
  }
  EXPECT_EQ(connector->closes.load(), 1);
  EXPECT_EQ(connector->resets.load(), 0) << "reset must not run on a broken connection";
}

TEST_F(PoolTest, DetachFreesCapacity) {
  PoolConfig c = quiet_config();
  c.max_size = 1;
  Pool pool = make_pool(c);
  auto lease = pool.acquire();
  std::unique_ptr<Connection> mine = lease->detach();
  ASSERT_TRUE(mine);
  EXPECT_FALSE(lease->valid());
  auto other = pool.acquire(in(10ms));
  ASSERT_TRUE(other) << "detached capacity must be free";
  connector->close(std::move(mine), in(1s));
}

TEST_F(PoolTest, MaxWaitersRejectsAtOnce) {
  PoolConfig c = quiet_config();
  c.max_size = 1;
  c.max_waiters = 1;
  Pool pool = make_pool(c);
  auto held = pool.acquire();
  auto fut = std::async(std::launch::async, [&] { return pool.acquire(in(10s)); });
  wait_for_waiters(1);
  auto r = pool.acquire(in(10s));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::exhausted);
  EXPECT_NE(r.error().message().find("max_waiters"), std::string::npos);
  EXPECT_EQ(pool.stats().rejected, 1u);
  held->release();
  EXPECT_TRUE(fut.get());
}

TEST_F(PoolTest, ConcurrentConnectsAreBounded) {
  PoolConfig c = quiet_config();
  c.max_size = 4;
  c.max_concurrent_connects = 2;
  connector->set_fallback(ConnectOutcome::hang);
  Pool pool = make_pool(c);
  std::vector<std::future<Result<Lease>>> futs;
  for (int i = 0; i < 4; ++i) futs.push_back(std::async(std::launch::async, [&] { return pool.acquire(in(1s)); }));
  // All four callers queue and park on the clock, and so do the two connect threads (hanging
  // connects wait on it too): six in all, never a third connect.
  wait_for_waiters(6);
  EXPECT_EQ(connector->max_in_flight.load(), 2);
  EXPECT_EQ(pool.stats().connecting, 2u);
  connector->release_hangs();
  clock.advance(1s);
  for (auto& f : futs) EXPECT_FALSE(f.get());
  EXPECT_EQ(connector->max_in_flight.load(), 2);
  EXPECT_TRUE(eventually([&] { return pool.stats().connecting == 0; }));
  expect_consistent(pool, *connector);
}

TEST_F(PoolTest, HangingConnectEndsAtTheCallersDeadline) {
  connector->set_fallback(ConnectOutcome::hang);
  Pool pool = make_pool(quiet_config());
  auto fut = std::async(std::launch::async, [&] { return pool.acquire(in(300ms)); });
  wait_for_waiters(1);
  clock.advance(300ms);
  auto r = fut.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::timeout);
  EXPECT_EQ(pool.stats().connecting, 1u) << "the connect goes on for the pool, bounded by connect_timeout";
  connector->release_hangs();  // ~Pool waits for connects in flight
}

class RefusingGate final : public ConnectGate {
 public:
  struct Sink final : GateTicket::Sink {
    explicit Sink(RefusingGate& g) : gate(g) {}
    void succeeded() noexcept override { gate.ok.fetch_add(1); }
    void failed(const Error&) noexcept override { gate.failed.fetch_add(1); }
    void ignored() noexcept override { gate.ignored.fetch_add(1); }
    RefusingGate& gate;
  };
  Result<GateTicket> admit() override {
    asked.fetch_add(1);
    if (open.load()) return Error::make(ErrorKind::circuit_open, "fake:1: breaker open, next probe in 5000 ms");
    return GateTicket(std::make_unique<Sink>(*this));
  }
  std::atomic<bool> open{true};
  std::atomic<int> asked{0}, ok{0}, failed{0}, ignored{0};
};

TEST_F(PoolTest, ConnectGateFailsFastAndHearsOutcomes) {
  auto gate = std::make_shared<RefusingGate>();
  PoolOptions o;
  o.clock = &clock;
  o.logger = logger;
  o.start_maintainer = false;
  o.connect_gate = gate;
  auto pool = Pool::create(connector, quiet_config(), o);
  ASSERT_TRUE(pool);
  auto r = pool->acquire(in(10s));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::circuit_open);
  EXPECT_EQ(connector->connects.load(), 0);
  gate->open = false;
  EXPECT_TRUE(pool->acquire(in(10s)));
  EXPECT_EQ(gate->ok.load(), 1);
  EXPECT_EQ(gate->failed.load(), 0);
  connector->script({ConnectOutcome::refuse});
  auto held = pool->acquire(in(10s));  // the idle connection
  ASSERT_TRUE(held);
  EXPECT_FALSE(pool->acquire(in(10s)));  // needs a connect, which is refused
  EXPECT_EQ(gate->ok.load(), 1);
  EXPECT_EQ(gate->failed.load(), 1);
}

TEST_F(PoolTest, InitModes) {
  PoolConfig c = quiet_config();
  c.min_idle = 3;
  c.init_mode = InitMode::wait;
  {
    Pool pool = make_pool(c);
    EXPECT_EQ(pool.stats().idle, 3u);
  }
  c.init_mode = InitMode::lazy;
  {
    Pool pool = make_pool(c);
    EXPECT_EQ(pool.stats().size, 0u);
  }
  c.init_mode = InitMode::fail_fast;
  connector->set_fallback(ConnectOutcome::refuse);
  PoolOptions o;
  o.clock = &clock;
  o.logger = logger;
  o.start_maintainer = false;
  auto failed = Pool::create(connector, c, o);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message(), "unavailable: fake:1: connection refused");
  EXPECT_EQ(connector->live(), 0u);
}

TEST_F(PoolTest, CreateRejectsBadConfig) {
  PoolConfig c = quiet_config();
  c.max_size = 0;
  auto r = Pool::create(connector, c, PoolOptions{.clock = &clock});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::invalid_config);
  EXPECT_EQ(connector->connects.load(), 0);
}

}  // namespace
}  // namespace reservoir::testing
