// The connector alone against the real server: connect, query helper, errors, secrets,
// deadlines on connect and on queries.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "pg_env.hpp"
#include "reservoir/pg/errors.hpp"

namespace reservoir::pg::test {
namespace {

TEST(PgConnector, QueryReadsTypedColumnsAndBindsParameters) {
  RESERVOIR_REQUIRE_PG(env);
  Connector connector = make_connector(env.url);
  auto conn = must_connect(connector);
  auto rows = conn->query("SELECT $1::int8 + 1 AS n, $2::text AS t, $3::float8 AS d, $4::int AS z, 1.5::numeric AS m",
                          {std::int64_t{41}, std::string("hi"), 2.5, std::monostate{}}, in_ms(5000));
  ASSERT_TRUE(rows) << rows.error().message();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->columns()[0], "n");
  EXPECT_EQ(rows->get_int(0, 0).value(), 42);
  EXPECT_EQ(rows->get_text(0, 1).value(), "hi");
  EXPECT_DOUBLE_EQ(rows->get_double(0, 2).value(), 2.5);
  EXPECT_TRUE(rows->is_null(0, 3));
  EXPECT_EQ(rows->get_text(0, 4).value(), "1.5");
  EXPECT_EQ(rows->column("t"), 1u);
}

TEST(PgConnector, QueryReadsManyRowsInOrderAndRowsWithoutColumns) {
  RESERVOIR_REQUIRE_PG(env);
  Connector connector = make_connector(env.url);
  auto conn = must_connect(connector);
  auto rows = conn->query("SELECT g, g * 10 AS ten FROM generate_series(1, 500) g ORDER BY g", in_ms(5000));
  ASSERT_TRUE(rows) << rows.error().message();
  ASSERT_EQ(rows->size(), 500u);
  for (std::size_t r = 0; r < rows->size(); ++r) {
    ASSERT_EQ(rows->get_int(r, 0).value(), static_cast<std::int64_t>(r + 1));
    ASSERT_EQ(rows->get_int(r, 1).value(), static_cast<std::int64_t>((r + 1) * 10));
  }
  auto bare = conn->query("SELECT FROM generate_series(1, 3)", in_ms(5000));
  ASSERT_TRUE(bare) << bare.error().message();
  EXPECT_EQ(bare->size(), 3u);
  EXPECT_TRUE(bare->columns().empty());
}

TEST(PgConnector, ExecuteReturnsRowsAffected) {
  RESERVOIR_REQUIRE_PG(env);
  Connector connector = make_connector(env.url);
  auto conn = must_connect(connector);
  ASSERT_TRUE(conn->execute("CREATE TEMP TABLE t (id int PRIMARY KEY, v text)", in_ms(5000)));
  auto n = conn->execute("INSERT INTO t SELECT g, 'x' FROM generate_series(1, 3) g", in_ms(5000));
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(n.value(), 3);
  auto u = conn->execute("UPDATE t SET v = $1 WHERE id >= $2", {"y", 2}, in_ms(5000));
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_EQ(u.value(), 2);
}

TEST(PgConnector, ServerErrorsCarrySqlstateAndAreClassified) {
  RESERVOIR_REQUIRE_PG(env);
  Connector connector = make_connector(env.url);
  auto conn = must_connect(connector);
  auto syntax = conn->query("SELEC 1", in_ms(5000));
  ASSERT_FALSE(syntax);
  EXPECT_EQ(syntax.error().kind(), ErrorKind::backend);
  EXPECT_EQ(syntax.error().code(), "42601");
  EXPECT_FALSE(connector.is_retryable(syntax.error()));
  EXPECT_NE(syntax.error().detail().find("syntax error"), std::string::npos) << syntax.error().message();
  EXPECT_NE(syntax.error().detail().find(connector.endpoint()), std::string::npos);

  ASSERT_TRUE(conn->execute("CREATE TEMP TABLE u (id int PRIMARY KEY)", in_ms(5000)));
  ASSERT_TRUE(conn->execute("INSERT INTO u VALUES (1)", in_ms(5000)));
  auto dup = conn->execute("INSERT INTO u VALUES (1)", in_ms(5000));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code(), "23505");
  EXPECT_FALSE(connector.is_retryable(dup.error()));
  EXPECT_FALSE(conn->is_broken());  // a statement error leaves the session usable
  auto count = conn->query("SELECT $1::int", {1, 2}, in_ms(5000));  // one parameter too many
  ASSERT_FALSE(count);
  EXPECT_EQ(count.error().code(), "08P01");
  EXPECT_EQ(count.error().kind(), ErrorKind::backend);
  EXPECT_FALSE(connector.is_retryable(count.error()));
  EXPECT_FALSE(conn->is_broken());
  EXPECT_TRUE(conn->query("SELECT 1", in_ms(5000)));
}

TEST(PgConnector, SqlstateClassification) {
  for (const char* s : {"08006", "08001", "57P01", "57P02", "57P03", "53300", "40001", "40P01"}) {
    EXPECT_TRUE(is_retryable_sqlstate(s)) << s;
  }
  for (const char* s : {"42601", "23505", "23503", "22012", "25P02", "57014", ""}) {
    EXPECT_FALSE(is_retryable_sqlstate(s)) << s;
  }
  EXPECT_EQ(server_error("h:1", "40001", "x").kind(), ErrorKind::backend);
  EXPECT_TRUE(server_error("h:1", "40001", "x").retryable());
  EXPECT_EQ(server_error("h:1", "57P01", "x").kind(), ErrorKind::unavailable);
  EXPECT_EQ(server_error("h:1", "57P01", "x").code(), "57P01");
}

TEST(PgConnector, PasswordNeverAppearsInErrorsEndpointOrToString) {
  RESERVOIR_REQUIRE_PG(env);
  const std::string password = "reservoir-Secret-pw-7e1";
  ASSERT_NE(env.secret_url.find(password), std::string::npos) << "servers.sh changed the test password";
  Connector good = make_connector(env.secret_url);
  EXPECT_EQ(good.to_string().find(password), std::string::npos);
  EXPECT_EQ(good.endpoint().find(password), std::string::npos);
  EXPECT_NE(good.to_string().find("reservoir_secret@"), std::string::npos) << good.to_string();
  auto ok = good.connect(in_ms(5000));
  ASSERT_TRUE(ok) << ok.error().message();
  auto err = ok.value()->query("SELECT 1/0, '" + password + "'", in_ms(5000));
  ASSERT_FALSE(err);
  EXPECT_EQ(err.error().message().find(password), std::string::npos) << err.error().message();

  std::string wrong = env.secret_url;
  wrong.replace(wrong.find(password), password.size(), "wrong-" + password);
  Connector bad = make_connector(wrong);
  auto failed = bad.connect(in_ms(5000));
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().kind(), ErrorKind::unavailable);
  EXPECT_EQ(failed.error().code(), "28P01");
  EXPECT_FALSE(failed.error().retryable());
  EXPECT_EQ(failed.error().message().find(password), std::string::npos) << failed.error().message();
  EXPECT_EQ(bad.to_string().find(password), std::string::npos);

  auto unparsable = Connector::create("postgresql://u:" + password + "@h:notaport/db?x='");
  ASSERT_FALSE(unparsable);
  EXPECT_EQ(unparsable.error().kind(), ErrorKind::invalid_config);
  EXPECT_EQ(unparsable.error().message().find(password), std::string::npos) << unparsable.error().message();
}

// libpq's parse errors quote the text they choke on: a bad %-escape in the password, the
// whole URI, or the second word of an unquoted password with a space. None may reach the error.
// (No server needed: create() only parses.)
TEST(PgConnector, UnparsableConninfoNeverEchoesThePassword) {
  const std::string pw = "hunter2-Secret";
  const std::string cases[] = {
      "postgresql://alice:" + pw + "%zz@localhost/db",
      "postgresql://alice:x@localhost/db?password=" + pw + "%zz",
      "postgresql://alice:" + pw + "%00@localhost/db",
      "postgresql://alice:" + pw + "@[::1/db",
      "postgresql://alice:" + pw + "\"q\"" + pw + "%zz@localhost/db",
      "host=localhost password=first " + pw,
  };
  for (const std::string& conninfo : cases) {
    auto r = Connector::create(conninfo);
    ASSERT_FALSE(r) << "parsed: " << conninfo;
    EXPECT_EQ(r.error().kind(), ErrorKind::invalid_config);
    EXPECT_EQ(r.error().message().find(pw), std::string::npos) << r.error().message();
  }
  // Still says what is wrong.
  auto r = Connector::create(cases[0]);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("invalid percent-encoded token"), std::string::npos) << r.error().message();
}

TEST(PgConnector, KeyValueConninfoWorksAndHidesThePassword) {
  RESERVOIR_REQUIRE_PG(env);
  const std::string endpoint = make_connector(env.url).endpoint();
  const std::string host = endpoint.substr(0, endpoint.rfind(':'));
  const std::string port = endpoint.substr(endpoint.rfind(':') + 1);
  const std::string password = "reservoir-Secret-pw-7e1";
  Connector c = make_connector("host=" + host + " port=" + port + " user=reservoir_secret dbname=postgres password='" +
                               password + "' sslmode=disable");
  EXPECT_EQ(c.endpoint(), endpoint);
  EXPECT_EQ(c.to_string(), "postgresql://reservoir_secret@" + endpoint + "/postgres");
  auto conn = c.connect(in_ms(5000));
  ASSERT_TRUE(conn) << conn.error().message();
  EXPECT_TRUE(conn.value()->query("SELECT 1", in_ms(5000)));
}

TEST(PgConnector, DeepCheckRunsTheConfiguredStatement) {
  RESERVOIR_REQUIRE_PG(env);
  ConnectorOptions options;
  options.deep_check_sql = "SELECT 1/0";
  Connector connector = make_connector(env.url, options);
  auto conn = must_connect(connector);
  auto s = connector.check(*conn, CheckDepth::deep, in_ms(2000));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), "22012");
  EXPECT_TRUE(connector.check(*conn, CheckDepth::ping, in_ms(2000)));
}

int listening_socket(int* port, int backlog) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd, backlog) != 0) return -1;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

TEST(PgConnector, ConnectRefusedIsUnavailableNamingTheEndpoint) {
  int port = 0;
  const int fd = listening_socket(&port, 1);
  ASSERT_GE(fd, 0);
  ::close(fd);  // the port is now (almost certainly) closed
  Connector c = make_connector("postgresql://postgres@127.0.0.1:" + std::to_string(port) + "/postgres");
  auto r = c.connect(in_ms(3000));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::unavailable);
  EXPECT_TRUE(r.error().retryable());
  EXPECT_TRUE(r.error().message().starts_with("unavailable: 127.0.0.1:" + std::to_string(port) + ": "))
      << r.error().message();
}

// A listener that never accepts nor answers: the TCP handshake completes (the kernel queues
// it) but the startup message is never answered, like a frozen server or a black hole.
TEST(PgConnector, ConnectToSilentServerEndsAtTheDeadline) {
  int port = 0;
  const int fd = listening_socket(&port, 8);
  ASSERT_GE(fd, 0);
  Connector c = make_connector("postgresql://postgres@127.0.0.1:" + std::to_string(port) + "/postgres?connect_timeout=0");
  const auto start = std::chrono::steady_clock::now();
  auto r = c.connect(in_ms(300));
  const auto took = std::chrono::steady_clock::now() - start;
  ::close(fd);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::timeout) << r.error().message();
  EXPECT_LT(took, std::chrono::seconds(5));  // bounded, not a timing assertion on its precision
}

TEST(PgConnector, QueryPastItsDeadlineTimesOutCancelsAndBreaksTheConnection) {
  RESERVOIR_REQUIRE_PG(env);
  Connector connector = make_connector(env.url);
  auto conn = must_connect(connector);
  auto observer = must_connect(connector);
  const int pid = conn->backend_pid();
  auto r = conn->query("SELECT pg_sleep(30)", in_ms(200));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::timeout) << r.error().message();
  EXPECT_TRUE(connector.is_broken(*conn));
  EXPECT_FALSE(conn->query("SELECT 1", in_ms(1000)));  // never reused
  // The cancel reached the server: the backend stops running pg_sleep long before 30 s.
  bool cancelled = false;
  for (int i = 0; i < 100 && !cancelled; ++i) {
    auto s = observer->query("SELECT state FROM pg_stat_activity WHERE pid = $1", {pid}, in_ms(2000));
    ASSERT_TRUE(s) << s.error().message();
    cancelled = s->empty() || s->get_text(0, 0).value() != "active";
    if (!cancelled) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(cancelled);
}

TEST(PgConnector, ChecksAtEveryDepthPassOnAHealthySession) {
  RESERVOIR_REQUIRE_PG(env);
  ConnectorOptions options;
  options.deep_check_sql = "SELECT count(*) FROM pg_class";
  Connector connector = make_connector(env.url, options);
  auto conn = must_connect(connector);
  EXPECT_TRUE(connector.check(*conn, CheckDepth::fast, in_ms(2000)));
  EXPECT_TRUE(connector.check(*conn, CheckDepth::ping, in_ms(2000)));
  EXPECT_TRUE(connector.check(*conn, CheckDepth::deep, in_ms(2000)));
}

TEST(PgConnector, FastCheckSeesATerminatedBackend) {
  RESERVOIR_REQUIRE_PG(env);
  Connector connector = make_connector(env.url);
  auto victim = must_connect(connector);
  auto killer = must_connect(connector);
  ASSERT_TRUE(killer->query("SELECT pg_terminate_backend($1, 5000)", {victim->backend_pid()}, in_ms(7000)));
  auto s = connector.check(*victim, CheckDepth::fast, in_ms(2000));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().kind(), ErrorKind::unavailable);
  EXPECT_NE(s.error().detail().find("administrator command"), std::string::npos) << s.error().message();
  EXPECT_TRUE(connector.is_broken(*victim));
}

}  // namespace
}  // namespace reservoir::pg::test

namespace reservoir::pg::test {
namespace {

// libpq takes SQL text and text parameters as C strings and stops at a NUL: the statement
// before it ran and the rest was silently dropped. The API refuses such text instead, with the
// same answer as SQLite, before anything is sent (the connection stays usable).
TEST(PgConnector, SqlOrParameterWithANulByteIsRefusedBeforeSending) {
  RESERVOIR_REQUIRE_PG(env);
  Connector connector = make_connector(env.url);
  auto conn = must_connect(connector);
  ASSERT_TRUE(conn->execute("CREATE TEMP TABLE nul_t (x text)", in_ms(5000)));
  const std::string two("INSERT INTO nul_t VALUES ('a');\0INSERT INTO nul_t VALUES ('b')", 62);
  auto e = conn->execute(two, in_ms(5000));
  ASSERT_FALSE(e) << "libpq ran the text up to the NUL";
  EXPECT_EQ(e.error().kind(), ErrorKind::invalid_argument);
  EXPECT_NE(e.error().message().find(": SQL text contains a NUL byte at offset 31 (it would end the text there)"),
            std::string::npos)
      << e.error().message();

  auto p = conn->execute("INSERT INTO nul_t VALUES ($1)", {std::string("a\0b", 3)}, in_ms(5000));
  ASSERT_FALSE(p) << "libpq sent the parameter cut at the NUL";
  EXPECT_EQ(p.error().kind(), ErrorKind::invalid_argument);
  EXPECT_NE(p.error().message().find("parameter $1 contains a NUL byte at offset 1"), std::string::npos)
      << p.error().message();

  auto q = conn->query(std::string_view("SELECT 1\0", 9), in_ms(5000));
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().kind(), ErrorKind::invalid_argument);

  EXPECT_FALSE(conn->is_broken());
  auto n = conn->query("SELECT count(*) FROM nul_t", in_ms(5000));
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(n->get_int(0, 0).value(), 0) << "nothing of the refused text ran";
}

}  // namespace
}  // namespace reservoir::pg::test
