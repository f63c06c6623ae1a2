// The admin endpoint against real pools (the core with the scripted FakeConnector, and a
// PostgreSQL connector whose conninfo holds a password): every endpoint, bad requests, a slow
// client, and no secret in any output.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <thread>

#include "fake_connector.hpp"
#include "http_client.hpp"
#include "reservoir/admin/server.hpp"
#include "reservoir/pg/connector.hpp"

namespace reservoir::admin {
namespace {

using namespace std::chrono_literals;
using reservoir::testing::ConnectOutcome;
using reservoir::testing::FakeConnector;
using testing::http_get;
using nlohmann::json;

// Real time, bounded: for what the pool does on its own connect thread.
template <class Pred>
bool eventually(Pred done) {
  for (int i = 0; i < 5000 && !done(); ++i) std::this_thread::sleep_for(1ms);
  return done();
}

PoolConfig quiet_config(std::string name) {
  PoolConfig c;
  c.name = std::move(name);
  c.min_idle = 0;
  c.max_size = 2;
  c.max_lifetime = 0ms;
  c.idle_timeout = 0ms;
  c.keepalive_interval = 0ms;
  c.validate_on_checkout = false;
  c.connect_backoff_initial = 1ms;
  c.connect_backoff_max = 1ms;
  return c;
}

class AdminTest : public ::testing::Test {
 protected:
  std::shared_ptr<Pool> make_pool(std::string name, PoolConfig config = {}) {
    if (config.name == PoolConfig{}.name) config = quiet_config(name);
    PoolOptions o;
    o.clock = &clock;
    o.start_maintainer = false;
    o.seed = 7;
    o.listener = ring;
    auto r = Pool::create(connector, config, o);
    EXPECT_TRUE(r) << r.error().message();
    auto pool = std::make_shared<Pool>(std::move(r).value());
    registry->add_pool(pool);
    return pool;
  }

  std::unique_ptr<AdminServer> start(AdminOptions options = {}) {
    options.events = ring;
    auto server = AdminServer::start(registry, options);
    EXPECT_TRUE(server) << server.error().message();
    return std::move(server).value();
  }

  ManualClock clock;
  std::shared_ptr<FakeConnector> connector = std::make_shared<FakeConnector>();
  std::shared_ptr<metrics::Registry> registry = std::make_shared<metrics::Registry>();
  std::shared_ptr<EventRing> ring = std::make_shared<EventRing>();
};

TEST_F(AdminTest, MetricsServesTheRegistry) {
  auto pool = make_pool("orders");
  { auto lease = pool->acquire(); }
  auto server = start();
  const auto r = http_get(server->port(), "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(r.body.find("reservoir_pool_connections{pool=\"orders\",state=\"idle\"} 1\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("reservoir_pool_acquires_total{pool=\"orders\"} 1\n"), std::string::npos);
}

TEST_F(AdminTest, StatsJsonHoldsEveryStatsField) {
  auto pool = make_pool("orders");
  { auto lease = pool->acquire(); }
  auto server = start();
  const auto r = http_get(server->port(), "/stats.json");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  const json doc = json::parse(r.body);
  ASSERT_EQ(doc["pools"].size(), 1u);
  const json& p = doc["pools"][0];
  EXPECT_EQ(p["name"], "orders");
  EXPECT_EQ(p["endpoint"], connector->endpoint());
  const PoolStats stats = pool->stats();
  auto expect_field = [&](std::string_view name, std::uint64_t value, const char*) {
    ASSERT_TRUE(p["stats"].contains(std::string(name))) << name;
    EXPECT_EQ(p["stats"][std::string(name)].get<std::uint64_t>(), value) << name;
  };
  stats.for_each_gauge(expect_field);
  stats.for_each_counter(expect_field);
  for (const char* key : {"closed_by", "acquire_wait", "acquire_wait_buckets", "connect_time_buckets", "reuse_ratio"})
    EXPECT_TRUE(p["stats"].contains(key)) << key;
  EXPECT_EQ(p["stats"]["connect_time_buckets"]["count"], 1);
  EXPECT_TRUE(doc["health"]["healthy"].get<bool>());
}

TEST_F(AdminTest, HealthzIsOkForAHealthyPool) {
  auto pool = make_pool("orders");
  auto server = start();
  const auto r = http_get(server->port(), "/healthz");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(json::parse(r.body)["healthy"].get<bool>());
}

TEST_F(AdminTest, HealthzReportsAnOpenBreaker) {
  auto pool = make_pool("orders");
  auto breaker = CircuitBreaker::create("db:5432", {.consecutive_failures = 1}, clock).value();
  registry->add_breaker(breaker);
  ring->watch(*breaker);
  breaker->record_failure(breaker->allow().value());
  auto server = start();
  const auto r = http_get(server->port(), "/healthz");
  EXPECT_EQ(r.status, 503);
  const json doc = json::parse(r.body);
  EXPECT_FALSE(doc["healthy"].get<bool>());
  bool found = false;
  for (const auto& c : doc["components"]) {
    if (c["kind"] == "breaker" && c["name"] == "db:5432") {
      found = true;
      ASSERT_EQ(c["reasons"].size(), 1u);
      EXPECT_EQ(c["reasons"][0].get<std::string>().rfind("breaker open", 0), 0u) << c.dump();
    }
  }
  EXPECT_TRUE(found) << r.body;
  // The transition is an event too.
  const json events = json::parse(http_get(server->port(), "/events").body)["events"];
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back()["kind"], "breaker_transition");
  EXPECT_EQ(events.back()["reason"], "closed->open");
}

TEST_F(AdminTest, HealthzReportsNoConnectionPossible) {
  connector->set_fallback(ConnectOutcome::refuse);
  auto pool = make_pool("orders");
  // A queued request starts a connect, which fails (the manual clock never ends the wait).
  ASSERT_TRUE(pool->acquire_async(Deadline::after(clock, 10s), [](Result<Lease>) {}));
  ASSERT_TRUE(eventually([&] { return pool->stats().failed_connects > 0; }));
  auto server = start();
  const auto r = http_get(server->port(), "/healthz");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("no connection possible: unavailable: "), std::string::npos) << r.body;
  const json events = json::parse(http_get(server->port(), "/events").body)["events"];
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0]["kind"], "connect_failed");
  EXPECT_NE(events[0]["error"].get<std::string>().find("connection refused"), std::string::npos);
}

TEST_F(AdminTest, HealthzReportsAPoolExhaustedPastTheThreshold) {
  auto pool = make_pool("orders");
  auto a = pool->acquire();
  auto b = pool->acquire();
  ASSERT_TRUE(a && b);
  std::thread waiter([&] { auto c = pool->acquire(Deadline::after(clock, 10s)); EXPECT_TRUE(c); });
  for (int i = 0; i < 5000 && pool->load().waiting == 0; ++i) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(pool->load().waiting, 1u);
  auto server = start({.exhausted_threshold = 0ms});
  const auto r = http_get(server->port(), "/healthz");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("exhausted for"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("2/2 in use, 1 waiting"), std::string::npos) << r.body;
  a->release();  // hands the connection to the waiter
  waiter.join();
  EXPECT_EQ(http_get(server->port(), "/healthz").status, 200);
}

TEST_F(AdminTest, EventsCarryLeaksWithFileAndLine) {
  PoolConfig c = quiet_config("orders");
  c.leak_detection_threshold = 100ms;
  auto pool = make_pool("orders", c);
  auto lease = pool->acquire();  // the leak: this line is reported
  const unsigned line = __LINE__ - 1;
  clock.advance(200ms);
  pool->run_maintenance();
  auto server = start();
  const json events = json::parse(http_get(server->port(), "/events").body)["events"];
  bool found = false;
  for (const auto& e : events) {
    if (e["kind"] != "leak_suspected") continue;
    found = true;
    EXPECT_NE(e["where"].get<std::string>().find("admin_test.cpp:" + std::to_string(line)), std::string::npos) << e.dump();
    EXPECT_EQ(e["pool"], "orders");
  }
  EXPECT_TRUE(found) << events.dump();
  const auto after = events.back()["seq"].get<std::uint64_t>();
  EXPECT_TRUE(json::parse(http_get(server->port(), "/events?after=" + std::to_string(after)).body)["events"].empty());
}

TEST_F(AdminTest, DashboardIsOneSelfContainedPage) {
  auto server = start();
  const auto r = http_get(server->port(), "/dashboard");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("stats.json"), std::string::npos);
  EXPECT_EQ(r.body.find("http://"), std::string::npos);
  EXPECT_EQ(r.body.find("https://"), std::string::npos);
  EXPECT_EQ(r.body.find("<script src"), std::string::npos);
  EXPECT_NE(r.csp.find("default-src 'none'"), std::string::npos);
  EXPECT_NE(r.csp.find("connect-src 'self'"), std::string::npos);
}

TEST_F(AdminTest, UnknownPathIs404AndPostIs405) {
  auto server = start();
  EXPECT_EQ(http_get(server->port(), "/nope").status, 404);
  EXPECT_EQ(http_get(server->port(), "/metrics", "POST").status, 405);
  const auto head = http_get(server->port(), "/dashboard", "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(head.content_length, http_get(server->port(), "/dashboard").body.size());
}

TEST_F(AdminTest, OversizedHeadersGet431) {
  auto server = start({.max_header_bytes = 4096});
  EXPECT_EQ(http_get(server->port(), "/metrics", "GET", 20000).status, 431);
  EXPECT_EQ(http_get(server->port(), "/metrics").status, 200);  // and the server still serves
}

TEST_F(AdminTest, SlowClientBlocksNeitherOthersNorStop) {
  auto pool = make_pool("orders");
  auto server = start({.read_timeout = 60s});
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket slow(ioc);
  slow.connect({boost::asio::ip::make_address("127.0.0.1"), server->port()});
  boost::asio::write(slow, boost::asio::buffer(std::string("GET /metrics HTTP/1.1\r\nHost: x\r\n")));  // never finished
  EXPECT_EQ(http_get(server->port(), "/metrics").status, 200);
  EXPECT_EQ(http_get(server->port(), "/healthz").status, 200);
  server->stop(2s);  // returns with the slow client still connected
  server->stop(2s);  // idempotent
}

TEST_F(AdminTest, SlowClientIsCutOffAtReadTimeout) {
  auto server = start({.read_timeout = 200ms});
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket slow(ioc);
  slow.connect({boost::asio::ip::make_address("127.0.0.1"), server->port()});
  boost::asio::write(slow, boost::asio::buffer(std::string("GET /metrics HTTP/1.1\r\n")));
  std::string got;
  boost::system::error_code ec;
  char buf[512];
  // Blocks until the server closes the connection (a server that never did would hang the
  // test into its ctest timeout, a failure).
  while (!ec) {
    const std::size_t n = slow.read_some(boost::asio::buffer(buf), ec);
    got.append(buf, n);
  }
  EXPECT_TRUE(ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset) << ec.message();
  EXPECT_EQ(got, "") << "nothing is served for an unfinished request";
}

TEST_F(AdminTest, NonLoopbackBindMustBeAskedFor) {
  auto refused = AdminServer::start(registry, {.address = "0.0.0.0"});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind(), ErrorKind::invalid_config);
  EXPECT_NE(refused.error().message().find("allow_non_loopback"), std::string::npos);
  auto allowed = AdminServer::start(registry, {.address = "0.0.0.0", .allow_non_loopback = true});
  EXPECT_TRUE(allowed) << allowed.error().message();
  EXPECT_FALSE(AdminServer::start(registry, {.address = "not-an-address"}));
}

// A connector that leaks its conninfo into its errors (a bug the endpoint must not spread).
class LeakyConnector final : public Connector {
 public:
  Result<std::unique_ptr<Connection>> connect(Deadline) override {
    return Error::unavailable("db:5432", "could not connect with postgresql://app:hunter2@db:5432/app password=hunter2");
  }
  Status check(Connection&, CheckDepth, Deadline) override { return {}; }
  Status reset(Connection&, Deadline) override { return {}; }
  void close(std::unique_ptr<Connection>, Deadline) noexcept override {}
  std::string endpoint() const override { return "db:5432"; }
};

TEST_F(AdminTest, NoPasswordInAnyOutput) {
  PoolOptions o;
  o.clock = &clock;
  o.start_maintainer = false;
  o.listener = ring;
  auto leaky = std::make_shared<Pool>(Pool::create(std::make_shared<LeakyConnector>(), quiet_config("leaky"), o).value());
  registry->add_pool(leaky);
  ASSERT_TRUE(leaky->acquire_async(Deadline::after(clock, 10s), [](Result<Lease>) {}));
  ASSERT_TRUE(eventually([&] { return leaky->stats().failed_connects > 0; }));
  // A real PostgreSQL connector, its conninfo holding a password, pointed at a closed port.
  auto pg = pg::Connector::create("postgresql://app:hunter2@127.0.0.1:1/app?connect_timeout=2");
  ASSERT_TRUE(pg) << pg.error().message();
  PoolOptions po;
  po.listener = ring;
  po.start_maintainer = false;
  using PgPool = TypedPool<pg::Connector>;
  auto pg_pool = std::make_shared<PgPool>(PgPool::create(quiet_config("pg"), po, std::move(pg).value()).value());
  registry->add_pool(pg_pool);
  EXPECT_FALSE(pg_pool->acquire(Deadline::after(SteadyClock::instance(), 3s)));

  auto server = start();
  std::string all;
  for (const char* path : {"/metrics", "/healthz", "/stats.json", "/events", "/dashboard"}) {
    const auto r = http_get(server->port(), path);
    EXPECT_EQ(r.body.find("hunter2"), std::string::npos) << path << ":\n" << r.body;
    all += r.body;
  }
  EXPECT_NE(all.find("password=***"), std::string::npos) << "the leaky error reached /events, redacted";
  EXPECT_NE(all.find("127.0.0.1:1"), std::string::npos) << "the pg pool is in the output";
}

// A backend's error text is not always UTF-8; the JSON documents must still be served.
class BinaryErrorConnector final : public Connector {
 public:
  Result<std::unique_ptr<Connection>> connect(Deadline) override {
    return Error::unavailable("db:5432", std::string("bad bytes \xff\xfe here"));
  }
  Status check(Connection&, CheckDepth, Deadline) override { return {}; }
  Status reset(Connection&, Deadline) override { return {}; }
  void close(std::unique_ptr<Connection>, Deadline) noexcept override {}
  std::string endpoint() const override { return "db:5432"; }
};

TEST_F(AdminTest, InvalidUtf8InAnErrorIsServedReplaced) {
  PoolOptions o;
  o.clock = &clock;
  o.start_maintainer = false;
  o.listener = ring;
  auto pool = std::make_shared<Pool>(Pool::create(std::make_shared<BinaryErrorConnector>(), quiet_config("bin"), o).value());
  registry->add_pool(pool);
  ASSERT_TRUE(pool->acquire_async(Deadline::after(clock, 10s), [](Result<Lease>) {}));
  ASSERT_TRUE(eventually([&] { return pool->stats().failed_connects > 0; }));
  auto server = start();
  for (const char* path : {"/events", "/healthz", "/stats.json"}) {
    const auto r = http_get(server->port(), path);
    EXPECT_NE(r.status, 500) << path << ": " << r.body;
    EXPECT_FALSE(json::parse(r.body, nullptr, false).is_discarded()) << path;
  }
  EXPECT_NE(http_get(server->port(), "/events").body.find("bad bytes"), std::string::npos);
}

TEST(RedactSecrets, HidesConninfoAndUrlPasswords) {
  EXPECT_EQ(redact_secrets("host=db password=s3cret user=app"), "host=db password=*** user=app");
  EXPECT_EQ(redact_secrets("password = 'a b\\'c' x"), "password = *** x");
  EXPECT_EQ(redact_secrets("postgresql://app:s3cret@db:5432/x"), "postgresql://app:***@db:5432/x");
  EXPECT_EQ(redact_secrets("sslpassword=k"), "sslpassword=***");
  EXPECT_EQ(redact_secrets("db:5432: connection refused"), "db:5432: connection refused");
}

}  // namespace
}  // namespace reservoir::admin
