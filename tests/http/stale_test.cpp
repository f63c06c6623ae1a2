// Stale keep-alive connections, made deterministic with a scripted server that closes a reused
// connection right after reading the next request (the race Go #22158 and hyper #2136 lose),
// and the learned idle timeout on a ManualClock.
#include <gtest/gtest.h>

#include <atomic>

#include "http_env.hpp"
#include "racing_server.hpp"
#include "reservoir/breaker.hpp"
#include "reservoir/run.hpp"
#include "reservoir/typed_pool.hpp"
#include "scripted_server.hpp"

namespace reservoir::http::test {
namespace {

using namespace std::chrono_literals;
using tools::ScriptedServer;
using tools::ScriptedSocket;

constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

TEST(HttpStale, AnIdempotentRequestIsRetriedOnceOnAFreshConnection) {
  RacingServer racing;
  auto connector = make_connector(local_url(racing.server.port()));
  auto conn = connector.connect(in_ms(2000)).value();
  ASSERT_TRUE(conn->request(Request::get("/1"), in_ms(2000)));
  auto r = conn->request(Request::get("/2"), in_ms(2000));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->body, "ok");
  EXPECT_EQ(conn->reconnects(), 1u);
  EXPECT_EQ(racing.connections.load(), 2);
  EXPECT_EQ(racing.gets.load(), 3);  // /1, /2 lost on the stale connection, /2 again
}

TEST(HttpStale, APostIsNeverReplayed) {
  RacingServer racing;
  auto connector = make_connector(local_url(racing.server.port()));
  auto conn = connector.connect(in_ms(2000)).value();
  ASSERT_TRUE(conn->request(Request::get("/1"), in_ms(2000)));
  auto r = conn->request(Request::post("/orders", "{}"), in_ms(2000));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::backend) << r.error().message();
  EXPECT_EQ(r.error().code(), "stale_connection");
  EXPECT_FALSE(r.error().retryable());
  EXPECT_NE(r.error().detail().find("not replayed"), std::string::npos) << r.error().message();
  EXPECT_EQ(conn->last_stage(), Stage::written_no_response);
  EXPECT_EQ(racing.posts.load(), 1);
  EXPECT_EQ(racing.connections.load(), 1);
}

TEST(HttpStale, APostWithAnIdempotencyKeyIsReplayed) {
  RacingServer racing;
  auto connector = make_connector(local_url(racing.server.port()));
  auto conn = connector.connect(in_ms(2000)).value();
  ASSERT_TRUE(conn->request(Request::get("/1"), in_ms(2000)));
  auto r = conn->request(Request::post("/orders", "{}").with_header("Idempotency-Key", "k-42"), in_ms(2000));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(racing.posts.load(), 2);
}

TEST(HttpStale, AFreshConnectionsFailureIsNotRetried) {
  // Only a reused connection can be stale: on a fresh one the same failure is returned.
  ScriptedServer server([](ScriptedSocket& s) {
    s.read_until("\r\n\r\n");
    s.close();
  });
  auto connector = make_connector(local_url(server.port()));
  auto conn = connector.connect(in_ms(2000)).value();
  auto r = conn->request(Request::get("/x"), in_ms(2000));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::unavailable);
  EXPECT_EQ(server.accepted(), 1);
}

TEST(HttpStale, AStaleReuseNeverCountsTowardTheBreaker) {
  RacingServer racing;
  ManualClock clock;
  auto breaker = CircuitBreaker::create("racing", {.consecutive_failures = 1}, clock).value();
  PoolConfig config;
  config.min_idle = 0;
  config.max_size = 1;
  config.validate_on_checkout = false;
  auto pool = TypedPool<Connector>::create(config, {}, make_connector(local_url(racing.server.port()))).value();
  auto get = [](Connection& c, Attempt& a) { return c.call(Request::get("/1"), a); };
  ASSERT_TRUE(run(pool, get, {.breaker = breaker}));
  auto post = [](Connection& c, Attempt& a) { return c.call(Request::post("/orders", "{}"), a); };
  auto r = run(pool, post, {.breaker = breaker});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), "stale_connection") << r.error().message();
  EXPECT_EQ(breaker->state(), BreakerState::closed);
  EXPECT_EQ(racing.posts.load(), 1);
}

// Keeps every connection open and answers every request, except that the first connection is
// closed by the server right after its first response.
struct ClosingFirstServer {
  std::atomic<int> connections{0};
  std::atomic<bool> first_closed{false};
  ScriptedServer server{[this](ScriptedSocket& s) {
    int index = connections++;
    for (;;) {
      if (s.read_until("\r\n\r\n", 10s).empty()) return;
      if (!s.write(kOk)) return;
      if (index == 0) {
        s.close();
        first_closed = true;
        return;
      }
    }
  }};
};

TEST(HttpIdleLearning, RetiresIdleConnectionsAMarginBeforeTheLearnedTimeout) {
  ClosingFirstServer closing;
  ManualClock clock;
  ConnectorOptions o;
  o.clock = &clock;
  o.idle_margin = 250ms;
  auto connector = make_connector(local_url(closing.server.port()), o);
  EXPECT_FALSE(connector.learned_idle_timeout());

  auto first = connector.connect(in_ms(2000)).value();
  ASSERT_TRUE(first->request(Request::get("/a"), in_ms(2000)));
  while (!closing.first_closed) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(20ms);  // the FIN crosses loopback
  clock.advance(3s);
  // The peek sees the close before writing; the idle time is recorded and a fresh
  // connection takes the request.
  ASSERT_TRUE(first->request(Request::get("/b"), in_ms(2000)));
  EXPECT_EQ(first->reconnects(), 1u);
  ASSERT_TRUE(connector.learned_idle_timeout());
  EXPECT_EQ(*connector.learned_idle_timeout(), 3s);

  // Idle 2.7 s (< 3 s - 250 ms): kept. Idle 2.8 s: retired by the fast check.
  clock.advance(2700ms);
  EXPECT_TRUE(connector.check(*first, CheckDepth::fast, in_ms(1000)));
  ASSERT_TRUE(first->request(Request::get("/c"), in_ms(2000)));
  clock.advance(2800ms);
  auto s = connector.check(*first, CheckDepth::fast, in_ms(1000));
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().detail().find("learned idle timeout (~3000 ms)"), std::string::npos) << s.error().message();

  // A request on a connection past the mark replaces it before writing.
  auto second = connector.connect(in_ms(2000)).value();
  ASSERT_TRUE(second->request(Request::get("/d"), in_ms(2000)));
  clock.advance(2900ms);
  ASSERT_TRUE(second->request(Request::get("/e"), in_ms(2000)));
  EXPECT_EQ(second->reconnects(), 1u);
}

TEST(HttpIdleLearning, AKeepAliveHeaderIsTakenAtItsWord) {
  ScriptedServer server([](ScriptedSocket& s) {
    while (!s.read_until("\r\n\r\n").empty()) {
      if (!s.write("HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=100\r\nContent-Length: 0\r\n\r\n")) return;
    }
  });
  auto connector = make_connector(local_url(server.port()));
  auto conn = connector.connect(in_ms(2000)).value();
  ASSERT_TRUE(conn->request(Request::get("/"), in_ms(2000)));
  ASSERT_TRUE(connector.learned_idle_timeout());
  EXPECT_EQ(*connector.learned_idle_timeout(), 5s);
}

}  // namespace
}  // namespace reservoir::http::test
