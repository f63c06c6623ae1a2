// The HikariCP-benchmark "ConnectionCycle" shape over a do-nothing connector: the figure is
// the pool's own acquire + release cost. Compare with ../shared/peers/hikari_cycle.sh run in
// the same sitting.
#include <benchmark/benchmark.h>

#include <memory>
#include <mutex>

#include "reservoir/pool.hpp"

namespace {

using namespace reservoir;

struct StubConnection final : Connection {};

class StubConnector final : public Connector {
 public:
  Result<std::unique_ptr<Connection>> connect(Deadline) override { return std::unique_ptr<Connection>(new StubConnection); }
  Status check(Connection&, CheckDepth, Deadline) override { return {}; }
  Status reset(Connection&, Deadline) override { return {}; }
  void close(std::unique_ptr<Connection>, Deadline) noexcept override {}
  std::string endpoint() const override { return "stub"; }
};

// One pool per benchmark run, shared by its threads: built by thread 0 before the timed loop.
std::mutex g_mu;
std::unique_ptr<Pool> g_pool;

void setup(std::size_t size) {
  PoolConfig c;
  c.name = "bench";
  c.max_size = size;
  c.min_idle = size;  // filled before the clock starts, as HikariCP's fixed-size pool
  c.init_mode = InitMode::wait;
  c.acquire_timeout = std::chrono::milliseconds(30000);
  auto pool = Pool::create(std::make_shared<StubConnector>(), c);
  if (!pool) std::abort();
  g_pool = std::make_unique<Pool>(std::move(pool).value());
}

void cycle(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  if (state.thread_index() == 0) setup(size);
  for (auto _ : state) {
    auto lease = g_pool->acquire();
    benchmark::DoNotOptimize(lease);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    const PoolStats s = g_pool->stats();
    state.counters["created"] = static_cast<double>(s.created);
    state.counters["timeouts"] = static_cast<double>(s.timeouts);
  }
}

// Threads read the pool through g_pool after thread 0 set it up: Google Benchmark starts the
// timed loop of all threads together, after every thread has reached it.
BENCHMARK(cycle)->Name("cycle/t1_pool8")->Arg(8)->Threads(1)->UseRealTime();
BENCHMARK(cycle)->Name("cycle/t2_pool8")->Arg(8)->Threads(2)->UseRealTime();
BENCHMARK(cycle)->Name("cycle/t4_pool2")->Arg(2)->Threads(4)->UseRealTime();
BENCHMARK(cycle)->Name("cycle/t8_pool4")->Arg(4)->Threads(8)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
