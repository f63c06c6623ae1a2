// async_acquire on a Cluster and on a tenant registry over one (cluster_acquire.hpp): the
// same operation as a pool's (acquire_test.cpp covers its delivery rules), so these check the
// wiring: a coroutine's lease names its endpoint, a cancellation slot withdraws a queued
// cluster request, and a tenant's request waits for a permit without a thread.
#include "reservoir/asio/cluster_acquire.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <optional>
#include <string>

#include "asio_fixture.hpp"
#include "reservoir/cluster/tenant_source.hpp"

namespace reservoir::testing {
namespace {

using reservoir::asio::async_acquire;

class AsioClusterTest : public AsioTest {
 protected:
  // Two endpoints over the fixture's fake connector, one connection each.
  cluster::Cluster make_cluster() {
    cluster::ClusterConfig c;
    c.name = "asio";
    c.policy = cluster::Policy::round_robin;
    c.endpoints = {{.name = "a", .connector = connector}, {.name = "b", .connector = connector}};
    c.pool = quiet_config();
    c.pool.max_size = 1;
    auto made = cluster::Cluster::create(std::move(c), {.clock = &clock, .start_maintainers = false, .seed = 3});
    if (!made) ADD_FAILURE() << made.error().message();
    return std::move(made).value();
  }
};

TEST_F(AsioClusterTest, ACoroutineAwaitsAClusterLease) {
  cluster::Cluster c = make_cluster();
  net::io_context ioc;
  std::string where;
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        auto lease = co_await async_acquire(c, in(1s), net::use_awaitable);
        where = lease ? lease->endpoint() : lease.error().message();
      },
      net::detached);
  ioc.run();
  EXPECT_TRUE(where == "a" || where == "b") << where;
}

TEST_F(AsioClusterTest, ACancellationSlotWithdrawsAQueuedClusterRequest) {
  cluster::Cluster c = make_cluster();
  auto l1 = c.acquire(in(1s));
  auto l2 = c.acquire(in(1s));
  ASSERT_TRUE(l1 && l2);
  net::io_context ioc;
  net::cancellation_signal signal;
  std::optional<Result<cluster::ClusterLease>> got;
  async_acquire(c, Deadline::never(clock),
                net::bind_cancellation_slot(signal.slot(), net::bind_executor(ioc, [&](Result<cluster::ClusterLease> r) {
                                              got.emplace(std::move(r));
                                            })));
  ioc.poll();
  const auto waiting = [&] { return c.stats().endpoints[0].load.waiting + c.stats().endpoints[1].load.waiting; };
  ASSERT_EQ(waiting(), 1u);
  signal.emit(net::cancellation_type::terminal);
  EXPECT_EQ(waiting(), 0u);
  ioc.run();
  ASSERT_TRUE(got.has_value());
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->error().kind(), ErrorKind::cancelled);
}

TEST_F(AsioClusterTest, ATenantsCoroutineWaitsForAPermit) {
  cluster::Cluster c = make_cluster();
  auto made = tenant::Tenants::create(cluster::tenant_source(c), {});
  ASSERT_TRUE(made) << made.error().message();
  tenant::Tenants& tenants = *made;
  auto h1 = tenants.acquire("holder", in(1s));
  auto h2 = tenants.acquire("holder", in(1s));
  ASSERT_TRUE(h1 && h2);
  net::io_context ioc;
  std::string got;
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        auto lease = co_await async_acquire(tenants, "agent-1", Deadline::never(clock), net::use_awaitable);
        got = lease ? lease->tenant() + "@" + cluster::cluster_lease(*lease)->endpoint() : lease.error().message();
      },
      net::detached);
  ioc.poll();
  EXPECT_EQ(tenants.totals().waiting, 1u);
  EXPECT_TRUE(got.empty());
  h1->release();  // the permit and a connection go to the waiting coroutine
  ioc.run();
  EXPECT_TRUE(got == "agent-1@a" || got == "agent-1@b") << got;
  h2->release();
}

}  // namespace
}  // namespace reservoir::testing
