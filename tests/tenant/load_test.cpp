// Load (bounded, a few seconds of real time): 50 tenants x 4 clients over a pool of 10, first
// calm, then with one tenant flooding (40 clients). Asserts what must hold whatever the
// timing: no cap passed, no tenant's session state seen by another, the statistics add up,
// and fairness by counts (the flooder gets about one tenant's share, not its clients' share).
// Prints the quiet tenants' p99 acquire wait with and without the flood (bench/tenant/README.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <numeric>
#include <thread>
#include <vector>

#include "fake_connector.hpp"
#include "reservoir/tenant/tenants.hpp"

namespace reservoir::testing {
namespace {

using namespace std::chrono_literals;
using tenant::TenantConfig;

constexpr int kTenants = 50;
constexpr int kClients = 4;
constexpr int kFloodClients = 40;
constexpr std::size_t kPoolSize = 10;
constexpr std::size_t kFloodCap = 5;
// Long enough that the permits, not the CPU, are what clients wait for, even in a sanitizer
// build on a loaded 2-core machine: the round robin orders waiters, it cannot give CPU time.
constexpr auto kHold = 5ms;
constexpr auto kPhase = 2000ms;
const std::string kFlooder = "t00";

std::string id(int i) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "t%02d", i);
  return buf;
}

// Which tenant's setup each connection carries now; the pool's own reset does not touch it,
// so only the undo callback clears it.
class SessionTags {
 public:
  Status set(Connection& c, std::string_view tenant) {
    std::lock_guard g(mu_);
    auto& tag = tags_[&c];
    if (!tag.empty()) {
      leaks_.fetch_add(1);
      return Error::make(ErrorKind::internal, "leaked setup of " + tag);
    }
    tag = tenant;
    return {};
  }
  void clear(Connection& c) {
    std::lock_guard g(mu_);
    tags_[&c].clear();
  }
  std::string of(Connection& c) {
    std::lock_guard g(mu_);
    return tags_[&c];
  }
  std::atomic<int> leaks_{0};

 private:
  std::mutex mu_;
  std::map<const Connection*, std::string> tags_;
};

struct Phase {
  std::array<std::atomic<std::uint64_t>, kTenants> grants{};
  // Grants before the phase ended: after it, quiet clients stop asking while the flooder's
  // queue still drains, and those grants say nothing about sharing.
  std::array<std::atomic<std::uint64_t>, kTenants> in_phase{};
  std::array<std::atomic<std::uint64_t>, kTenants> quota{};
  std::atomic<std::uint64_t> other_errors{0};
  std::mutex mu;
  std::vector<std::int64_t> quiet_waits_us;
};

struct Shared {
  std::array<std::atomic<int>, kTenants> holding{};
  std::array<std::atomic<int>, kTenants> max_holding{};
  std::atomic<int> wrong_state{0};
};

void client(tenant::Tenants& tenants, SessionTags& tags, Shared& shared, Phase& phase, int t,
            std::chrono::steady_clock::time_point until) {
  const std::string tenant = id(t);
  std::vector<std::int64_t> waits;
  while (std::chrono::steady_clock::now() < until) {
    const auto start = std::chrono::steady_clock::now();
    auto lease = tenants.acquire(tenant, Deadline::after(SteadyClock::instance(), 2s));
    const auto waited = std::chrono::steady_clock::now() - start;
    if (!lease) {
      if (lease.error().kind() == ErrorKind::quota_exceeded) phase.quota[t].fetch_add(1);
      else phase.other_errors.fetch_add(1);
      std::this_thread::sleep_for(1ms);  // a refused client backs off, as a real one would
      continue;
    }
    phase.grants[t].fetch_add(1);
    if (std::chrono::steady_clock::now() < until) phase.in_phase[t].fetch_add(1);
    if (tenant != kFlooder) waits.push_back(std::chrono::duration_cast<std::chrono::microseconds>(waited).count());
    const int now = shared.holding[t].fetch_add(1) + 1;
    int seen = shared.max_holding[t].load();
    while (now > seen && !shared.max_holding[t].compare_exchange_weak(seen, now)) {
    }
    if (tags.of(lease->connection()) != tenant) shared.wrong_state.fetch_add(1);
    std::this_thread::sleep_for(kHold);
    shared.holding[t].fetch_sub(1);
  }
  std::lock_guard g(phase.mu);
  phase.quiet_waits_us.insert(phase.quiet_waits_us.end(), waits.begin(), waits.end());
}

// The same client straight on the pool, without tenants: one FIFO line for everybody.
void pool_client(Pool& pool, Phase& phase, int t, std::chrono::steady_clock::time_point until) {
  std::vector<std::int64_t> waits;
  while (std::chrono::steady_clock::now() < until) {
    const auto start = std::chrono::steady_clock::now();
    auto lease = pool.acquire(Deadline::after(SteadyClock::instance(), 2s));
    const auto waited = std::chrono::steady_clock::now() - start;
    if (!lease) {
      phase.other_errors.fetch_add(1);
      continue;
    }
    phase.grants[t].fetch_add(1);
    if (std::chrono::steady_clock::now() < until) phase.in_phase[t].fetch_add(1);
    if (t != 0) waits.push_back(std::chrono::duration_cast<std::chrono::microseconds>(waited).count());
    std::this_thread::sleep_for(kHold);
  }
  std::lock_guard g(phase.mu);
  phase.quiet_waits_us.insert(phase.quiet_waits_us.end(), waits.begin(), waits.end());
}

void run_pool_phase(Pool& pool, Phase& phase, std::chrono::milliseconds length) {
  const auto until = std::chrono::steady_clock::now() + length;
  std::vector<std::thread> threads;
  for (int t = 0; t < kTenants; ++t) {
    for (int c = 0; c < (t == 0 ? kFloodClients : kClients); ++c) {
      threads.emplace_back([&, t] { pool_client(pool, phase, t, until); });
    }
  }
  for (auto& th : threads) th.join();
}

std::int64_t p99(std::vector<std::int64_t> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, v.size() * 99 / 100)];
}

void run_phase(tenant::Tenants& tenants, SessionTags& tags, Shared& shared, Phase& phase, bool flood,
               std::chrono::milliseconds length) {
  const auto until = std::chrono::steady_clock::now() + length;
  std::vector<std::thread> threads;
  for (int t = 0; t < kTenants; ++t) {
    const int clients = flood && t == 0 ? kFloodClients : kClients;
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&, t] { client(tenants, tags, shared, phase, t, until); });
    }
  }
  for (auto& th : threads) th.join();
}

TEST(TenantLoad, AFloodingTenantGetsOneTenantsShareAndNoCapIsPassed) {
  auto connector = std::make_shared<FakeConnector>();
  PoolConfig pc;
  pc.min_idle = 0;
  pc.max_size = kPoolSize;
  pc.validate_on_checkout = false;
  pc.max_concurrent_connects = 2;
  auto pool = Pool::create(connector, pc, PoolOptions{});
  ASSERT_TRUE(pool) << pool.error().message();

  tenant::TenantsConfig config;
  config.defaults.max_leases = 4;
  config.tenants[kFlooder] = TenantConfig{.max_leases = kFloodCap};
  SessionTags tags;
  tenant::TenantsOptions options;
  options.setup = [&tags](Connection& c, std::string_view t, Deadline) { return tags.set(c, t); };
  options.undo = [&tags](Connection& c, std::string_view, Deadline) -> Status {
    tags.clear(c);
    return {};
  };
  auto made = tenant::Tenants::create(tenant::pool_source(*pool), config, options);
  ASSERT_TRUE(made) << made.error().message();
  tenant::Tenants& tenants = *made;

  Shared shared;
  Phase warmup, calm, flood;
  run_phase(tenants, tags, shared, warmup, false, 300ms);  // connections opened, not measured
  run_phase(tenants, tags, shared, calm, false, kPhase);
  run_phase(tenants, tags, shared, flood, true, kPhase);

  // No cap passed, no state seen across tenants.
  for (int t = 0; t < kTenants; ++t) {
    EXPECT_LE(shared.max_holding[t].load(), t == 0 ? static_cast<int>(kFloodCap) : 4) << id(t);
  }
  EXPECT_EQ(tags.leaks_.load(), 0);
  EXPECT_EQ(shared.wrong_state.load(), 0);

  // The statistics add up: every grant the clients saw is an operation of its tenant, every
  // quota refusal they saw is counted, and nothing is left out or waiting.
  std::uint64_t operations = 0;
  for (int t = 0; t < kTenants; ++t) {
    const auto s = tenants.stats(id(t));
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->operations, warmup.grants[t] + calm.grants[t] + flood.grants[t]) << id(t);
    EXPECT_EQ(s->quota_rejections, warmup.quota[t] + calm.quota[t] + flood.quota[t]) << id(t);
    EXPECT_EQ(s->active, 0u);
    EXPECT_EQ(s->waiting, 0u);
    operations += s->operations;
  }
  EXPECT_EQ(pool->stats().acquires, operations);
  EXPECT_EQ(tenants.totals().active, 0u);
  EXPECT_EQ(tenants.totals().waiting, 0u);

  // Fairness by counts, in the flood, against the same flood straight on the pool (one FIFO
  // line, where the flooder's 40 clients take about 10x a quiet tenant's grants): through
  // the tenants it gets less than half that advantage, and no quiet tenant falls below a
  // third of the quiet mean. Not exactly 1x: the round robin is fair between tenants that
  // wait, and a quiet client that is not waiting (descheduled on a loaded machine) lends its
  // share to whoever waits. The exact order is asserted without threads' timing in
  // tenants_test.cpp.
  const auto quiet_mean_of = [](const Phase& p) {
    std::uint64_t total = 0;
    for (int t = 1; t < kTenants; ++t) total += p.in_phase[t];
    return static_cast<double>(total) / (kTenants - 1);
  };
  const double quiet_mean = quiet_mean_of(flood);
  std::uint64_t quiet_min = UINT64_MAX;
  for (int t = 1; t < kTenants; ++t) quiet_min = std::min<std::uint64_t>(quiet_min, flood.in_phase[t]);
  Phase plain;
  run_pool_phase(*pool, plain, kPhase);
  const double plain_quiet_mean = quiet_mean_of(plain);
  ASSERT_GT(quiet_mean, 5.0);
  ASSERT_GT(plain_quiet_mean, 1.0);
  const double tenants_ratio = static_cast<double>(flood.in_phase[0]) / quiet_mean;
  const double fifo_ratio = static_cast<double>(plain.in_phase[0]) / plain_quiet_mean;
  EXPECT_LT(2 * tenants_ratio, fifo_ratio);
  EXPECT_GE(static_cast<double>(quiet_min), quiet_mean / 3);

  std::printf("tenant load: %d tenants x %d clients, pool %zu, hold 5ms; flooder %s with %d clients, cap %zu\n",
              kTenants, kClients, kPoolSize, kFlooder.c_str(), kFloodClients, kFloodCap);
  std::printf("  calm:  quiet p99 acquire wait %lld us over %zu acquires\n", static_cast<long long>(p99(calm.quiet_waits_us)),
              calm.quiet_waits_us.size());
  std::printf("  flood: quiet p99 acquire wait %lld us over %zu acquires; flooder %llu grants, %llu quota refusals; "
              "quiet mean %.0f, min %llu grants\n",
              static_cast<long long>(p99(flood.quiet_waits_us)), flood.quiet_waits_us.size(),
              static_cast<unsigned long long>(flood.in_phase[0].load()),
              static_cast<unsigned long long>(flood.quota[0].load()), quiet_mean,
              static_cast<unsigned long long>(quiet_min));
  std::printf("  flood without tenants (pool FIFO): quiet p99 acquire wait %lld us; flooder %llu grants, quiet mean %.0f\n",
              static_cast<long long>(p99(plain.quiet_waits_us)), static_cast<unsigned long long>(plain.in_phase[0].load()),
              plain_quiet_mean);
  std::printf("  flooder / quiet mean: %.1fx through tenants, %.1fx straight on the pool\n", tenants_ratio, fifo_ratio);
  std::printf("  other errors: calm %llu, flood %llu\n", static_cast<unsigned long long>(calm.other_errors.load()),
              static_cast<unsigned long long>(flood.other_errors.load()));
}

}  // namespace
}  // namespace reservoir::testing
