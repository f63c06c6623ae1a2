// Registry::render() over N live pools, each with a breaker and a few connections leased and
// returned, as a scrape would see them. The bound: 100 pools in under 1 ms.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "reservoir/metrics/registry.hpp"

namespace {

using namespace reservoir;

struct NullConnection final : Connection {};

struct NullConnector final : Connector {
  Result<std::unique_ptr<Connection>> connect(Deadline) override { return std::unique_ptr<Connection>(new NullConnection); }
  Status check(Connection&, CheckDepth, Deadline) override { return {}; }
  Status reset(Connection&, Deadline) override { return {}; }
  void close(std::unique_ptr<Connection>, Deadline) noexcept override {}
  std::string endpoint() const override { return "null:0"; }
};

struct Fleet {
  std::vector<std::shared_ptr<Pool>> pools;
  std::vector<std::shared_ptr<CircuitBreaker>> breakers;
  metrics::Registry registry;

  explicit Fleet(int n) {
    for (int i = 0; i < n; ++i) {
      PoolConfig c;
      c.name = "pool-" + std::to_string(i);
      c.max_size = 8;
      c.min_idle = 0;
      auto pool = std::make_shared<Pool>(Pool::create(std::make_shared<NullConnector>(), c,
                                                      {.start_maintainer = false}).value());
      {
        auto a = pool->acquire();
        auto b = pool->acquire();
      }
      registry.add_pool(pool);
      pools.push_back(pool);
      auto breaker = CircuitBreaker::create("endpoint-" + std::to_string(i) + ":5432", {},
                                            SteadyClock::instance()).value();
      registry.add_breaker(breaker);
      breakers.push_back(breaker);
    }
  }
};

void BM_Render(benchmark::State& state) {
  Fleet fleet(static_cast<int>(state.range(0)));
  std::string out;
  for (auto _ : state) {
    out.clear();
    fleet.registry.render(out);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["bytes"] = static_cast<double>(out.size());
  state.counters["pools"] = static_cast<double>(state.range(0));
}
BENCHMARK(BM_Render)->Arg(1)->Arg(10)->Arg(100)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
