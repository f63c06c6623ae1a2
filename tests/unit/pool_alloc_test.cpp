// The acquire/release hot path allocates nothing: counted through a replaced operator new.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "capture_logger.hpp"
#include "fake_connector.hpp"
#include "reservoir/pool.hpp"

#if defined(__GNUC__) && !defined(__clang__)
// g++ pairs the inlined malloc/free of the replacements below with new/delete expressions and
// warns; the replacements are the whole point of this file.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {
thread_local bool t_counting = false;
std::atomic<std::uint64_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  if (t_counting) g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace reservoir::testing {
namespace {

TEST(PoolHotPath, AcquireReleaseMakesNoHeapAllocation) {
  auto connector = std::make_shared<FakeConnector>();
  PoolConfig c;
  c.min_idle = 2;
  c.max_size = 2;
  c.init_mode = InitMode::wait;
  auto pool = Pool::create(connector, c, PoolOptions{.logger = std::make_shared<CaptureLogger>(), .start_maintainer = false});
  ASSERT_TRUE(pool);
  { auto warm = pool->acquire(); }
  g_allocations = 0;
  t_counting = true;
  for (int i = 0; i < 10000; ++i) {
    auto lease = pool->acquire();
    if (!lease) break;
  }
  t_counting = false;
  EXPECT_EQ(g_allocations.load(), 0u);
  EXPECT_EQ(pool->stats().acquires, 10001u);
}

}  // namespace
}  // namespace reservoir::testing
