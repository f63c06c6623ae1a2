// Retry-After on 429/503 becomes a host-level gate (nginx: /busy answers 503 Retry-After: 1,
// /limited 429 Retry-After: 2).
#include <gtest/gtest.h>

#include <ctime>

#include "http_env.hpp"
#include "scripted_server.hpp"

namespace reservoir::http::test {
namespace {

using namespace std::chrono_literals;

class RetryAfter : public ::testing::Test {
 protected:
  void SetUp() override {
    env = nginx_env();
    ASSERT_FALSE(HasFailure());
  }
  NginxEnv env;
};

TEST_F(RetryAfter, A503ClosesTheGateForEveryConnectionOfTheOrigin) {
  auto connector = make_connector(env.url);
  auto a = connector.connect(in_ms(2000)).value();
  auto b = connector.connect(in_ms(2000)).value();
  EXPECT_FALSE(connector.not_before());
  auto busy = a->call(Request::get("/busy"), in_ms(2000));
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code(), "503");
  EXPECT_TRUE(connector.is_retryable(busy.error()));
  auto gate = connector.not_before();
  ASSERT_TRUE(gate);
  EXPECT_LE(*gate, SteadyClock::instance().now() + 1s);

  // A caller whose deadline ends before the gate opens fails at once, without sending.
  auto requests_before = b->requests();
  auto early = b->call(Request::get("/healthz"), in_ms(300));
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().kind(), ErrorKind::backend);
  EXPECT_EQ(early.error().code(), "503");
  EXPECT_NE(early.error().detail().find("Retry-After: not before"), std::string::npos) << early.error().message();
  EXPECT_NE(early.error().detail().find("past this call's deadline"), std::string::npos) << early.error().message();
  EXPECT_EQ(b->requests(), requests_before);
  EXPECT_EQ(b->last_stage(), Stage::before_write);

  // A caller with time waits for the gate, then sends.
  auto later = b->call(Request::get("/healthz"), in_ms(3000));
  ASSERT_TRUE(later) << later.error().message();
  EXPECT_GE(SteadyClock::instance().now(), *gate);
}

TEST_F(RetryAfter, TheWaitIsCapped) {
  ConnectorOptions o;
  o.retry_after_cap = 100ms;
  auto connector = make_connector(env.url, o);
  auto conn = connector.connect(in_ms(2000)).value();
  auto before = SteadyClock::instance().now();
  auto limited = conn->call(Request::get("/limited"), in_ms(2000));  // Retry-After: 2
  ASSERT_FALSE(limited);
  EXPECT_EQ(limited.error().code(), "429");
  auto gate = connector.not_before();
  ASSERT_TRUE(gate);
  EXPECT_LE(*gate - before, 100ms + (SteadyClock::instance().now() - before));
}

TEST_F(RetryAfter, OtherStatusesLeaveTheGateOpen) {
  auto connector = make_connector(env.url);
  auto conn = connector.connect(in_ms(2000)).value();
  EXPECT_FALSE(conn->call(Request::get("/status/502"), in_ms(2000)));
  EXPECT_FALSE(connector.not_before());
}

}  // namespace
}  // namespace reservoir::http::test

namespace reservoir::http::test {
namespace {

std::string http_date_in(int seconds) {
  std::time_t t = std::time(nullptr) + seconds;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

TEST(HttpRetryAfter, AnHttpDateIsUnderstood) {
  std::string date = http_date_in(30);
  tools::ScriptedServer server([&](tools::ScriptedSocket& s) {
    while (!s.read_until("\r\n\r\n").empty()) {
      if (!s.write("HTTP/1.1 503 Service Unavailable\r\nRetry-After: " + date + "\r\nContent-Length: 0\r\n\r\n")) return;
    }
  });
  auto connector = make_connector(local_url(server.port()));
  auto conn = connector.connect(in_ms(2000)).value();
  auto before = SteadyClock::instance().now();
  ASSERT_FALSE(conn->call(Request::get("/"), in_ms(2000)));
  auto gate = connector.not_before();
  ASSERT_TRUE(gate);
  EXPECT_GE(*gate - before, std::chrono::seconds(28));  // whole seconds of wall time, minus rounding
  EXPECT_LE(*gate - before, std::chrono::seconds(31));
}

TEST(HttpRetryAfter, A429WithoutRetryAfterLeavesTheGateOpen) {
  tools::ScriptedServer server([](tools::ScriptedSocket& s) {
    while (!s.read_until("\r\n\r\n").empty()) {
      if (!s.write("HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n")) return;
    }
  });
  auto connector = make_connector(local_url(server.port()));
  auto conn = connector.connect(in_ms(2000)).value();
  auto r = conn->call(Request::get("/"), in_ms(2000));
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().retryable());
  EXPECT_FALSE(connector.not_before());
}

}  // namespace
}  // namespace reservoir::http::test
