// TypedPool<http::Connector> against nginx, and seed 003's failures: pools created and
// destroyed many times in one process with leases out and requests in flight.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "http_env.hpp"
#include "reservoir/run.hpp"
#include "reservoir/typed_pool.hpp"

namespace reservoir::http::test {
namespace {

using namespace std::chrono_literals;
using HttpPool = TypedPool<Connector>;

class HttpPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env = nginx_env();
    ASSERT_FALSE(HasFailure());
  }
  static PoolConfig config(std::size_t max_size, std::size_t min_idle = 0) {
    PoolConfig c;
    c.name = "http-test";
    c.max_size = max_size;
    c.min_idle = min_idle;
    c.acquire_timeout = 5s;
    c.connect_timeout = 2s;
    c.io_timeout = 2s;
    return c;
  }
  NginxEnv env;
};

TEST_F(HttpPoolTest, ManyThreadsThroughRunWhileTheServerClosesKeepAlives) {
  // nginx closes each connection after 20 requests and after 1 s idle.
  auto pool = HttpPool::create(config(4), {}, make_connector(env.url)).value();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 150; ++i) {
        auto r = run(pool, [](Connection& c, Attempt& a) { return c.call(Request::get("/small"), a); },
                     {.timeout = 5s, .idempotent = true});
        if (!r || r->body.size() != 100) {
          ++failures;
          if (!r) ADD_FAILURE() << r.error().message();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto stats = pool.stats();
  EXPECT_LE(stats.size, 4u);
  EXPECT_GT(stats.closed, 0u);  // connections nginx closed were replaced, never reused
}

TEST_F(HttpPoolTest, CreatedAndDestroyedManyTimesWithLeasesOutAndRequestsInFlight) {
  std::atomic<int> broken_handed_out{0}, request_failures{0};
  for (int round = 0; round < 20; ++round) {
    std::optional<HttpPool> pool(HttpPool::create(config(4, 2), {}, make_connector(env.url)).value());
    std::atomic<int> holding{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        auto lease = pool->acquire(in_ms(5000));
        if (!lease) {
          ++request_failures;
          ++holding;
          return;
        }
        if ((*lease)->is_broken()) ++broken_handed_out;
        ++holding;
        // In flight while the pool is destroyed (odd threads), or started after (even ones).
        auto r = (*lease)->request(Request::get(t % 2 ? "/delay?s=0.05" : "/small"), in_ms(5000));
        if (!r || r->status != 200) ++request_failures;
        std::this_thread::sleep_for(10ms);
        auto again = (*lease)->request(Request::get("/small"), in_ms(5000));
        if (!again || again->status != 200) ++request_failures;
      });  // the lease returns after its pool is gone
    }
    while (holding < 4) std::this_thread::sleep_for(1ms);
    pool.reset();
    for (auto& t : threads) t.join();
  }
  EXPECT_EQ(broken_handed_out.load(), 0);
  EXPECT_EQ(request_failures.load(), 0);
}

TEST_F(HttpPoolTest, ABrokenConnectionIsClosedOnReturnAndReplaced) {
  auto pool = HttpPool::create(config(1), {}, make_connector(env.url)).value();
  {
    auto lease = pool.acquire().value();
    EXPECT_FALSE(lease->request(Request::get("/delay?s=2"), in_ms(100)));  // timeout: broken
    EXPECT_TRUE(lease->is_broken());
  }
  auto lease = pool.acquire().value();
  EXPECT_FALSE(lease->is_broken());
  auto r = lease->call(Request::get("/small"), in_ms(2000));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(lease->reconnects(), 0u);
}

}  // namespace
}  // namespace reservoir::http::test
