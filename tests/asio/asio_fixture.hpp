// Shared set-up for the Asio adapter's tests: the pool fixture (ManualClock, FakeConnector)
// plus an io_context and helpers to see what a pool holds.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <thread>

#include "pool_fixture.hpp"
#include "reservoir/asio/acquire.hpp"

namespace reservoir::testing {

namespace net = boost::asio;

class AsioTest : public PoolTest {
 protected:
  // A pool of `size` whose connections are open and idle (so no connect thread is involved).
  Pool make_warm_pool(std::size_t size) {
    PoolConfig c = quiet_config();
    c.max_size = size;
    Pool pool = make_pool(c);
    std::vector<Lease> held;
    for (std::size_t i = 0; i < size; ++i) held.push_back(pool.acquire(in(1s)).value());
    return pool;
  }

  // Every slot accounted for: none leased, none lost, the connector agrees.
  static void expect_all_idle(const Pool& pool, const FakeConnector& fake, std::size_t size) {
    const PoolStats s = pool.stats();
    EXPECT_EQ(s.in_use, 0u);
    EXPECT_EQ(s.idle, size);
    EXPECT_EQ(s.size, size);
    EXPECT_EQ(fake.live(), size);
    EXPECT_EQ(pool.load().waiting, 0u);
  }
};

}  // namespace reservoir::testing
