// http::async_request on coroutines, against the real nginx (scripts/servers.sh start nginx),
// the fault proxy and a scripted server that closes a reused connection under a request.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <optional>
#include <thread>

#include "async_env.hpp"
#include "fault_proxy.hpp"
#include "racing_server.hpp"
#include "reservoir/asio/acquire.hpp"
#include "reservoir/http_asio/async_request.hpp"
#include "reservoir/typed_pool.hpp"

namespace reservoir::http::test {
namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;
using net::use_awaitable;

class HttpAsync : public ::testing::Test {
 protected:
  void SetUp() override {
    env = nginx_env();
    ASSERT_FALSE(HasFailure());
  }
  NginxEnv env;
  net::io_context io;
};

TEST_F(HttpAsync, GetAndPostWithBodiesOnThePoolsConnections) {
  auto pool = TypedPool<Connector>::create({.min_idle = 0, .max_size = 2}, {}, make_connector(env.bench_url)).value();
  std::optional<Result<Response>> get, post;
  auto body = [&]() -> net::awaitable<void> {
    auto lease = co_await reservoir::asio::async_acquire(pool, in_ms(2000), use_awaitable);
    if (!lease) throw std::runtime_error(lease.error().message());
    get.emplace(co_await async_request(*lease, Request::get("/small"), in_ms(2000), use_awaitable));
    post.emplace(co_await async_request(*lease, Request::post("/echo", "{\"k\":42}"), in_ms(2000), use_awaitable));
  };
  run_on(io, body);
  ASSERT_TRUE(*get) << get->error().message();
  EXPECT_EQ((*get)->status, 200);
  EXPECT_EQ((*get)->body.size(), 100u);
  ASSERT_TRUE(*post) << post->error().message();
  EXPECT_EQ((*post)->body, "{\"k\":42}");
  EXPECT_EQ(pool.untyped().stats().size, 1u);  // one keep-alive connection carried both
}

TEST_F(HttpAsync, TheBlockingApiKeepsWorkingOnTheSameConnection) {
  auto connector = make_connector(env.bench_url);
  auto conn = open(connector);
  ASSERT_TRUE(conn->request(Request::get("/small"), in_ms(2000)));
  std::optional<Result<Response>> r;
  auto body = [&]() -> net::awaitable<void> {
    r.emplace(co_await async_request(*conn, Request::get("/small"), in_ms(2000), use_awaitable));
  };
  run_on(io, body);
  ASSERT_TRUE(*r) << r->error().message();
  auto again = conn->request(Request::get("/small"), in_ms(2000));
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(conn->requests(), 3u);
  EXPECT_EQ(conn->reconnects(), 0u);
}

TEST_F(HttpAsync, TlsWithVerification) {
  ConnectorOptions options;
  options.ca_file = env.ca;
  auto connector = make_connector(env.tls_url, options);
  auto conn = open(connector);
  std::optional<Result<Response>> first, second;
  auto body = [&]() -> net::awaitable<void> {
    first.emplace(co_await async_request(*conn, Request::get("/small"), in_ms(2000), use_awaitable));
    second.emplace(co_await async_request(*conn, Request::post("/echo", "tls body"), in_ms(2000), use_awaitable));
  };
  run_on(io, body);
  ASSERT_TRUE(*first) << first->error().message();
  EXPECT_EQ((*first)->body.size(), 100u);
  ASSERT_TRUE(*second) << second->error().message();
  EXPECT_EQ((*second)->body, "tls body");
  EXPECT_EQ(conn->reconnects(), 0u);
  EXPECT_TRUE(conn->request(Request::get("/small"), in_ms(2000)));  // the TLS session, blocking again
}

TEST_F(HttpAsync, AsyncConnectsAFreshConnectionAfterTheOldOneBroke) {
  ConnectorOptions options;
  options.ca_file = env.ca;
  auto connector = make_connector(env.tls_url, options);
  auto conn = open(connector);
  std::optional<Result<Response>> timed_out, r;
  auto body = [&]() -> net::awaitable<void> {
    timed_out.emplace(co_await async_request(*conn, Request::get("/delay?s=1"), in_ms(100), use_awaitable));
    r.emplace(co_await async_request(*conn, Request::get("/small"), in_ms(2000), use_awaitable));
  };
  run_on(io, body);
  ASSERT_FALSE(*timed_out);
  ASSERT_TRUE(*r) << r->error().message();
  EXPECT_EQ(conn->reconnects(), 1u);  // connected (and handshaken) on the io_context
}

TEST_F(HttpAsync, ABodyOverTheLimitIsAnErrorAndTheConnectionIsClosed) {
  ConnectorOptions options;
  options.max_body_bytes = 500;
  auto connector = make_connector(env.bench_url, options);
  auto conn = open(connector);
  std::optional<Result<Response>> r;
  auto body = [&]() -> net::awaitable<void> {
    r.emplace(co_await async_request(*conn, Request::get("/big?n=5000"), in_ms(2000), use_awaitable));
  };
  run_on(io, body);
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().kind(), ErrorKind::backend);
  EXPECT_EQ(r->error().code(), "body_limit");
  EXPECT_NE(r->error().message().find("max_body_bytes=500"), std::string::npos) << r->error().message();
  EXPECT_TRUE(conn->is_broken());
}

TEST_F(HttpAsync, AsyncCallTurnsA503IntoARetryableErrorAndClosesTheGate) {
  auto connector = make_connector(env.bench_url);
  auto conn = open(connector);
  std::optional<Result<Response>> r, gated;
  auto body = [&]() -> net::awaitable<void> {
    r.emplace(co_await async_call(*conn, Request::get("/busy"), in_ms(2000), use_awaitable));
    gated.emplace(co_await async_request(*conn, Request::get("/small"), in_ms(200), use_awaitable));
  };
  run_on(io, body);
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().code(), "503");
  EXPECT_TRUE(r->error().retryable());
  // Retry-After: 1 s, past a 200 ms deadline: refused at once with the status.
  ASSERT_FALSE(*gated);
  EXPECT_EQ(gated->error().kind(), ErrorKind::backend);
  EXPECT_EQ(gated->error().code(), "503");
  EXPECT_TRUE(connector.not_before().has_value());
}

TEST_F(HttpAsync, ADelayedServerTimesOutByTheDeadlineAndTheConnectionIsNotReused) {
  auto connector = make_connector(env.bench_url);
  auto conn = open(connector);
  std::optional<Result<Response>> r;
  auto start = std::chrono::steady_clock::now();
  auto body = [&]() -> net::awaitable<void> {
    r.emplace(co_await async_request(*conn, Request::get("/delay?s=3"), in_ms(300), use_awaitable));
  };
  run_on(io, body);
  // Bounded, not fast: a hang would be the 3 s the server waits.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().kind(), ErrorKind::timeout) << r->error().message();
  EXPECT_EQ(conn->last_stage(), Stage::written_no_response);
  EXPECT_TRUE(conn->is_broken());
}

TEST_F(HttpAsync, APassedDeadlineWritesNothing) {
  auto connector = make_connector(env.bench_url);
  auto conn = open(connector);
  std::optional<Result<Response>> r;
  auto body = [&]() -> net::awaitable<void> {
    r.emplace(co_await async_request(*conn, Request::post("/echo", "never"), in_ms(0), use_awaitable));
  };
  run_on(io, body);
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().kind(), ErrorKind::timeout) << r->error().message();
  EXPECT_EQ(conn->last_stage(), Stage::before_write) << r->error().message();
}

TEST_F(HttpAsync, ABlackholedServerTimesOutByTheDeadline) {
  tools::FaultProxy proxy("127.0.0.1", port_of(env.bench_url));
  auto connector = make_connector(local_url(proxy.port()));
  auto conn = open(connector);
  proxy.set_blackhole(true);
  std::optional<Result<Response>> reused, fresh;
  auto body = [&]() -> net::awaitable<void> {
    reused.emplace(co_await async_request(*conn, Request::get("/small"), in_ms(300), use_awaitable));
    fresh.emplace(co_await async_request(*conn, Request::get("/small"), in_ms(300), use_awaitable));
  };
  run_on(io, body);
  ASSERT_FALSE(*reused);
  EXPECT_EQ(reused->error().kind(), ErrorKind::timeout) << reused->error().message();
  ASSERT_FALSE(*fresh);
  EXPECT_EQ(fresh->error().kind(), ErrorKind::timeout) << fresh->error().message();
}

TEST_F(HttpAsync, CancellationClosesTheConnection) {
  auto pool = TypedPool<Connector>::create({.min_idle = 0, .max_size = 1}, {}, make_connector(env.bench_url)).value();
  std::optional<TypedLease<Connector>> lease(pool.acquire().value());
  std::optional<Result<Response>> r;
  net::cancellation_signal cancel;
  async_request(*lease, Request::get("/delay?s=3"), in_ms(5000),
                net::bind_cancellation_slot(cancel.slot(), net::bind_executor(io, [&](Result<Response> out) {
                                              r.emplace(std::move(out));
                                            })));
  net::steady_timer timer(io, 150ms);
  timer.async_wait([&](auto) { cancel.emit(net::cancellation_type::terminal); });
  io.run();
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().kind(), ErrorKind::cancelled) << r->error().message();
  EXPECT_EQ((*lease)->last_stage(), Stage::written_no_response);
  EXPECT_TRUE((*lease)->is_broken());
  lease.reset();
  auto stats = pool.untyped().stats();
  EXPECT_EQ(stats.size, 0u);  // closed, not back in the pool
}

TEST_F(HttpAsync, AProxyResetWhileIdleIsSeenBeforeTheRequest) {
  tools::FaultProxy proxy("127.0.0.1", port_of(env.bench_url));
  auto connector = make_connector(local_url(proxy.port()));
  auto conn = open(connector);
  ASSERT_TRUE(conn->request(Request::get("/small"), in_ms(2000)));
  proxy.reset_all();
  std::this_thread::sleep_for(50ms);  // the RST crosses loopback
  std::optional<Result<Response>> r;
  auto body = [&]() -> net::awaitable<void> {
    r.emplace(co_await async_request(*conn, Request::post("/echo", "once"), in_ms(2000), use_awaitable));
  };
  run_on(io, body);
  ASSERT_TRUE(*r) << r->error().message();
  EXPECT_EQ((*r)->body, "once");
  EXPECT_EQ(conn->reconnects(), 1u);
}

TEST_F(HttpAsync, AStaleReuseIsRetriedOnceForAGet) {
  RacingServer racing;
  auto connector = make_connector(local_url(racing.server.port()));
  auto conn = open(connector);
  std::optional<Result<Response>> first, second;
  auto body = [&]() -> net::awaitable<void> {
    first.emplace(co_await async_request(*conn, Request::get("/1"), in_ms(2000), use_awaitable));
    second.emplace(co_await async_request(*conn, Request::get("/2"), in_ms(2000), use_awaitable));
  };
  run_on(io, body);
  ASSERT_TRUE(*first) << first->error().message();
  ASSERT_TRUE(*second) << second->error().message();
  EXPECT_EQ((*second)->body, "ok");
  EXPECT_EQ(conn->reconnects(), 1u);
  EXPECT_EQ(racing.gets.load(), 3);  // /1, /2 lost on the stale connection, /2 again
}

TEST_F(HttpAsync, AStaleReuseNeverReplaysAPost) {
  RacingServer racing;
  auto connector = make_connector(local_url(racing.server.port()));
  auto conn = open(connector);
  std::optional<Result<Response>> first, post;
  auto body = [&]() -> net::awaitable<void> {
    first.emplace(co_await async_request(*conn, Request::get("/1"), in_ms(2000), use_awaitable));
    post.emplace(co_await async_request(*conn, Request::post("/orders", "{}"), in_ms(2000), use_awaitable));
  };
  run_on(io, body);
  ASSERT_TRUE(*first);
  ASSERT_FALSE(*post);
  EXPECT_EQ(post->error().code(), "stale_connection") << post->error().message();
  EXPECT_EQ(conn->last_stage(), Stage::written_no_response);
  EXPECT_EQ(racing.posts.load(), 1);
  EXPECT_EQ(racing.connections.load(), 1);
}

TEST_F(HttpAsync, ManyConcurrentRequestsOnOneThreadThroughAPoolOf8) {
  auto pool = pool_of(env.url, 8, 1000);
  constexpr int kTasks = 200, kEach = 5;
  int ok = 0, failed = 0;
  std::string first_error;
  auto task = [&]() -> net::awaitable<void> {
    for (int i = 0; i < kEach; ++i) {
      auto lease = co_await reservoir::asio::async_acquire(pool, in_ms(10000), use_awaitable);
      if (!lease) {
        if (failed++ == 0) first_error = lease.error().message();
        continue;
      }
      // Not in a conditional expression: g++ 12 destroys a co_await's result there twice.
      Result<Response> r = co_await async_call(*lease, Request::get("/small"), in_ms(5000), use_awaitable);
      if (r) {
        ++ok;
      } else {
        if (failed++ == 0) first_error = r.error().message();
      }
    }
  };
  for (int t = 0; t < kTasks; ++t) net::co_spawn(io, task(), net::detached);
  io.run();
  // nginx's keepalive_requests 20 on this listener closes connections under the pool.
  EXPECT_EQ(ok, kTasks * kEach) << first_error;
  EXPECT_LE(pool.untyped().stats().size, 8u);
}

// Seed 003: the event loop goes away under a request in flight. Its handlers are destroyed
// uncalled; the connection (whose descriptor the call had borrowed) is closed, never reused,
// and the pool survives it.
TEST(HttpAsyncLifetime, AnIoContextDestroyedUnderARequestLeavesAClosedConnection) {
  NginxEnv env = nginx_env();
  ASSERT_FALSE(::testing::Test::HasFailure());
  auto pool = TypedPool<Connector>::create({.min_idle = 0, .max_size = 1}, {}, make_connector(env.bench_url)).value();
  std::optional<TypedLease<Connector>> lease(pool.acquire().value());
  bool called = false;
  {
    net::io_context io;
    async_request(*lease, Request::get("/delay?s=3"), in_ms(5000),
                  net::bind_executor(io, [&](Result<Response>) { called = true; }));
    io.run_for(100ms);
  }
  EXPECT_FALSE(called);
  EXPECT_TRUE((*lease)->is_broken());
  lease.reset();
  EXPECT_EQ(pool.untyped().stats().size, 0u);
  auto again = pool.acquire(in_ms(2000));
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_TRUE((*again)->request(Request::get("/small"), in_ms(2000)));
}

}  // namespace
}  // namespace reservoir::http::test
