// async_run: run()'s semantics for coroutines (deadline, retry with backoff on the injected
// clock, idempotency, breaker, discard), on the scripted connector and a ManualClock.
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>

#include "asio_fixture.hpp"
#include "reservoir/asio/run.hpp"
#include "reservoir/breaker.hpp"

namespace reservoir::testing {
namespace {

using reservoir::asio::async_run;

class AsyncRunTest : public AsioTest {
 protected:
  // Runs `coro` on ioc, moving the manual clock by `step` whenever the coroutine is parked on
  // it (a backoff or a deadline), until it finishes. No thread ever sleeps.
  template <class T, class Coro>
  std::optional<T> drive(net::io_context& ioc, Pool& pool, Coro coro, Duration step = 100ms, int max_steps = 1000) {
    std::optional<T> out;
    // Inside a void coroutine: co_spawn's own completion would need a default-constructible
    // T, which Result<T> is not.
    net::co_spawn(
        ioc, [&out, c = std::move(coro)]() mutable -> net::awaitable<void> { out.emplace(co_await c()); },
        net::detached);
    for (int i = 0; i < max_steps && !out; ++i) {
      ioc.restart();
      ioc.poll();
      if (out) break;
      // A discarded connection is replaced on the pool's connect thread, in real time, and
      // handed to the queued acquire there: time moves only once no connect is in flight and
      // nobody is queued (else the acquire's deadline would pass meanwhile: on a loaded
      // machine this loop once moved the clock 10 s while the connect thread waited to run).
      if (!eventually([&] {
            const PoolLoad l = pool.load();
            return l.connecting == 0 && l.waiting == 0;
          })) {
        break;
      }
      // The hand-off's completion is posted just after the pool's lock is released: look once
      // more, waiting a little in real time, before moving the clock.
      ioc.restart();
      if (ioc.run_one_for(std::chrono::milliseconds(2)) > 0) continue;
      ++clock_moves;
      clock.advance(step);
    }
    ioc.restart();
    ioc.poll();
    return out;
  }

  static RunOptions options(RunReport* report) {
    RunOptions o;
    o.timeout = 10s;
    o.retry.max_attempts = 3;
    o.retry.backoff.initial = 100ms;
    o.retry.backoff.cap = 100ms;
    o.seed = 7;
    o.idempotent = true;
    o.report = report;
    return o;
  }

  int clock_moves = 0;
};

TEST_F(AsyncRunTest, RetriesAfterABackoffAwaitedOnTheInjectedClock) {
  Pool pool = make_warm_pool(1);
  net::io_context ioc;
  RunReport report;
  int calls = 0;
  auto coro = [&]() -> net::awaitable<Result<int>> {
    co_return co_await async_run(pool, options(&report), [&](Connection&) -> Result<int> {
      if (++calls < 3) return Error::unavailable("fake:1", "connection reset");
      return 42;
    });
  };
  auto r = drive<Result<int>>(ioc, pool, coro);
  ASSERT_TRUE(r.has_value()) << "never finished";
  ASSERT_TRUE(r->ok()) << r->error().message();
  EXPECT_EQ(r->value(), 42);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(report.attempts, 3u);
  EXPECT_GT(report.backoff, Duration::zero());
  EXPECT_GE(clock_moves, 2) << "each backoff should have waited for the clock to move";
  EXPECT_EQ(clock.pending_timers(), 0u);
  EXPECT_EQ(connector->closes.load(), 2) << "the connections that failed with unavailable were discarded";
}

TEST_F(AsyncRunTest, GivesTheSameAttemptsAndBackoffAsTheBlockingRun) {
  Pool pool = make_warm_pool(1);
  auto failing = [](Connection&) -> Status { return Error::unavailable("fake:1", "connection reset"); };
  RunReport blocking;
  {
    // The blocking run() sleeps on the manual clock: move it whenever that thread waits.
    std::atomic<bool> done{false};
    std::thread caller([&] {
      Status s = reservoir::run(pool, failing, options(&blocking));
      EXPECT_FALSE(s.ok());
      done = true;
    });
    while (!done) {
      if (clock.waiters() > 0) clock.advance(100ms);
      std::this_thread::sleep_for(1ms);
    }
    caller.join();
  }
  RunReport async;
  net::io_context ioc;
  RunOptions o = options(&async);
  auto r = drive<Status>(ioc, pool, [&]() -> net::awaitable<Status> { co_return co_await async_run(pool, o, failing); });
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(r->ok());
  EXPECT_EQ(async.attempts, blocking.attempts);
  EXPECT_EQ(async.last_verdict, blocking.last_verdict);
  EXPECT_EQ(async.backoff, blocking.backoff) << "same seed, same policy: the same waits";
  EXPECT_EQ(async.last_verdict, RetryVerdict::attempts_exhausted);
  EXPECT_NE(r->error().message().find("attempts_exhausted"), std::string::npos) << r->error().message();
}

TEST_F(AsyncRunTest, TheDeadlineBoundsRetriesAndBackoff) {
  Pool pool = make_warm_pool(1);
  net::io_context ioc;
  RunReport report;
  RunOptions o = options(&report);
  o.timeout = 1s;
  o.retry.max_attempts = 100;
  o.retry.backoff.initial = 300ms;
  o.retry.backoff.cap = 300ms;
  o.retry.backoff.jitter = Jitter::none;
  auto r = drive<Status>(ioc, pool, [&]() -> net::awaitable<Status> {
    co_return co_await async_run(pool, o, [](Connection&) -> Status { return Error::unavailable("fake:1", "down"); });
  });
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(r->ok());
  EXPECT_EQ(r->error().kind(), ErrorKind::unavailable);
  EXPECT_EQ(report.last_verdict, RetryVerdict::past_deadline);
  EXPECT_LT(report.attempts, 5u);
}

TEST_F(AsyncRunTest, ANonIdempotentOperationWhoseRequestLeftIsNotRetried) {
  Pool pool = make_warm_pool(1);
  net::io_context ioc;
  RunReport report;
  int calls = 0;
  RunOptions o = options(&report);
  o.idempotent = false;
  auto r = drive<Status>(ioc, pool, [&]() -> net::awaitable<Status> {
    co_return co_await async_run(pool, o, [&](Connection&, Attempt&) -> Status {
      ++calls;
      return Error::unavailable("fake:1", "reset after write");
    });
  });
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(report.last_verdict, RetryVerdict::not_idempotent);
  // The same operation, declaring that nothing left, is retried.
  calls = 0;
  auto again = drive<Status>(ioc, pool, [&]() -> net::awaitable<Status> {
    co_return co_await async_run(pool, o, [&](Connection&, Attempt& a) -> Status {
      a.set_request_sent(false);
      return ++calls < 2 ? Status(Error::unavailable("fake:1", "broken before write")) : Status();
    });
  });
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->ok());
  EXPECT_EQ(calls, 2);
}

TEST_F(AsyncRunTest, AnOpenBreakerFailsFastAndFailuresTripIt) {
  Pool pool = make_warm_pool(1);
  BreakerConfig bc;
  bc.consecutive_failures = 2;
  bc.open_time = 5s;
  auto breaker = CircuitBreaker::create("fake:1", bc, clock).value();
  net::io_context ioc;
  RunReport report;
  RunOptions o = options(&report);
  o.breaker = breaker;
  o.retry.max_attempts = 1;
  int calls = 0;
  auto failing = [&](Connection&) -> Status {
    ++calls;
    return Error::unavailable("fake:1", "down");
  };
  for (int i = 0; i < 2; ++i) {
    auto r = drive<Status>(ioc, pool, [&]() -> net::awaitable<Status> { co_return co_await async_run(pool, o, failing); });
    ASSERT_TRUE(r.has_value());
  }
  EXPECT_EQ(breaker->state(), BreakerState::open);
  auto r = drive<Status>(ioc, pool, [&]() -> net::awaitable<Status> { co_return co_await async_run(pool, o, failing); });
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(r->ok());
  EXPECT_EQ(r->error().kind(), ErrorKind::circuit_open);
  EXPECT_EQ(calls, 2) << "the open breaker should refuse before the operation runs";
}

TEST_F(AsyncRunTest, AnOperationMayItselfBeACoroutine) {
  Pool pool = make_warm_pool(1);
  net::io_context ioc;
  RunReport report;
  int calls = 0;
  auto r = drive<Result<int>>(ioc, pool, [&]() -> net::awaitable<Result<int>> {
    co_return co_await async_run(pool, options(&report), [&](Connection&, Attempt& a) -> net::awaitable<Result<int>> {
      // An operation that waits on its own (e.g. an async request): here a clock wait.
      auto [ec] = co_await reservoir::asio::async_wait_until(a.deadline().clock(), a.deadline().clock().now() + 50ms,
                                                             net::as_tuple(net::use_awaitable));
      if (ec) co_return Error::make(ErrorKind::cancelled, "wait cancelled");
      if (++calls < 2) co_return Error::unavailable("fake:1", "reset");
      co_return 7;
    });
  });
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE(r->ok()) << r->error().message();
  EXPECT_EQ(r->value(), 7);
  EXPECT_EQ(report.attempts, 2u);
}

TEST_F(AsyncRunTest, CancellingItDuringABackoffEndsItWithCancelledAndLeavesNothingBehind) {
  using namespace net::experimental::awaitable_operators;
  Pool pool = make_warm_pool(1);
  net::io_context ioc;
  RunReport report;
  RunOptions o = options(&report);
  o.retry.backoff.initial = 10s;  // on the manual clock, which this test never moves
  o.retry.backoff.cap = 10s;
  o.timeout = 60s;
  std::optional<Status> got;
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        net::steady_timer timer(co_await net::this_coro::executor, std::chrono::milliseconds(5));
        auto v = co_await (async_run(pool, o, [](Connection&) -> Status { return Error::unavailable("fake:1", "down"); }) ||
                           timer.async_wait(net::use_awaitable));
        if (v.index() == 1) got.emplace(Error::make(ErrorKind::cancelled, "timer won"));
        else got.emplace(std::get<0>(std::move(v)));
      },
      net::detached);
  ioc.run();
  ASSERT_TRUE(got.has_value());
  ASSERT_FALSE(got->ok());
  EXPECT_EQ(got->error().kind(), ErrorKind::cancelled);
  EXPECT_EQ(clock.pending_timers(), 0u) << "the backoff's clock timer was left behind";
  EXPECT_EQ(report.attempts, 1u);
  expect_all_idle(pool, *connector, 0);
}

}  // namespace
}  // namespace reservoir::testing
