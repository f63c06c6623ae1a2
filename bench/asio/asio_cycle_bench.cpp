// One acquire + release of an idle connection, blocking and through reservoir::asio, over a
// do-nothing connector: the figure is the adapter's own cost (an operation object, the
// execution context's registry, a post to the executor, a coroutine resume) on top of the
// pool's. BM_AsioPostOnly is the floor: a coroutine that only posts itself and resumes.
#include <benchmark/benchmark.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>

#include "reservoir/asio/acquire.hpp"
#include "reservoir/pool.hpp"

namespace {

using namespace reservoir;
namespace net = boost::asio;

struct StubConnection final : Connection {};

class StubConnector final : public Connector {
 public:
  Result<std::unique_ptr<Connection>> connect(Deadline) override { return std::unique_ptr<Connection>(new StubConnection); }
  Status check(Connection&, CheckDepth, Deadline) override { return {}; }
  Status reset(Connection&, Deadline) override { return {}; }
  void close(std::unique_ptr<Connection>, Deadline) noexcept override {}
  std::string endpoint() const override { return "stub"; }
};

Pool make_pool(std::size_t size) {
  PoolConfig c;
  c.name = "bench";
  c.max_size = size;
  c.min_idle = size;
  c.init_mode = InitMode::wait;
  c.acquire_timeout = std::chrono::milliseconds(30000);
  auto pool = Pool::create(std::make_shared<StubConnector>(), c);
  if (!pool) std::abort();
  return std::move(pool).value();
}

void BM_BlockingAcquireRelease(benchmark::State& state) {
  Pool pool = make_pool(1);
  for (auto _ : state) {
    auto lease = pool.acquire(Deadline::after(pool.clock(), std::chrono::seconds(30)));
    benchmark::DoNotOptimize(lease);
  }
}
BENCHMARK(BM_BlockingAcquireRelease);

void BM_AsioPostOnly(benchmark::State& state) {
  net::io_context ioc(1);
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        for (auto _ : state) co_await net::post(ioc, net::use_awaitable);
      },
      net::detached);
  ioc.run();
}
BENCHMARK(BM_AsioPostOnly);

void BM_CoroutineAcquireRelease(benchmark::State& state) {
  Pool pool = make_pool(1);
  net::io_context ioc(1);
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        for (auto _ : state) {
          auto lease = co_await asio::async_acquire(pool, Deadline::after(pool.clock(), std::chrono::seconds(30)),
                                                    net::use_awaitable);
          benchmark::DoNotOptimize(lease);
        }
      },
      net::detached);
  ioc.run();
}
BENCHMARK(BM_CoroutineAcquireRelease);

void BM_CallbackAcquireRelease(benchmark::State& state) {
  Pool pool = make_pool(1);
  net::io_context ioc(1);
  for (auto _ : state) {
    asio::async_acquire(pool, Deadline::after(pool.clock(), std::chrono::seconds(30)),
                        net::bind_executor(ioc, [](Result<Lease> lease) { benchmark::DoNotOptimize(lease); }));
    ioc.restart();
    ioc.run();
  }
}
BENCHMARK(BM_CallbackAcquireRelease);

// N coroutines on one thread over a pool of 4: with N > 4 most acquires queue and are handed
// a connection by a release (the waiter path, not the idle fast path). Items = cycles.
void BM_CoroutinesSharingAPoolOf4(benchmark::State& state) {
  Pool pool = make_pool(4);
  const int n = static_cast<int>(state.range(0));
  constexpr int kCycles = 64;  // per coroutine per iteration
  for (auto _ : state) {
    net::io_context ioc(1);
    for (int i = 0; i < n; ++i) {
      net::co_spawn(
          ioc,
          [&]() -> net::awaitable<void> {
            for (int c = 0; c < kCycles; ++c) {
              auto lease = co_await asio::async_acquire(pool, Deadline::after(pool.clock(), std::chrono::seconds(30)),
                                                        net::use_awaitable);
              benchmark::DoNotOptimize(lease);
              co_await net::post(ioc, net::use_awaitable);  // hold it across a suspension
            }
          },
          net::detached);
    }
    ioc.run();
  }
  state.SetItemsProcessed(state.iterations() * n * kCycles);
}
BENCHMARK(BM_CoroutinesSharingAPoolOf4)->Arg(4)->Arg(64);

}  // namespace

BENCHMARK_MAIN();
