// TLS on the real server (scripts/servers.sh turns ssl on with a CA made by openssl):
// sslmode and certificate options pass through the conninfo; bad certificates give clear
// errors that never hold the password.
#include <gtest/gtest.h>

#include <string>

#include "pool_support.hpp"

namespace reservoir::pg::test {
namespace {

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

// The password-protected role's URL, with TLS verified against `ca`, connecting to `host`.
std::string secret_tls_url(const PgEnv& env, const std::string& ca, const std::string& host = "127.0.0.1") {
  std::string url = replaced(env.secret_url, "sslmode=disable", "sslmode=verify-full&sslrootcert=" + ca);
  if (host != "127.0.0.1") url = replaced(replaced(url, "@127.0.0.1:", "@" + host + ":"), "?", "?hostaddr=127.0.0.1&");
  return url;
}

constexpr const char* kPassword = "reservoir-Secret-pw-7e1";  // scripts/servers.sh

#define RESERVOIR_REQUIRE_TLS(env)                                                                   \
  RESERVOIR_REQUIRE_PG(env);                                                                        \
  if (env.tls_url.empty() || env.ca.empty()) FAIL() << "the test server has no TLS settings: restart it " \
                                                      "with scripts/servers.sh (it turns ssl on)"

TEST(PgTls, VerifyFullWithTheRootCertificateConnects) {
  RESERVOIR_REQUIRE_TLS(env);
  for (const std::string& url : {env.tls_url, secret_tls_url(env, env.ca)}) {
    Connector connector = make_connector(url);
    auto conn = connector.connect(in_ms(5000));
    ASSERT_TRUE(conn) << conn.error().message();
    auto r = conn.value()->query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", in_ms(5000));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->get_text(0, 0).value(), "t");
  }
}

// The pipelined reset and the statement cache over TLS, through the pool; a large result
// (many TLS records: libpq may hold decrypted bytes the socket no longer shows) arrives whole.
TEST(PgTls, PoolResetAndLargeResultsOverTls) {
  RESERVOIR_REQUIRE_TLS(env);
  PgPool pool = make_pool(env.tls_url, small_config(1));
  for (int i = 0; i < 3; ++i) {
    auto lease = pool.acquire(in_ms(5000));
    ASSERT_TRUE(lease) << lease.error().message();
    ASSERT_TRUE(lease.value()->execute("SET work_mem = '9MB'", in_ms(5000)));
    auto r = lease.value()->query("SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g", in_ms(10000));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->size(), 20000u);
  }
  auto lease = pool.acquire(in_ms(5000));
  ASSERT_TRUE(lease);
  auto r = lease.value()->query("SHOW work_mem", in_ms(5000));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->get_text(0, 0).value(), "4MB");
}

TEST(PgTls, WrongCaIsAClearErrorWithoutThePassword) {
  RESERVOIR_REQUIRE_TLS(env);
  Connector connector = make_connector(secret_tls_url(env, env.wrong_ca));
  auto conn = connector.connect(in_ms(5000));
  ASSERT_FALSE(conn);
  const std::string message = conn.error().message();
  EXPECT_EQ(conn.error().kind(), ErrorKind::unavailable) << message;
  EXPECT_NE(message.find("certificate verify failed"), std::string::npos) << message;
  EXPECT_EQ(message.find(kPassword), std::string::npos) << message;
  EXPECT_EQ(connector.to_string().find(kPassword), std::string::npos);
}

TEST(PgTls, WrongHostNameIsAClearErrorWithoutThePassword) {
  RESERVOIR_REQUIRE_TLS(env);
  // The certificate names 127.0.0.1 only; connecting by the name `localhost` must fail.
  Connector connector = make_connector(secret_tls_url(env, env.ca, "localhost"));
  auto conn = connector.connect(in_ms(5000));
  ASSERT_FALSE(conn);
  const std::string message = conn.error().message();
  EXPECT_NE(message.find("does not match host name \"localhost\""), std::string::npos) << message;
  EXPECT_EQ(message.find(kPassword), std::string::npos) << message;
}

TEST(PgTls, SslmodeRequireWithoutACaStillEncrypts) {
  RESERVOIR_REQUIRE_TLS(env);
  Connector connector = make_connector(replaced(env.url, "sslmode=disable", "sslmode=require"));
  auto conn = connector.connect(in_ms(5000));
  ASSERT_TRUE(conn) << conn.error().message();
  auto r = conn.value()->query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", in_ms(5000));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->get_text(0, 0).value(), "t");
}

}  // namespace
}  // namespace reservoir::pg::test
