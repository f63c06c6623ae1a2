// What a cluster adds to an acquire + release over a do-nothing connector: the pick (one short
// lock, the policy, the tier and ejection checks) and the outcome fed to the outlier detector
// on release. Compared with a single Pool in the same run. Results: README.md here.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "reservoir/cluster/cluster.hpp"
#include "reservoir/cluster/run.hpp"

namespace {

using namespace reservoir;

struct StubConnection final : Connection {
  bool primary = false;
};

class StubConnector final : public Connector {
 public:
  explicit StubConnector(std::string name, bool primary = false) : name_(std::move(name)), primary_(primary) {}
  Result<std::unique_ptr<Connection>> connect(Deadline) override {
    auto c = std::make_unique<StubConnection>();
    c->primary = primary_;
    return std::unique_ptr<Connection>(std::move(c));
  }
  Status check(Connection&, CheckDepth, Deadline) override { return {}; }
  Status reset(Connection&, Deadline) override { return {}; }
  void close(std::unique_ptr<Connection>, Deadline) noexcept override {}
  std::string endpoint() const override { return name_; }

 private:
  std::string name_;
  bool primary_;
};

// Roles from the stub connection (no I/O, as PostgreSQL's in_hot_standby); replicas 0 lag.
class StubRoles final : public cluster::RoleSource {
 public:
  static cluster::EndpointRole role(Connection& c) {
    return static_cast<StubConnection&>(c).primary ? cluster::EndpointRole::primary : cluster::EndpointRole::replica;
  }
  std::optional<cluster::EndpointRole> observe(Connection& c) noexcept override { return role(c); }
  Result<cluster::RoleReport> probe(Connection& c, Deadline) override { return cluster::RoleReport{role(c), 1, {}}; }
  bool is_wrong_role(const Error&) const noexcept override { return false; }
  Result<cluster::WriteToken> write_token(Connection&, Deadline) override { return cluster::WriteToken{1}; }
  Result<std::uint64_t> wait_for(Connection&, cluster::WriteToken, Duration, Deadline) override { return 1; }
};

PoolConfig pool_config() {
  PoolConfig c;
  c.name = "bench";
  c.max_size = 4;
  c.min_idle = 4;
  c.init_mode = InitMode::wait;
  c.acquire_timeout = std::chrono::milliseconds(30000);
  return c;
}

cluster::Cluster make_cluster(int endpoints, cluster::Policy policy) {
  cluster::ClusterConfig c;
  c.policy = policy;
  c.pool = pool_config();
  for (int i = 0; i < endpoints; ++i) {
    const std::string name = "stub" + std::to_string(i);
    c.endpoints.push_back({.name = name, .connector = std::make_shared<StubConnector>(name)});
  }
  auto r = cluster::Cluster::create(std::move(c));
  if (!r) std::abort();
  return std::move(r).value();
}

// A primary and two replicas, routed (probes once a second: not in the measured figure).
void routed_cycle(benchmark::State& state) {
  cluster::ClusterConfig c;
  c.policy = cluster::Policy::least_outstanding;
  c.pool = pool_config();
  for (int i = 0; i < 3; ++i) {
    const std::string name = "stub" + std::to_string(i);
    c.endpoints.push_back({.name = name, .connector = std::make_shared<StubConnector>(name, i == 0)});
  }
  c.routing.roles = std::make_shared<StubRoles>();
  auto made = cluster::Cluster::create(std::move(c));
  if (!made) std::abort();
  const Deadline far = Deadline::after(made->clock(), std::chrono::hours(1));
  const cluster::Intent intent = state.range(0) == 0 ? cluster::Intent::read() : cluster::Intent::write();
  for (auto _ : state) {
    auto lease = made->acquire(far, intent);
    benchmark::DoNotOptimize(lease);
  }
}

void pool_cycle(benchmark::State& state) {
  auto pool = Pool::create(std::make_shared<StubConnector>("stub"), pool_config());
  if (!pool) std::abort();
  for (auto _ : state) {
    auto lease = pool->acquire();
    benchmark::DoNotOptimize(lease);
  }
}

void cluster_cycle(benchmark::State& state) {
  auto c = make_cluster(static_cast<int>(state.range(0)), static_cast<cluster::Policy>(state.range(1)));
  const Deadline far = Deadline::after(c.clock(), std::chrono::hours(1));
  for (auto _ : state) {
    auto lease = c.acquire(far);
    benchmark::DoNotOptimize(lease);
  }
}

void pool_run(benchmark::State& state) {
  auto pool = Pool::create(std::make_shared<StubConnector>("stub"), pool_config());
  if (!pool) std::abort();
  for (auto _ : state) {
    Status s = run(*pool, [](Connection&) -> Status { return {}; });
    benchmark::DoNotOptimize(s);
  }
}

void cluster_run(benchmark::State& state) {
  auto c = make_cluster(static_cast<int>(state.range(0)), static_cast<cluster::Policy>(state.range(1)));
  for (auto _ : state) {
    Status s = cluster::run(c, [](Connection&) -> Status { return {}; });
    benchmark::DoNotOptimize(s);
  }
}

constexpr int kRoundRobin = static_cast<int>(cluster::Policy::round_robin);
constexpr int kP2C = static_cast<int>(cluster::Policy::least_outstanding);

BENCHMARK(pool_cycle)->Name("acquire_release/pool");
BENCHMARK(cluster_cycle)->Name("acquire_release/cluster1_rr")->Args({1, kRoundRobin});
BENCHMARK(cluster_cycle)->Name("acquire_release/cluster3_rr")->Args({3, kRoundRobin});
BENCHMARK(cluster_cycle)->Name("acquire_release/cluster3_p2c")->Args({3, kP2C});
BENCHMARK(cluster_cycle)->Name("acquire_release/cluster10_p2c")->Args({10, kP2C});
BENCHMARK(routed_cycle)->Name("acquire_release/cluster3_p2c_routed_read")->Arg(0);
BENCHMARK(routed_cycle)->Name("acquire_release/cluster3_p2c_routed_write")->Arg(1);
BENCHMARK(pool_run)->Name("run/pool");
BENCHMARK(cluster_run)->Name("run/cluster3_p2c")->Args({3, kP2C});

}  // namespace

BENCHMARK_MAIN();
