// Shared set-up for the tenant unit tests: a ManualClock pool over the scripted connector and
// a Tenants registry on it.
#pragma once

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pool_fixture.hpp"
#include "reservoir/tenant/tenants.hpp"

namespace reservoir::testing {

class TenantTest : public PoolTest {
 protected:
  void make(std::size_t pool_size, tenant::TenantsConfig config = {}, tenant::TenantsOptions options = {}) {
    PoolConfig pc = quiet_config();
    pc.max_size = pool_size;
    pool.emplace(make_pool(pc));
    auto t = tenant::Tenants::create(tenant::pool_source(*pool), std::move(config), std::move(options));
    ASSERT_TRUE(t) << t.error().message();
    tenants.emplace(std::move(t).value());
  }

  void TearDown() override {
    tenants.reset();
    pool.reset();
    PoolTest::TearDown();
  }

  tenant::TenantStats stats(const std::string& id) {
    auto s = tenants->stats(id);
    EXPECT_TRUE(s.has_value()) << id;
    return s.value_or(tenant::TenantStats{});
  }

  // Blocks (real time, bounded) until `n` requests wait in the registry.
  void wait_for_queued(std::size_t n) {
    ASSERT_TRUE(eventually([&] { return tenants->totals().waiting >= n; })) << tenants->totals().waiting;
  }

  // Starts a thread that takes a lease for `id` (no deadline), writes `label` to the grant
  // order, and returns it at once; waits until it is queued.
  void queue_one(const std::string& id, const std::string& label) {
    const std::size_t before = tenants->totals().waiting;
    threads.emplace_back([this, id, label] {
      auto lease = tenants->acquire(id, Deadline::never(clock));
      std::lock_guard g(order_mu);
      if (!lease) order.push_back(label + "!" + lease.error().message());
      else order.push_back(label);
    });
    wait_for_queued(before + 1);
  }

  void join_all() {
    for (auto& t : threads) t.join();
    threads.clear();
  }

  std::optional<Pool> pool;
  std::optional<tenant::Tenants> tenants;
  std::vector<std::thread> threads;
  std::mutex order_mu;
  std::vector<std::string> order;
};

}  // namespace reservoir::testing
