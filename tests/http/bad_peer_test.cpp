// Bad peers (a scripted raw TCP server): every one gives a clear error and a connection that is
// never reused; none crashes or hangs.
#include <gtest/gtest.h>

#include <atomic>

#include "http_env.hpp"
#include "reservoir/typed_pool.hpp"
#include "scripted_server.hpp"

namespace reservoir::http::test {
namespace {

using namespace std::chrono_literals;
using tools::ScriptedServer;
using tools::ScriptedSocket;

// A server that answers every request with `reply` (after reading the request head).
ScriptedServer::Script replying(std::string reply, bool close_after = true) {
  return [reply = std::move(reply), close_after](ScriptedSocket& s) {
    if (s.read_until("\r\n\r\n").empty()) return;
    s.write(reply);
    if (close_after) s.close();
    else s.read_some(5s);
  };
}

struct Outcome {
  Result<Response> result;
  bool broken;
  Stage stage;
};

Outcome get_from(ScriptedServer& server, ConnectorOptions o = {}, long deadline_ms = 2000) {
  auto connector = make_connector(local_url(server.port()), std::move(o));
  auto conn = connector.connect(in_ms(2000));
  if (!conn) return {std::move(conn).error(), true, Stage::before_write};
  auto r = (*conn)->request(Request::get("/x"), in_ms(deadline_ms));
  bool broken = (*conn)->is_broken() && !connector.reset(**conn, in_ms(100));
  return {std::move(r), broken, (*conn)->last_stage()};
}

void expect_protocol_error(const Outcome& o, std::string_view code = "protocol_error") {
  ASSERT_FALSE(o.result);
  EXPECT_EQ(o.result.error().kind(), ErrorKind::backend) << o.result.error().message();
  EXPECT_EQ(o.result.error().code(), code) << o.result.error().message();
  EXPECT_FALSE(o.result.error().retryable());
  EXPECT_TRUE(o.broken);
}

TEST(HttpBadPeer, NotHttp) {
  ScriptedServer server(replying("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"));
  auto o = get_from(server);
  expect_protocol_error(o);
  EXPECT_NE(o.result.error().detail().find("not a valid HTTP/1.1 response"), std::string::npos)
      << o.result.error().message();
}

TEST(HttpBadPeer, GarbledStatusLine) {
  ScriptedServer server(replying("HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n"));
  expect_protocol_error(get_from(server));
}

TEST(HttpBadPeer, InvalidChunkedEncoding) {
  ScriptedServer server(replying("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"));
  auto o = get_from(server);
  expect_protocol_error(o);
  EXPECT_EQ(o.stage, Stage::partial_response);
}

TEST(HttpBadPeer, HeaderBlockOverTheLimit) {
  ScriptedServer server(replying("HTTP/1.1 200 OK\r\nX-Big: " + std::string(100'000, 'h') + "\r\nContent-Length: 0\r\n\r\n"));
  ConnectorOptions opts;
  opts.max_header_bytes = 16 * 1024;
  auto o = get_from(server, opts);
  expect_protocol_error(o, "header_limit");
  EXPECT_NE(o.result.error().detail().find("max_header_bytes=16384"), std::string::npos) << o.result.error().message();
}

TEST(HttpBadPeer, DeclaredBodyOverTheLimitIsRefusedBeforeReadingIt) {
  ScriptedServer server(replying("HTTP/1.1 200 OK\r\nContent-Length: 4000000000\r\n\r\nxxxx", false));
  ConnectorOptions opts;
  opts.max_body_bytes = 1 << 20;
  expect_protocol_error(get_from(server, opts), "body_limit");
}

TEST(HttpBadPeer, ServerStopsMidBody) {
  ScriptedServer server(replying("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"));
  auto o = get_from(server);
  ASSERT_FALSE(o.result);
  EXPECT_EQ(o.result.error().kind(), ErrorKind::unavailable) << o.result.error().message();
  EXPECT_EQ(o.result.error().code(), "partial_response");
  EXPECT_EQ(o.stage, Stage::partial_response);
  EXPECT_TRUE(o.broken);
}

TEST(HttpBadPeer, ServerClosesWithoutAnswering) {
  ScriptedServer server(replying(""));
  auto o = get_from(server);
  ASSERT_FALSE(o.result);
  EXPECT_EQ(o.result.error().kind(), ErrorKind::unavailable) << o.result.error().message();
  EXPECT_EQ(o.stage, Stage::written_no_response);
  EXPECT_TRUE(o.broken);
}

TEST(HttpBadPeer, InformationalFlood) {
  std::string flood;
  for (int i = 0; i < 100; ++i) flood += "HTTP/1.1 100 Continue\r\n\r\n";
  ScriptedServer server(replying(flood + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  auto o = get_from(server);
  expect_protocol_error(o);
  EXPECT_NE(o.result.error().detail().find("max_informational=8"), std::string::npos) << o.result.error().message();
}

TEST(HttpBadPeer, AFewInformationalResponsesAreSkipped) {
  ScriptedServer server(replying("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
                                 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                                 false));
  auto o = get_from(server);
  ASSERT_TRUE(o.result) << o.result.error().message();
  EXPECT_EQ(o.result->status, 200);
  EXPECT_EQ(o.result->body, "ok");
  EXPECT_FALSE(o.broken);
}

TEST(HttpBadPeer, SilentServerTimesOutByTheDeadline) {
  ScriptedServer server([](ScriptedSocket& s) {
    s.read_until("\r\n\r\n");
    s.read_some(5s);
  });
  auto o = get_from(server, {}, 300);
  ASSERT_FALSE(o.result);
  EXPECT_EQ(o.result.error().kind(), ErrorKind::timeout) << o.result.error().message();
  EXPECT_TRUE(o.broken);
}

TEST(HttpBadPeer, ThePoolNeverReusesAHalfReadConnection) {
  std::atomic<int> n{0};
  ScriptedServer server([&](ScriptedSocket& s) {
    for (;;) {
      if (s.read_until("\r\n\r\n").empty()) return;
      if (n++ == 0) {
        s.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
        s.close();
        return;
      }
      if (!s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")) return;
    }
  });
  PoolConfig config;
  config.min_idle = 0;
  config.max_size = 1;
  config.validate_on_checkout = false;
  auto pool = TypedPool<Connector>::create(config, {}, make_connector(local_url(server.port()))).value();
  {
    auto lease = pool.acquire().value();
    EXPECT_FALSE(lease->request(Request::get("/a"), in_ms(2000)));
  }
  auto lease = pool.acquire().value();
  auto r = lease->request(Request::get("/b"), in_ms(2000));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->body, "ok");
  EXPECT_EQ(lease->reconnects(), 0u);   // a new pooled connection, not the broken one repaired
  EXPECT_EQ(server.accepted(), 2);
}

}  // namespace
}  // namespace reservoir::http::test

namespace reservoir::http::test {
namespace {

TEST(HttpBadPeer, SilentTlsServerTimesOutTheHandshakeByTheDeadline) {
  tools::ScriptedServer server([](tools::ScriptedSocket& s) {
    s.read_some(std::chrono::seconds(5));  // the ClientHello
    s.read_some(std::chrono::seconds(5));  // never answered: wait for the client to give up
  });
  ConnectorOptions o;
  o.verify_tls = false;
  auto connector = make_connector("https://127.0.0.1:" + std::to_string(server.port()), o);
  auto conn = connector.connect(in_ms(300));
  ASSERT_FALSE(conn);
  EXPECT_EQ(conn.error().kind(), ErrorKind::timeout) << conn.error().message();
  EXPECT_NE(conn.error().detail().find("TLS handshake timed out"), std::string::npos) << conn.error().message();
}

}  // namespace
}  // namespace reservoir::http::test
