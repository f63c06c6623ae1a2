// Where a connection's descriptor lives between http::async_request calls: registered with the
// caller's event loop (non-blocking) until the connection is used otherwise, as the kernel
// shows it (/proc/self/fdinfo), against the real nginx (scripts/servers.sh start nginx).
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <future>
#include <string>
#include <thread>

#include "async_env.hpp"
#include "descriptors.hpp"
#include "reservoir/asio/acquire.hpp"
#include "reservoir/typed_pool.hpp"

namespace reservoir::http::test {
namespace {

namespace net = boost::asio;
using net::use_awaitable;

// One GET through http::async_request on `io`, which another thread runs: true when it succeeded.
bool get_on_running_loop(net::io_context& io, Connection& conn) {
  std::promise<bool> done;
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        auto r = co_await async_request(conn, Request::get("/small"), in_ms(2000), use_awaitable);
        done.set_value(static_cast<bool>(r));
      },
      net::detached);
  return done.get_future().get();
}

class HttpLoopSocket : public ::testing::Test {
 protected:
  void SetUp() override {
    env = nginx_env();
    ASSERT_FALSE(HasFailure());
    port = port_of(env.bench_url);
    connector.emplace(make_connector(env.bench_url));
    conn = open(*connector);
    auto fds = sockets_to(port);
    ASSERT_EQ(fds.size(), 1u);
    fd = fds[0];
    home = epolls_holding(fd);
    ASSERT_EQ(home.size(), 1u);  // the connector's own io_context, never run
  }
  NginxEnv env;
  std::optional<Connector> connector;
  std::unique_ptr<Connection> conn;
  std::uint16_t port = 0;
  int fd = -1;
  std::vector<int> home;
};

TEST_F(HttpLoopSocket, StaysOnTheLoopBetweenCallsAndComesBackBlockingForABlockingCall) {
  net::io_context io;
  EXPECT_FALSE(is_nonblocking(fd));
  ASSERT_TRUE(async_get(io, *conn));
  auto loop = epolls_holding(fd);
  ASSERT_EQ(loop.size(), 1u);
  EXPECT_NE(loop, home);
  EXPECT_TRUE(is_nonblocking(fd));
  ASSERT_TRUE(async_get(io, *conn));
  EXPECT_EQ(epolls_holding(fd), loop);  // the same registration, nothing moved
  EXPECT_EQ(sockets_to(port), std::vector<int>{fd});

  auto blocking = conn->request(Request::get("/small"), in_ms(2000));
  ASSERT_TRUE(blocking) << blocking.error().message();
  EXPECT_EQ(epolls_holding(fd), home);
  EXPECT_FALSE(is_nonblocking(fd));
  // A response that takes a while, read by a blocking recv (not a spin on EAGAIN).
  auto delayed = conn->request(Request::get("/delay?s=0.2"), in_ms(2000));
  ASSERT_TRUE(delayed) << delayed.error().message();

  ASSERT_TRUE(async_get(io, *conn));
  EXPECT_EQ(epolls_holding(fd), loop);
  EXPECT_EQ(conn->requests(), 5u);
  EXPECT_EQ(conn->reconnects(), 0u);
}

TEST_F(HttpLoopSocket, MovesToTheLoopOfEachCallOnAnotherExecutor) {
  net::io_context one, two;
  ASSERT_TRUE(async_get(one, *conn));
  auto first = epolls_holding(fd);
  ASSERT_TRUE(async_get(two, *conn));
  auto second = epolls_holding(fd);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_NE(second, first);
  EXPECT_NE(second, home);
  ASSERT_TRUE(async_get(one, *conn));
  EXPECT_EQ(epolls_holding(fd), first);
  EXPECT_EQ(conn->reconnects(), 0u);
}

TEST_F(HttpLoopSocket, AnIoContextDestroyedWithTheDescriptorOnItGivesItBack) {
  {
    net::io_context gone;
    ASSERT_TRUE(async_get(gone, *conn));
  }
  EXPECT_TRUE(is_open_descriptor(fd));
  EXPECT_TRUE(epolls_holding(fd).empty());  // the loop's epoll went with it
  auto blocking = conn->request(Request::get("/small"), in_ms(2000));
  ASSERT_TRUE(blocking) << blocking.error().message();
  EXPECT_EQ(epolls_holding(fd), home);
  EXPECT_FALSE(is_nonblocking(fd));
  {
    net::io_context gone_too;
    ASSERT_TRUE(async_get(gone_too, *conn));
  }
  net::io_context next;  // straight from a destroyed loop to another one
  ASSERT_TRUE(async_get(next, *conn));
  EXPECT_EQ(epolls_holding(fd).size(), 1u);
  EXPECT_EQ(conn->reconnects(), 0u);
  EXPECT_EQ(sockets_to(port), std::vector<int>{fd});
}

TEST_F(HttpLoopSocket, AConnectionClosedWhileOnARunningLoopLeavesNothingThere) {
  net::io_context io;
  auto work = net::make_work_guard(io);
  std::thread loop_thread([&] { io.run(); });
  EXPECT_TRUE(get_on_running_loop(io, *conn));  // not ASSERT: the loop thread must be joined
  EXPECT_EQ(epolls_holding(fd).size(), 1u);
  conn.reset();  // on this thread, while the loop polls on its own
  EXPECT_FALSE(is_open_descriptor(fd));
  // The loop goes on: a fresh connection there, then the loop ends with nothing left of the old one.
  auto fresh = open(*connector);
  EXPECT_TRUE(get_on_running_loop(io, *fresh));
  work.reset();
  loop_thread.join();
}

// A pool shared by two loops on two threads: connections move between them under load (one
// loop taking a descriptor back while the other's thread polls it).
TEST(HttpLoopSockets, APoolSharedByTwoLoopsOnTwoThreads) {
  NginxEnv env = nginx_env();
  ASSERT_FALSE(::testing::Test::HasFailure());
  auto pool = pool_of(env.bench_url, 2, 100);
  constexpr int kTasks = 4, kEach = 50;
  std::atomic<int> ok{0};
  std::string first_error;
  std::mutex error_mutex;
  auto task = [&]() -> net::awaitable<void> {
    for (int i = 0; i < kEach; ++i) {
      auto lease = co_await reservoir::asio::async_acquire(pool, in_ms(10000), use_awaitable);
      if (!lease) {
        std::lock_guard lock(error_mutex);
        if (first_error.empty()) first_error = lease.error().message();
        continue;
      }
      Result<Response> r = co_await async_call(*lease, Request::get("/small"), in_ms(5000), use_awaitable);
      if (r) {
        ++ok;
      } else {
        std::lock_guard lock(error_mutex);
        if (first_error.empty()) first_error = r.error().message();
      }
    }
  };
  auto run_loop = [&] {
    net::io_context io;
    for (int t = 0; t < kTasks; ++t) net::co_spawn(io, task(), net::detached);
    io.run();
  };
  std::thread a(run_loop), b(run_loop);
  a.join();
  b.join();
  EXPECT_EQ(ok.load(), 2 * kTasks * kEach) << first_error;
  EXPECT_LE(pool.untyped().stats().size, 2u);
}

}  // namespace
}  // namespace reservoir::http::test
