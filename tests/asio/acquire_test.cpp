// async_acquire: any completion token, results on the caller's executor, per-operation
// cancellation, and an io_context stopped or destroyed under pending acquires.
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>
#include <atomic>
#include <future>
#include <memory>
#include <vector>

#include "asio_fixture.hpp"

namespace reservoir::testing {
namespace {

using reservoir::asio::async_acquire;

// Records one completion and where it ran.
struct Got {
  std::optional<Result<Lease>> result;
  std::thread::id on;
  int calls = 0;
  auto handler() {
    return [this](Result<Lease> r) {
      ++calls;
      on = std::this_thread::get_id();
      result.emplace(std::move(r));
    };
  }
};

TEST_F(AsioTest, ACallbackRunsOnItsExecutorNeverInsideTheInitiatingCall) {
  Pool pool = make_warm_pool(1);
  net::io_context ioc;
  Got got;
  async_acquire(pool, in(1s), net::bind_executor(ioc, got.handler()));
  EXPECT_EQ(got.calls, 0) << "completed inline, inside async_acquire()";
  EXPECT_EQ(pool.stats().in_use, 1u) << "the idle connection was taken at once";
  ioc.run();
  ASSERT_EQ(got.calls, 1);
  ASSERT_TRUE(got.result->ok()) << got.result->error().message();
  EXPECT_EQ(got.on, std::this_thread::get_id());
  got.result.reset();
  expect_all_idle(pool, *connector, 1);
}

TEST_F(AsioTest, ALeaseReturnedOnAnotherThreadIsDeliveredOnTheCallersExecutor) {
  Pool pool = make_warm_pool(1);
  Lease held = pool.acquire(in(1s)).value();
  net::io_context ioc;
  auto work = net::make_work_guard(ioc);
  std::thread::id io_thread;
  std::thread runner([&] {
    io_thread = std::this_thread::get_id();
    ioc.run();
  });
  std::promise<std::thread::id> ran_on;
  std::promise<bool> got_lease;
  net::post(ioc, [&] {
    async_acquire(pool, in(10s), net::bind_executor(ioc, [&](Result<Lease> r) {
                    ran_on.set_value(std::this_thread::get_id());
                    got_lease.set_value(r.ok());
                  }));
  });
  ASSERT_TRUE(eventually([&] { return pool.load().waiting == 1; }));
  held.release();  // on this thread: the pool hands the connection over here
  EXPECT_TRUE(got_lease.get_future().get());
  EXPECT_EQ(ran_on.get_future().get(), io_thread);
  EXPECT_NE(io_thread, std::this_thread::get_id());
  work.reset();
  runner.join();
  expect_all_idle(pool, *connector, 1);
}

TEST_F(AsioTest, UseAwaitableGivesTheResultAsAValue) {
  Pool pool = make_warm_pool(1);
  Lease held = pool.acquire(in(1s)).value();
  net::io_context ioc;
  std::optional<ErrorKind> kind;
  bool leased = false;
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        // Exhausted: the deadline ends it, as a value (no exception).
        Result<Lease> none = co_await async_acquire(pool, in(1s), net::use_awaitable);
        kind = none.ok() ? std::nullopt : std::optional(none.error().kind());
        held.release();
        Result<Lease> one = co_await async_acquire(pool, in(1s), net::use_awaitable);
        leased = one.ok();
      },
      net::detached);
  ioc.poll();
  EXPECT_FALSE(kind.has_value()) << "queued until the deadline";
  clock.advance(1s);  // the pool's timer fires on this thread; the coroutine resumes in run()
  ioc.run();
  ASSERT_TRUE(kind.has_value());
  EXPECT_EQ(*kind, ErrorKind::exhausted);
  EXPECT_TRUE(leased);
  expect_all_idle(pool, *connector, 1);
}

TEST_F(AsioTest, DeferredStartsOnlyWhenLaunched) {
  Pool pool = make_warm_pool(1);
  net::io_context ioc;
  auto op = async_acquire(pool, in(1s), net::deferred);
  EXPECT_EQ(pool.stats().in_use, 0u) << "deferred: nothing happens before launch";
  Got got;
  std::move(op)(net::bind_executor(ioc, got.handler()));
  ioc.run();
  ASSERT_EQ(got.calls, 1);
  EXPECT_TRUE(got.result->ok());
  got.result.reset();
  expect_all_idle(pool, *connector, 1);
}

TEST_F(AsioTest, UseFutureCompletesOnTheSystemExecutor) {
  Pool pool = make_warm_pool(1);
  std::future<Result<Lease>> f = async_acquire(pool, in(1s), net::use_future);
  Result<Lease> r = f.get();
  ASSERT_TRUE(r.ok()) << r.error().message();
  r.value().release();
  expect_all_idle(pool, *connector, 1);
}

TEST_F(AsioTest, TypedPoolsGiveTypedLeases) {
  struct Conn {
    int n = 7;
  };
  struct TypedFake {
    using connection = Conn;
    Result<std::unique_ptr<Conn>> connect(Deadline) { return std::make_unique<Conn>(); }
    Status check(Conn&, CheckDepth, Deadline) { return {}; }
    Status reset(Conn&, Deadline) { return {}; }
    void close(std::unique_ptr<Conn>, Deadline) noexcept {}
    bool is_broken(const Conn&) const noexcept { return false; }
    bool is_retryable(const Error&) const noexcept { return false; }
    std::string endpoint() const { return "typed:1"; }
  };
  PoolOptions o;
  o.clock = &clock;
  o.logger = logger;
  o.start_maintainer = false;
  auto pool = TypedPool<TypedFake>::create(quiet_config(), o).value();
  (void)pool.acquire(in(1s)).value();
  net::io_context ioc;
  int n = 0;
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        auto lease = co_await async_acquire(pool, in(1s), net::use_awaitable);
        if (lease) n = (*lease)->n;
      },
      net::detached);
  ioc.run();
  EXPECT_EQ(n, 7);
}

TEST_F(AsioTest, ABoundCancellationSlotWithdrawsTheQueuedAcquire) {
  Pool pool = make_warm_pool(1);
  std::optional<Lease> held(pool.acquire(in(1s)).value());
  net::io_context ioc;
  net::cancellation_signal signal;
  Got got;
  async_acquire(pool, Deadline::never(clock), net::bind_cancellation_slot(signal.slot(), net::bind_executor(ioc, got.handler())));
  ioc.poll();
  ASSERT_EQ(pool.load().waiting, 1u);
  signal.emit(net::cancellation_type::terminal);
  EXPECT_EQ(pool.load().waiting, 0u) << "the request left the pool's queue";
  ioc.run();
  ASSERT_EQ(got.calls, 1);
  ASSERT_FALSE(got.result->ok());
  EXPECT_EQ(got.result->error().kind(), ErrorKind::cancelled);
  held.reset();
  expect_all_idle(pool, *connector, 1);
}

TEST_F(AsioTest, ACancelAfterTheHandoverDeliversTheLeaseInsteadOfLosingIt) {
  Pool pool = make_warm_pool(1);
  std::optional<Lease> held(pool.acquire(in(1s)).value());
  net::io_context ioc;
  net::cancellation_signal signal;
  Got got;
  async_acquire(pool, Deadline::never(clock), net::bind_cancellation_slot(signal.slot(), net::bind_executor(ioc, got.handler())));
  held.reset();  // handed to the queued request; its completion is posted, not yet run
  signal.emit(net::cancellation_type::terminal);
  ioc.run();
  ASSERT_EQ(got.calls, 1);
  ASSERT_TRUE(got.result->ok()) << "the connection handed over at the cancel was lost";
  got.result.reset();
  expect_all_idle(pool, *connector, 1);
}

TEST_F(AsioTest, AnAwaitableOrATimerCancelsTheLosingAcquire) {
  using namespace net::experimental::awaitable_operators;
  Pool pool = make_warm_pool(1);
  std::optional<Lease> held(pool.acquire(in(1s)).value());
  net::io_context ioc;
  std::optional<std::size_t> winner;
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        // The acquire can only complete if the pool frees a connection, which nobody does.
        net::steady_timer timer(co_await net::this_coro::executor, std::chrono::milliseconds(1));
        auto v = co_await (async_acquire(pool, Deadline::never(clock), net::use_awaitable) ||
                           timer.async_wait(net::use_awaitable));
        winner = v.index();
      },
      net::detached);
  ioc.run();
  ASSERT_TRUE(winner.has_value());
  EXPECT_EQ(*winner, 1u) << "the timer should have won";
  EXPECT_EQ(pool.load().waiting, 0u) << "the losing acquire stayed queued";
  held.reset();
  expect_all_idle(pool, *connector, 1);
}

// Counts live coroutine frames: its destructor runs when a frame is destroyed uncalled.
struct FrameCount {
  explicit FrameCount(std::atomic<int>& n) : n(n) { ++n; }
  ~FrameCount() { --n; }
  std::atomic<int>& n;
};

// Spawns `n` coroutines on `ioc` that each wait for a lease of `pool` (never resumed here).
void spawn_waiters(net::io_context& ioc, Pool& pool, const Clock& clock, int n, std::atomic<int>& frames,
                   int& resumed) {
  for (int i = 0; i < n; ++i) {
    net::co_spawn(
        ioc,
        [&]() -> net::awaitable<void> {
          FrameCount alive(frames);
          auto lease = co_await async_acquire(pool, Deadline::never(clock), net::use_awaitable);
          ++resumed;
        },
        net::detached);
  }
}

TEST_F(AsioTest, DestroyingTheIoContextWithdrawsPendingAcquiresAndLosesNoSlot) {
  Pool pool = make_warm_pool(1);
  std::optional<Lease> held(pool.acquire(in(1s)).value());
  std::atomic<int> frames{0};
  int resumed = 0;
  {
    net::io_context ioc;
    spawn_waiters(ioc, pool, clock, 8, frames, resumed);
    ioc.poll();
    ASSERT_EQ(pool.load().waiting, 8u);
    ASSERT_EQ(frames.load(), 8);
  }
  EXPECT_EQ(resumed, 0) << "a handler ran during destruction";
  EXPECT_EQ(frames.load(), 0) << "a coroutine frame was leaked";
  EXPECT_EQ(pool.load().waiting, 0u) << "a request stayed queued in the pool after its io_context was gone";
  held.reset();
  expect_all_idle(pool, *connector, 1);
}

TEST_F(AsioTest, ALeasePostedToAnIoContextThatIsDestroyedGoesBackToThePool) {
  Pool pool = make_warm_pool(1);
  std::optional<Lease> held(pool.acquire(in(1s)).value());
  std::atomic<int> frames{0};
  int resumed = 0;
  {
    net::io_context ioc;
    spawn_waiters(ioc, pool, clock, 8, frames, resumed);
    ioc.poll();
    ASSERT_EQ(pool.load().waiting, 8u);
    held.reset();  // handed to the first waiter: its completion is posted to ioc, never run
    ASSERT_EQ(pool.load().waiting, 7u);
  }
  EXPECT_EQ(resumed, 0) << "a handler ran during destruction";
  EXPECT_EQ(frames.load(), 0) << "a coroutine frame was leaked";
  EXPECT_EQ(pool.load().waiting, 0u);
  expect_all_idle(pool, *connector, 1);
}

TEST_F(AsioTest, AStoppedIoContextHoldsNoConnectionAndItsCallerLearnsWhy) {
  Pool pool = make_warm_pool(1);
  std::optional<Lease> held(pool.acquire(in(1s)).value());
  net::io_context ioc;
  Got got;
  async_acquire(pool, Deadline::never(clock), net::bind_executor(ioc, got.handler()));
  ioc.stop();
  held.reset();  // handed to the queued request while its loop is stopped
  EXPECT_EQ(pool.stats().in_use, 0u) << "a stopped io_context holds a connection nobody can use";
  EXPECT_EQ(pool.stats().idle, 1u);
  ioc.restart();
  ioc.run();
  ASSERT_EQ(got.calls, 1);
  ASSERT_FALSE(got.result->ok());
  EXPECT_EQ(got.result->error().kind(), ErrorKind::cancelled) << got.result->error().message();
  expect_all_idle(pool, *connector, 1);
}

TEST_F(AsioTest, ACoroutineOnAStoppedIoContextHoldsNoConnection) {
  Pool pool = make_warm_pool(1);
  std::optional<Lease> held(pool.acquire(in(1s)).value());
  net::io_context ioc;
  std::optional<ErrorKind> kind;
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        auto lease = co_await async_acquire(pool, Deadline::never(clock), net::use_awaitable);
        kind = lease.ok() ? std::nullopt : std::optional(lease.error().kind());
      },
      net::detached);
  ioc.poll();
  ASSERT_EQ(pool.load().waiting, 1u);
  ioc.stop();
  held.reset();
  EXPECT_EQ(pool.stats().in_use, 0u) << "the stopped loop's coroutine holds the connection";
  ioc.restart();
  ioc.run();
  ASSERT_TRUE(kind.has_value());
  EXPECT_EQ(*kind, ErrorKind::cancelled);
  expect_all_idle(pool, *connector, 1);
}

TEST_F(AsioTest, ALeasePostedBeforeTheStopRunsWhenTheLoopRunsAgain) {
  Pool pool = make_warm_pool(1);
  std::optional<Lease> held(pool.acquire(in(1s)).value());
  net::io_context ioc;
  Got got;
  async_acquire(pool, Deadline::never(clock), net::bind_executor(ioc, got.handler()));
  held.reset();  // handed over and posted while the loop is not stopped
  ioc.stop();
  ioc.run();  // stopped: runs nothing
  EXPECT_EQ(got.calls, 0);
  ioc.restart();
  ioc.run();
  ASSERT_EQ(got.calls, 1);
  EXPECT_TRUE(got.result->ok());
  got.result.reset();
  expect_all_idle(pool, *connector, 1);
}

TEST_F(AsioTest, DestroyingThePoolCompletesPendingAcquiresWithShuttingDown) {
  net::io_context ioc;
  Got got;
  std::optional<Lease> held;  // outlives the pool (allowed): its connection closes on return
  {
    Pool pool = make_warm_pool(1);
    held.emplace(pool.acquire(in(1s)).value());
    async_acquire(pool, Deadline::never(clock), net::bind_executor(ioc, got.handler()));
    ioc.poll();
  }
  ioc.run();
  ASSERT_EQ(got.calls, 1);
  ASSERT_FALSE(got.result->ok());
  EXPECT_EQ(got.result->error().kind(), ErrorKind::shutting_down);
  held.reset();
}

// Many coroutines on two io threads over a pool of 2, releases crossing threads: every acquire
// completes once and nothing is lost (run under TSan by the tsan preset).
TEST_F(AsioTest, ManyCoroutinesOnTwoThreadsShareAPoolOfTwo) {
  Pool pool = make_warm_pool(2);
  net::io_context ioc;
  std::atomic<int> ok{0};
  constexpr int kCoroutines = 64;
  constexpr int kRounds = 50;
  for (int i = 0; i < kCoroutines; ++i) {
    net::co_spawn(
        ioc,
        [&]() -> net::awaitable<void> {
          for (int round = 0; round < kRounds; ++round) {
            auto lease = co_await async_acquire(pool, Deadline::never(clock), net::use_awaitable);
            if (lease) ok.fetch_add(1);
          }
        },
        net::detached);
  }
  std::thread second([&] { ioc.run(); });
  ioc.run();
  second.join();
  EXPECT_EQ(ok.load(), kCoroutines * kRounds);
  expect_all_idle(pool, *connector, 2);
}

}  // namespace
}  // namespace reservoir::testing
