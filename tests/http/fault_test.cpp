// Faults between the client and nginx, injected by the fault proxy (tests/tools).
#include <gtest/gtest.h>

#include <thread>

#include "fault_proxy.hpp"
#include "http_env.hpp"
#include "reservoir/run.hpp"
#include "reservoir/typed_pool.hpp"

namespace reservoir::http::test {
namespace {

using namespace std::chrono_literals;
using tools::Direction;
using tools::FaultProxy;

class HttpFault : public ::testing::Test {
 protected:
  void SetUp() override {
    env = nginx_env();
    ASSERT_FALSE(HasFailure());
    // The bench listener: nginx's own keep-alive limits stay out of the way of the faults.
    proxy.emplace("127.0.0.1", port_of(env.bench_url));
  }
  std::unique_ptr<Connection> open(Connector& c) {
    auto conn = c.connect(in_ms(2000));
    if (!conn) throw std::runtime_error(conn.error().message());
    return std::move(conn).value();
  }
  NginxEnv env;
  std::optional<FaultProxy> proxy;
};

TEST_F(HttpFault, BlackholeEveryCallReturnsByItsDeadline) {
  auto connector = make_connector(local_url(proxy->port()));
  auto reused = open(connector);
  ASSERT_TRUE(reused->request(Request::get("/small"), in_ms(2000)));
  proxy->set_blackhole(true);
  PoolConfig config;
  config.min_idle = 0;
  config.max_size = 4;
  config.connect_timeout = 300ms;
  auto pool = TypedPool<Connector>::create(config, {}, make_connector(local_url(proxy->port()))).value();
  std::vector<std::thread> threads;
  std::atomic<int> timeouts{0}, late{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 3; ++i) {
        auto start = std::chrono::steady_clock::now();
        auto r = run(pool, [](Connection& c, Attempt& a) { return c.call(Request::get("/small"), a); },
                     {.timeout = 300ms, .idempotent = true});
        if (!r && r.error().kind() == ErrorKind::timeout) ++timeouts;
        // Bounded, not fast: a hang would be seconds; 700 ms leaves room for a busy machine.
        if (std::chrono::steady_clock::now() - start > 1s) ++late;
      }
    });
  }
  auto r = reused->request(Request::get("/small"), in_ms(300));
  for (auto& t : threads) t.join();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::timeout) << r.error().message();
  EXPECT_EQ(timeouts.load(), 12);
  EXPECT_EQ(late.load(), 0);
}

TEST_F(HttpFault, LatencyIsToleratedWithinTheDeadline) {
  proxy->set_latency(Direction::both, 20ms);
  auto connector = make_connector(local_url(proxy->port()));
  auto conn = open(connector);
  for (int i = 0; i < 3; ++i) {
    auto r = conn->call(Request::get("/small"), in_ms(2000));
    ASSERT_TRUE(r) << r.error().message();
  }
  EXPECT_EQ(conn->reconnects(), 0u);
}

// Resets every proxied connection while a delayed request waits for its answer.
void reset_soon(FaultProxy& proxy) {
  std::this_thread::sleep_for(150ms);
  proxy.reset_all();
}

TEST_F(HttpFault, ResetWhileWaitingRetriesAGetOnAFreshConnection) {
  auto connector = make_connector(local_url(proxy->port()));
  auto conn = open(connector);
  ASSERT_TRUE(conn->request(Request::get("/small"), in_ms(2000)));
  std::thread resetter(reset_soon, std::ref(*proxy));
  auto r = conn->call(Request::get("/delay?s=0.5"), in_ms(5000));
  resetter.join();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->body, "done\n");
  EXPECT_EQ(conn->reconnects(), 1u);
}

TEST_F(HttpFault, ResetWhileWaitingNeverReplaysAPost) {
  auto connector = make_connector(local_url(proxy->port()));
  auto conn = open(connector);
  ASSERT_TRUE(conn->request(Request::get("/small"), in_ms(2000)));
  std::thread resetter(reset_soon, std::ref(*proxy));
  Request post = Request::post("/delay?s=0.5", "{}");
  auto r = conn->call(post, in_ms(5000));
  resetter.join();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), "stale_connection") << r.error().message();
  EXPECT_EQ(proxy->counters().accepted, 1u);  // no second connection: nothing was replayed
}

TEST_F(HttpFault, ResetMidResponseIsRetriedOnlyWhenIdempotent) {
  PoolConfig config;
  config.min_idle = 0;
  config.max_size = 1;
  auto pool = TypedPool<Connector>::create(config, {}, make_connector(local_url(proxy->port()))).value();
  proxy->close_after(5000);  // every connection is reset after 5000 response bytes
  RunReport report;
  RunOptions options{.timeout = 5s, .idempotent = true, .report = &report};
  options.retry.backoff.initial = 1ms;
  auto get = run(pool, [&](Connection& c, Attempt& a) {
    auto r = c.call(Request::get("/big?n=100000"), a);
    if (a.number() == 1) {
      EXPECT_FALSE(r);
      if (!r) {
        EXPECT_EQ(c.last_stage(), Stage::partial_response) << r.error().message();
      }
      proxy->close_after(0);
    }
    return r;
  }, options);
  ASSERT_TRUE(get) << get.error().message();
  EXPECT_EQ(get->body.size(), 100000u);
  EXPECT_EQ(report.attempts, 2u);

  // A fresh pool: on the reused connection the reset would come before any response byte
  // (close_after counts from the connection's start), which is the stale case.
  auto fresh = TypedPool<Connector>::create(config, {}, make_connector(local_url(proxy->port()))).value();
  proxy->close_after(5000);
  options.idempotent = false;
  auto post = run(fresh, [](Connection& c, Attempt& a) { return c.call(Request::post("/echo", std::string(100000, 'p')), a); },
                  options);
  ASSERT_FALSE(post);
  EXPECT_EQ(post.error().kind(), ErrorKind::unavailable) << post.error().message();
  EXPECT_EQ(report.attempts, 1u);
  EXPECT_EQ(report.last_verdict, RetryVerdict::not_idempotent);
}

}  // namespace
}  // namespace reservoir::http::test
