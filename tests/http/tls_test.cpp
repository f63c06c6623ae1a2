// TLS against nginx with a certificate from a CA made by servers.sh: verification is on by
// default and its failures are named.
#include <gtest/gtest.h>

#include <thread>

#include "http_env.hpp"

namespace reservoir::http::test {
namespace {

class NginxTls : public ::testing::Test {
 protected:
  void SetUp() override {
    env = nginx_env();
    ASSERT_FALSE(HasFailure());
  }
  Result<std::unique_ptr<Connection>> connect(const std::string& url, ConnectorOptions o) {
    connector.emplace(make_connector(url, std::move(o)));
    return connector->connect(in_ms(3000));
  }
  NginxEnv env;
  std::optional<Connector> connector;
};

TEST_F(NginxTls, TheRightCaVerifies) {
  ConnectorOptions o;
  o.ca_file = env.ca;
  auto conn = connect(env.tls_url, o);
  ASSERT_TRUE(conn) << conn.error().message();
  auto r = (*conn)->request(Request::get("/small"), in_ms(2000));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->body.size(), 100u);
  EXPECT_TRUE(connector->check(**conn, CheckDepth::fast, in_ms(1000)));
}

TEST_F(NginxTls, AWrongCaFailsWithTheReason) {
  ConnectorOptions o;
  o.ca_file = env.wrong_ca;
  auto conn = connect(env.tls_url, o);
  ASSERT_FALSE(conn);
  EXPECT_EQ(conn.error().kind(), ErrorKind::unavailable);
  EXPECT_NE(conn.error().detail().find("TLS handshake failed"), std::string::npos) << conn.error().message();
  EXPECT_NE(conn.error().detail().find("unable to get local issuer certificate"), std::string::npos)
      << conn.error().message();
}

TEST_F(NginxTls, VerificationIsOnByDefault) {
  auto conn = connect(env.tls_url, {});  // system CAs only: our test CA is not among them
  ASSERT_FALSE(conn);
  EXPECT_NE(conn.error().detail().find("certificate verify failed"), std::string::npos) << conn.error().message();
}

TEST_F(NginxTls, AWrongHostNameFails) {
  // The certificate names reservoir.test and 127.0.0.1, not localhost.
  ConnectorOptions o;
  o.ca_file = env.ca;
  auto conn = connect("https://localhost:" + std::to_string(port_of(env.tls_url)), o);
  ASSERT_FALSE(conn);
  EXPECT_NE(conn.error().detail().find("hostname mismatch"), std::string::npos) << conn.error().message();
}

TEST_F(NginxTls, VerificationCanBeTurnedOff) {
  ConnectorOptions o;
  o.verify_tls = false;
  auto conn = connect(env.tls_url, o);
  ASSERT_TRUE(conn) << conn.error().message();
  EXPECT_TRUE((*conn)->request(Request::get("/healthz"), in_ms(2000)));
}

TEST_F(NginxTls, ATlsClientOnAPlainPortFailsClearly) {
  ConnectorOptions o;
  o.ca_file = env.ca;
  auto conn = connect("https://127.0.0.1:" + std::to_string(port_of(env.url)), o);
  ASSERT_FALSE(conn);
  EXPECT_NE(conn.error().detail().find("TLS handshake failed"), std::string::npos) << conn.error().message();
}

}  // namespace
}  // namespace reservoir::http::test

namespace reservoir::http::test {
namespace {

// TLS 1.3 servers send session tickets after the handshake: bytes on an idle, fresh
// connection that are not a response. The fast check must not take them for a broken peer
// (or every min_idle connection would be churned by the keepalive check).
TEST_F(NginxTls, AFreshConnectionPassesTheFastCheckDespiteSessionTickets) {
  ConnectorOptions o;
  o.ca_file = env.ca;
  auto conn = connect(env.tls_url, o);
  ASSERT_TRUE(conn) << conn.error().message();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the tickets cross loopback
  auto fast = connector->check(**conn, CheckDepth::fast, in_ms(1000));
  EXPECT_TRUE(fast) << fast.error().message();
  auto ping = connector->check(**conn, CheckDepth::ping, in_ms(1000));
  EXPECT_TRUE(ping) << ping.error().message();
}

}  // namespace
}  // namespace reservoir::http::test
