// http::Connector and http::Connection against the real nginx (scripts/servers.sh).
#include <gtest/gtest.h>

#include "http_env.hpp"

namespace reservoir::http::test {
namespace {

using namespace std::chrono_literals;

class Nginx : public ::testing::Test {
 protected:
  void SetUp() override {
    env = nginx_env();
    ASSERT_FALSE(HasFailure());
  }
  std::unique_ptr<Connection> open(ConnectorOptions options = {}) {
    connector.emplace(make_connector(env.url, std::move(options)));
    auto c = connector->connect(in_ms(2000));
    if (!c) throw std::runtime_error(c.error().message());
    return std::move(c).value();
  }
  NginxEnv env;
  std::optional<Connector> connector;
};

TEST_F(Nginx, GetsASmallBodyAndReusesTheConnection) {
  auto conn = open();
  for (int i = 0; i < 5; ++i) {
    auto r = conn->request(Request::get("/small"), in_ms(2000));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body.size(), 100u);
    EXPECT_EQ(r->header("content-length").value_or(""), "100");
  }
  EXPECT_EQ(conn->requests(), 5u);
  EXPECT_EQ(conn->reconnects(), 0u);  // one keep-alive connection served all five
  EXPECT_FALSE(conn->is_broken());
  EXPECT_TRUE(connector->reset(*conn, in_ms(1000)));
}

TEST_F(Nginx, PostsABodyAndReadsAChunkedOne) {
  auto conn = open();
  auto r = conn->request(Request::post("/echo", "{\"hello\":1}"), in_ms(2000));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->body, "{\"hello\":1}");
  auto big = conn->request(Request::get("/big?n=100000"), in_ms(2000));  // echo module: chunked
  ASSERT_TRUE(big) << big.error().message();
  EXPECT_EQ(big->body, std::string(100000, 'x'));
  EXPECT_EQ(big->header("Transfer-Encoding").value_or(""), "chunked");
}

TEST_F(Nginx, HeadReadsNoBody) {
  auto conn = open();
  Request head = Request::get("/small");
  head.method = "HEAD";
  auto r = conn->request(head, in_ms(2000));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->body, "");
  auto again = conn->request(Request::get("/small"), in_ms(2000));  // the stream stayed in step
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->body.size(), 100u);
}

TEST_F(Nginx, ServerClosingAfterKeepaliveRequestsIsNotReusedByThePool) {
  auto conn = open();
  // keepalive_requests 20: the 20th response carries Connection: close.
  for (int i = 0; i < 19; ++i) ASSERT_TRUE(conn->request(Request::get("/healthz"), in_ms(2000)));
  EXPECT_FALSE(conn->is_broken());
  auto last = conn->request(Request::get("/healthz"), in_ms(2000));
  ASSERT_TRUE(last);
  EXPECT_EQ(last->header("Connection").value_or(""), "close");
  EXPECT_TRUE(conn->is_broken());
  EXPECT_FALSE(connector->reset(*conn, in_ms(1000)));
  // Used again within the same lease, it reconnects in place.
  auto next = conn->request(Request::get("/healthz"), in_ms(2000));
  ASSERT_TRUE(next) << next.error().message();
  EXPECT_EQ(conn->reconnects(), 1u);
}

TEST_F(Nginx, CallTurnsStatusesIntoClassifiedErrors) {
  auto conn = open();
  auto not_found = conn->call(Request::get("/status/404"), in_ms(2000));
  ASSERT_FALSE(not_found);
  EXPECT_EQ(not_found.error().kind(), ErrorKind::backend);
  EXPECT_EQ(not_found.error().code(), "404");
  EXPECT_FALSE(connector->is_retryable(not_found.error()));
  for (const char* s : {"502", "504"}) {
    auto r = conn->call(Request::get(std::string("/status/") + s), in_ms(2000));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), s);
    EXPECT_TRUE(connector->is_retryable(r.error())) << r.error().message();
  }
  EXPECT_FALSE(conn->is_broken());  // an error status is an answer: the connection stays usable
  EXPECT_TRUE(conn->call(Request::get("/healthz"), in_ms(2000)));
}

TEST_F(Nginx, DeadlineClosesTheConnectionAndReturnsTimeout) {
  auto conn = open();
  auto r = conn->request(Request::get("/delay?s=3"), in_ms(200));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::timeout) << r.error().message();
  EXPECT_EQ(conn->last_stage(), Stage::written_no_response);
  EXPECT_TRUE(conn->is_broken());
  EXPECT_FALSE(connector->reset(*conn, in_ms(1000)));
}

TEST_F(Nginx, BodyOverTheLimitIsAnErrorNamingIt) {
  ConnectorOptions o;
  o.max_body_bytes = 1000;
  auto conn = open(o);
  auto r = conn->request(Request::get("/big?n=5000"), in_ms(2000));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::backend);
  EXPECT_EQ(r.error().code(), "body_limit");
  EXPECT_NE(r.error().detail().find("max_body_bytes=1000"), std::string::npos) << r.error().message();
  EXPECT_TRUE(conn->is_broken());
}

TEST_F(Nginx, ChecksAtEveryDepth) {
  ConnectorOptions o;
  o.deep = Request::get("/small");
  auto conn = open(o);
  EXPECT_TRUE(connector->check(*conn, CheckDepth::fast, in_ms(1000)));
  EXPECT_TRUE(connector->check(*conn, CheckDepth::ping, in_ms(1000)));
  EXPECT_TRUE(connector->check(*conn, CheckDepth::deep, in_ms(1000)));
  EXPECT_EQ(conn->requests(), 2u);
}

TEST_F(Nginx, PingExpects2xx) {
  ConnectorOptions o;
  o.ping = Request::get("/status/404");
  auto conn = open(o);
  auto s = connector->check(*conn, CheckDepth::ping, in_ms(1000));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().kind(), ErrorKind::unavailable);
  EXPECT_NE(s.error().detail().find("GET /status/404 answered 404"), std::string::npos) << s.error().message();
}

TEST_F(Nginx, FastCheckSeesTheServersIdleClose) {
  auto conn = open();
  ASSERT_TRUE(conn->request(Request::get("/healthz"), in_ms(2000)));
  std::this_thread::sleep_for(1500ms);  // nginx keepalive_timeout is 1 s
  auto s = connector->check(*conn, CheckDepth::fast, in_ms(1000));
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().detail().find("closed by the server while idle"), std::string::npos) << s.error().message();
  ASSERT_TRUE(connector->learned_idle_timeout().has_value());
  EXPECT_GE(*connector->learned_idle_timeout(), 1s);
}

TEST_F(Nginx, AReusedConnectionTheServerClosedIsReplacedBeforeWriting) {
  auto conn = open();
  ASSERT_TRUE(conn->request(Request::post("/echo", "a"), in_ms(2000)));
  std::this_thread::sleep_for(1500ms);
  // A POST is not replayable; it still succeeds because the close was seen before writing.
  auto r = conn->request(Request::post("/echo", "b"), in_ms(2000));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->body, "b");
  EXPECT_EQ(conn->reconnects(), 1u);
}

TEST(HttpConnector, MalformedUrlIsNamedWithoutItsPassword) {
  auto c = Connector::create("http://alice:s3cret-pw@[::1");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().kind(), ErrorKind::invalid_config);
  EXPECT_EQ(c.error().message().find("s3cret-pw"), std::string::npos) << c.error().message();
  EXPECT_NE(c.error().message().find("http://alice:***@[::1"), std::string::npos) << c.error().message();
}

TEST(HttpConnector, ValidUrlWithUserinfoIsRefusedWithoutItsPassword) {
  auto c = Connector::create("https://bob:hunter2@example.com");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message().find("hunter2"), std::string::npos) << c.error().message();
  EXPECT_NE(c.error().message().find("userinfo"), std::string::npos) << c.error().message();
}

TEST(HttpConnector, RejectsWhatIsNotAnOrigin) {
  for (const char* url : {"ftp://example.com", "http://", "http://example.com/api/v1", "example.com:80",
                          "http://example.com:0", "http://example.com:99999", "http://example.com/?q=1"}) {
    auto c = Connector::create(url);
    ASSERT_FALSE(c) << url << " -> " << c->endpoint();
    EXPECT_EQ(c.error().kind(), ErrorKind::invalid_config) << url;
    EXPECT_NE(c.error().message().find("url="), std::string::npos) << c.error().message();
  }
}

TEST(HttpConnector, EndpointAndDefaultPorts) {
  EXPECT_EQ(make_connector("http://127.0.0.1").endpoint(), "127.0.0.1:80");
  EXPECT_EQ(make_connector("https://example.com/").endpoint(), "example.com:443");
  EXPECT_EQ(make_connector("http://[::1]:8080").endpoint(), "[::1]:8080");
  EXPECT_EQ(make_connector("https://example.com:8443").to_string(), "https://example.com:8443");
}

TEST(HttpConnector, BadOptionsAreInvalidConfigNamingTheField) {
  ConnectorOptions o;
  o.max_body_bytes = 0;
  auto c = Connector::create("http://127.0.0.1:1", o);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("max_body_bytes=0"), std::string::npos) << c.error().message();
  ConnectorOptions t;
  t.ca_file = "/nonexistent/ca.pem";
  auto tls = Connector::create("https://127.0.0.1:1", t);
  ASSERT_FALSE(tls);
  EXPECT_NE(tls.error().message().find("ca_file=\"/nonexistent/ca.pem\""), std::string::npos) << tls.error().message();
  ConnectorOptions p;
  p.ping = Request::get("healthz");
  EXPECT_FALSE(Connector::create("http://127.0.0.1:1", p));
}

TEST(HttpConnector, RefusedConnectIsUnavailableNamingTheEndpoint) {
  auto c = make_connector("http://127.0.0.1:1");
  auto conn = c.connect(in_ms(2000));
  ASSERT_FALSE(conn);
  EXPECT_EQ(conn.error().kind(), ErrorKind::unavailable);
  EXPECT_NE(conn.error().message().find("127.0.0.1:1: "), std::string::npos) << conn.error().message();
}

}  // namespace
}  // namespace reservoir::http::test

#include <sys/wait.h>
#include <unistd.h>

namespace reservoir::http::test {
namespace {

TEST_F(Nginx, AConnectionAbandonedInAForkedChildStillServesTheParent) {
  auto conn = open();
  ASSERT_TRUE(conn->request(Request::get("/small"), in_ms(2000)));
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    connector->abandon(std::move(conn));
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto r = conn->request(Request::get("/small"), in_ms(2000));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(conn->reconnects(), 0u);  // the same connection, not a replacement
}

}  // namespace
}  // namespace reservoir::http::test
