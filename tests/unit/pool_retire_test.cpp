// Pool::retire_connections(): the connections open now go within a window (a credentials
// rotation), idle ones by the maintainer, leased ones on return; newer ones are untouched.
#include "pool_fixture.hpp"

namespace reservoir::testing {
namespace {

std::uint64_t lifetime_closes(const Pool& pool) {
  return pool.stats().closed_by[static_cast<std::size_t>(CloseReason::lifetime)];
}

TEST_F(PoolTest, RetireConnectionsSpreadsIdleRetirementsOverTheWindow) {
  PoolConfig c = quiet_config();
  c.max_size = 8;
  c.min_idle = 8;
  c.init_mode = InitMode::wait;
  Pool pool = make_pool(c);
  ASSERT_EQ(pool.stats().idle, 8u);
  EXPECT_EQ(pool.retire_connections(100s), 8u);
  pool.run_maintenance();
  EXPECT_EQ(lifetime_closes(pool), 0u) << "none is due at once";
  clock.advance(50s);
  pool.run_maintenance();
  const auto halfway = lifetime_closes(pool);
  EXPECT_GT(halfway, 0u);
  EXPECT_LT(halfway, 8u) << "spread over the window, not all at once";
  clock.advance(51s);
  pool.run_maintenance();
  EXPECT_EQ(lifetime_closes(pool), 8u);
}

TEST_F(PoolTest, RetireConnectionsRetiresALeasedOneOnReturnAndSparesNewerOnes) {
  PoolConfig c = quiet_config();
  Pool pool = make_pool(c);
  auto old_lease = pool.acquire();
  ASSERT_TRUE(old_lease);
  EXPECT_EQ(pool.retire_connections(10s), 1u);
  auto new_lease = pool.acquire();  // opened after the call: keeps max_lifetime (off here)
  ASSERT_TRUE(new_lease);
  clock.advance(11s);
  pool.run_maintenance();
  EXPECT_EQ(connector->closes.load(), 0) << "never close a connection in use";
  old_lease->release();
  new_lease->release();
  EXPECT_EQ(lifetime_closes(pool), 1u);
  EXPECT_EQ(pool.stats().idle, 1u);
}

TEST_F(PoolTest, RetireConnectionsWithZeroWindowIsNeverHandedOutAgain) {
  PoolConfig c = quiet_config();
  Pool pool = make_pool(c);
  { auto lease = pool.acquire(); ASSERT_TRUE(lease); }
  ASSERT_EQ(pool.stats().idle, 1u);
  const int connects_before = connector->connects.load();
  EXPECT_EQ(pool.retire_connections(0s), 1u);
  auto lease = pool.acquire();
  ASSERT_TRUE(lease);
  EXPECT_EQ(connector->connects.load(), connects_before + 1) << "the retired connection was handed out";
  EXPECT_EQ(lifetime_closes(pool), 1u);
}

}  // namespace
}  // namespace reservoir::testing
