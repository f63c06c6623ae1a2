// async_run reports a slow call as run() does (one OperationTrace): once, with its phases,
// call time, backoff and attempts, to the pool's logger and listener (operation_slow).
#include <mutex>
#include <vector>

#include "asio_fixture.hpp"
#include "reservoir/asio/run.hpp"

namespace reservoir::testing {
namespace {

using reservoir::asio::async_run;

struct SlowRecorder final : PoolListener {
  void on_event(const PoolEvent& e) noexcept override {
    if (e.kind != PoolEventKind::operation_slow) return;
    std::lock_guard g(mu);
    seen.push_back({e.duration, e.phases, e.call, e.backoff, e.attempts, std::string(e.where.file)});
  }
  struct Seen {
    Duration duration;
    AcquirePhases phases;
    Duration call, backoff;
    std::uint32_t attempts;
    std::string file;
  };
  std::mutex mu;
  std::vector<Seen> seen;
};

class AsyncRunSlowTest : public AsioTest {
 protected:
  Pool make_reporting_pool() {
    PoolConfig config = quiet_config();
    config.max_size = 1;
    config.slow_acquire_threshold = 100ms;
    PoolOptions o;
    o.clock = &clock;
    o.logger = logger;
    o.listener = recorder;
    o.start_maintainer = false;
    auto pool = Pool::create(connector, config, o);
    if (!pool) ADD_FAILURE() << pool.error().message();
    return std::move(pool).value();
  }
  // Runs `coro` on an io_context until it finishes (the first connect happens on the pool's
  // connect thread, in real time: bounded polling); the manual clock moves only inside fn.
  template <class Coro>
  void run_until_done(Coro coro) {
    net::io_context ioc;
    bool done = false;
    net::co_spawn(ioc, [&]() -> net::awaitable<void> {
      (void)co_await coro();
      done = true;
    }, net::detached);
    for (int i = 0; i < 5000 && !done; ++i) {
      ioc.restart();
      ioc.poll();
      if (!done) std::this_thread::sleep_for(1ms);
    }
    ASSERT_TRUE(done);
  }
  std::shared_ptr<SlowRecorder> recorder = std::make_shared<SlowRecorder>();
};

TEST_F(AsyncRunSlowTest, ASlowCallIsReportedOnceWithItsPhases) {
  Pool pool = make_reporting_pool();
  RunOptions options;
  run_until_done([&]() -> net::awaitable<Result<int>> {
    co_return co_await async_run(pool, options, [&](Connection&) -> Result<int> {
      clock.advance(150ms);
      return 7;
    });
  });
  std::lock_guard g(recorder->mu);
  ASSERT_EQ(recorder->seen.size(), 1u);
  const auto& slow = recorder->seen[0];
  EXPECT_EQ(slow.duration, 150ms);
  EXPECT_EQ(slow.call, 150ms);
  EXPECT_EQ(slow.attempts, 1u);
  EXPECT_NE(slow.file.find("run_slow_test.cpp"), std::string::npos) << slow.file;
  EXPECT_TRUE(logger->contains("slow operation: 150 ms, 1 attempt (queued 0 ms, connect 0 ms, check 0 ms, call 150 ms, "
                               "backoff 0 ms) at "));
  EXPECT_TRUE(logger->contains(": ok"));
}

TEST_F(AsyncRunSlowTest, AQuickCallIsNotReportedAndAZeroThresholdTurnsItOff) {
  Pool pool = make_reporting_pool();
  RunOptions options;
  run_until_done([&]() -> net::awaitable<Status> {
    co_return co_await async_run(pool, options, [&](Connection&) -> Status {
      clock.advance(99ms);
      return {};
    });
  });
  RunOptions off;
  off.slow_threshold = Duration::zero();
  run_until_done([&]() -> net::awaitable<Status> {
    co_return co_await async_run(pool, off, [&](Connection&) -> Status {
      clock.advance(500ms);
      return {};
    });
  });
  std::lock_guard g(recorder->mu);
  EXPECT_TRUE(recorder->seen.empty());
  EXPECT_FALSE(logger->contains("slow operation"));
}

}  // namespace
}  // namespace reservoir::testing
