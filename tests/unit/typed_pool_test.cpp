// The typed facade: a PoolConnector with its own connection type, no virtuals, no casts.
#include <gtest/gtest.h>

#include "capture_logger.hpp"
#include "reservoir/typed_pool.hpp"

namespace reservoir::testing {
namespace {

struct Counter {
  int value = 0;
  int bump() { return ++value; }
};

struct CounterConnector {
  using connection = Counter;
  int* closed;
  Result<std::unique_ptr<Counter>> connect(Deadline) { return std::make_unique<Counter>(); }
  Status check(Counter&, CheckDepth, Deadline) { return {}; }
  Status reset(Counter& c, Deadline) {
    c.value = 0;
    return {};
  }
  void close(std::unique_ptr<Counter>, Deadline) noexcept { ++*closed; }
  bool is_broken(const Counter& c) const noexcept { return c.value < 0; }
  bool is_retryable(const Error& e) const noexcept { return e.retryable(); }
  std::string endpoint() const { return "counter"; }
};
static_assert(PoolConnector<CounterConnector>);

TEST(TypedPool, GivesTheBackendsTypeBack) {
  int closed = 0;
  // No maintainer: its min_idle refill would race the first acquire for `created`.
  auto pool = TypedPool<CounterConnector>::create(
      PoolConfig{.min_idle = 0}, PoolOptions{.logger = std::make_shared<CaptureLogger>(), .start_maintainer = false},
      CounterConnector{&closed});
  ASSERT_TRUE(pool) << pool.error().message();
  {
    auto lease = pool->acquire();
    ASSERT_TRUE(lease);
    EXPECT_EQ((*lease)->bump(), 1);
    EXPECT_EQ((*lease)->bump(), 2);
  }
  {
    auto lease = pool->acquire();
    EXPECT_EQ((*lease)->value, 0) << "reset ran on return";
    (*lease)->value = -1;  // broken
  }
  EXPECT_EQ(closed, 1);
  EXPECT_EQ(pool->stats().created, 1u);
}

TEST(TypedPool, AcquireAsyncHandsTheBackendsTypeToTheCallback) {
  int closed = 0;
  ManualClock clock;
  auto pool = TypedPool<CounterConnector>::create(
      PoolConfig{.min_idle = 0, .max_size = 1},
      PoolOptions{.clock = &clock, .logger = std::make_shared<CaptureLogger>(), .start_maintainer = false},
      CounterConnector{&closed});
  ASSERT_TRUE(pool) << pool.error().message();
  auto held = pool->acquire();
  ASSERT_TRUE(held);
  (*held)->bump();
  int seen = -1;
  auto pending = pool->acquire_async(Deadline::after(clock, std::chrono::seconds(1)),
                                     [&](Result<TypedLease<CounterConnector>> lease) {
                                       ASSERT_TRUE(lease);
                                       seen = (**lease).value;
                                     });
  ASSERT_TRUE(pending);
  EXPECT_EQ(pool->load().waiting, 1u);
  held->release();
  EXPECT_EQ(seen, 0) << "handed over on return, reset first";
}

}  // namespace
}  // namespace reservoir::testing
