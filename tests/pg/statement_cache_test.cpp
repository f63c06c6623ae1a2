// The per-connection statement cache on the real server: hits, LRU eviction (closed on the
// server), invalidation after DDL (0A000) and after a server-side DEALLOCATE (26000), and how it
// meets the reset.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <string>
#include <vector>

#include "pool_support.hpp"

namespace reservoir::pg::test {
namespace {

// The session's protocol-level prepared statements, read outside the cache.
std::vector<std::string> server_statements(Connection& conn) {
  PGresult* r = PQexec(conn.native_handle(), "SELECT statement FROM pg_prepared_statements WHERE NOT from_sql ORDER BY 1");
  std::vector<std::string> out;
  for (int i = 0; i < PQntuples(r); ++i) out.emplace_back(PQgetvalue(r, i, 0));
  PQclear(r);
  return out;
}

ConnectorOptions cache_of(std::size_t n, std::string reset_sql = "DISCARD ALL") {
  ConnectorOptions options;
  options.statement_cache_size = n;
  options.reset_sql = std::move(reset_sql);
  return options;
}

class PgStatementCache : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    env_ = PgEnv::load(&why);
    ASSERT_TRUE(env_) << why << " -- start it with: scripts/servers.sh start postgres";
    table_ = "cache_" + std::to_string(::getpid());
    connector_.emplace(make_connector(env_->url, cache_of(0)));
    admin_ = must_connect(*connector_);
    ASSERT_TRUE(admin_->script("DROP TABLE IF EXISTS " + table_ + "; CREATE TABLE " + table_ +
                                   " (id int PRIMARY KEY); INSERT INTO " + table_ + " VALUES (1)",
                               in_ms(5000)));
  }
  void TearDown() override {
    if (admin_) (void)admin_->execute("DROP TABLE IF EXISTS " + table_, in_ms(5000));
  }
  std::optional<PgEnv> env_;
  std::optional<Connector> connector_;
  std::unique_ptr<Connection> admin_;
  std::string table_;
};

TEST_F(PgStatementCache, RepeatedStatementsArePreparedOnceAndHit) {
  Connector connector = make_connector(env_->url, cache_of(8));
  auto conn = must_connect(connector);
  for (int i = 0; i < 3; ++i) {
    auto r = conn->query("SELECT $1::int + 1", {i}, in_ms(5000));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->get_int(0, 0).value(), i + 1);
  }
  EXPECT_EQ(conn->statement_cache_stats().misses, 1u);
  EXPECT_EQ(conn->statement_cache_stats().hits, 2u);
  EXPECT_EQ(connector.statement_cache_stats().hits, 2u);
  EXPECT_EQ(server_statements(*conn), std::vector<std::string>{"SELECT $1::int + 1"});
}

TEST_F(PgStatementCache, CacheOffPreparesNothing) {
  Connector connector = make_connector(env_->url, cache_of(0));
  auto conn = must_connect(connector);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(conn->query("SELECT $1::int", {i}, in_ms(5000)));
  EXPECT_EQ(conn->statement_cache_stats().hits + conn->statement_cache_stats().misses, 0u);
  EXPECT_TRUE(server_statements(*conn).empty());
}

TEST_F(PgStatementCache, LeastRecentlyUsedIsEvictedAndClosedOnTheServer) {
  Connector connector = make_connector(env_->url, cache_of(2));
  auto conn = must_connect(connector);
  ASSERT_TRUE(conn->query("SELECT 'a'", in_ms(5000)));
  ASSERT_TRUE(conn->query("SELECT 'b'", in_ms(5000)));
  ASSERT_TRUE(conn->query("SELECT 'a'", in_ms(5000)));  // 'b' is now the least recently used
  ASSERT_TRUE(conn->query("SELECT 'c'", in_ms(5000)));
  EXPECT_EQ(conn->statement_cache_stats().evictions, 1u);
  EXPECT_EQ(server_statements(*conn), (std::vector<std::string>{"SELECT 'a'", "SELECT 'c'"}));
  ASSERT_TRUE(conn->query("SELECT 'a'", in_ms(5000)));
  EXPECT_EQ(conn->statement_cache_stats().hits, 2u);
}

// After DDL changes a cached statement's result type the server answers 0A000 "cached plan
// must not change result type": the statement is prepared again and run once more.
TEST_F(PgStatementCache, DdlThatChangesTheResultTypeIsHandledTransparently) {
  Connector connector = make_connector(env_->url, cache_of(8));
  auto conn = must_connect(connector);
  const std::string select = "SELECT * FROM " + table_;
  ASSERT_TRUE(conn->query(select, in_ms(5000)));
  ASSERT_TRUE(conn->query(select, in_ms(5000)));
  ASSERT_TRUE(admin_->execute("ALTER TABLE " + table_ + " ADD COLUMN extra int DEFAULT 7", in_ms(5000)));
  auto r = conn->query(select, in_ms(5000));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->columns().size(), 2u);
  EXPECT_EQ(r->get_int(0, 1).value(), 7);
  EXPECT_EQ(conn->statement_cache_stats().reprepares, 1u);
  EXPECT_FALSE(conn->is_broken());
  EXPECT_EQ(server_statements(*conn).size(), 1u);  // the stale one was closed
}

// Inside a transaction the failed statement aborted it: the error is the caller's (retrying
// the statement alone cannot help), and the next use prepares it again.
TEST_F(PgStatementCache, InvalidationInsideATransactionIsReportedThenRecovers) {
  Connector connector = make_connector(env_->url, cache_of(8));
  auto conn = must_connect(connector);
  const std::string select = "SELECT * FROM " + table_;
  ASSERT_TRUE(conn->query(select, in_ms(5000)));
  ASSERT_TRUE(admin_->execute("ALTER TABLE " + table_ + " ADD COLUMN extra int", in_ms(5000)));
  ASSERT_TRUE(conn->execute("BEGIN", in_ms(5000)));
  auto r = conn->query(select, in_ms(5000));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), "0A000");
  ASSERT_TRUE(conn->execute("ROLLBACK", in_ms(5000)));
  auto again = conn->query(select, in_ms(5000));
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->columns().size(), 2u);
}

// A server-side DEALLOCATE (here the caller's own DEALLOCATE ALL) makes Bind fail with 26000:
// prepared again, transparently.
TEST_F(PgStatementCache, DeallocatedOnTheServerIsPreparedAgain) {
  Connector connector = make_connector(env_->url, cache_of(8));
  auto conn = must_connect(connector);
  ASSERT_TRUE(conn->query("SELECT 41 + 1", in_ms(5000)));
  ASSERT_TRUE(conn->script("DEALLOCATE ALL", in_ms(5000)));
  auto r = conn->query("SELECT 41 + 1", in_ms(5000));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->get_int(0, 0).value(), 42);
  EXPECT_EQ(conn->statement_cache_stats().reprepares, 1u);
}

// A statement that fails to prepare (a syntax error) is not kept.
TEST_F(PgStatementCache, AStatementThatFailsToPrepareIsNotKept) {
  Connector connector = make_connector(env_->url, cache_of(8));
  auto conn = must_connect(connector);
  for (int i = 0; i < 2; ++i) {
    auto r = conn->query("SELEC 1", in_ms(5000));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), "42601");
  }
  EXPECT_EQ(conn->statement_cache_stats().hits, 0u);
  EXPECT_TRUE(server_statements(*conn).empty());
  EXPECT_FALSE(conn->is_broken());
}

// Across leases: DISCARD ALL drops every prepared statement, the cache's too, so each is
// prepared again in the same write as its next execution; the rollback-only reset keeps them.
TEST_F(PgStatementCache, AcrossLeasesWithEachReset) {
  const std::string point = "SELECT id FROM " + table_ + " WHERE id = $1";
  for (const char* reset : {"DISCARD ALL", ""}) {
    SCOPED_TRACE(reset);
    Connector connector = make_connector(env_->url, cache_of(8, reset));
    auto conn = must_connect(connector);
    for (int lease = 0; lease < 3; ++lease) {
      auto r = conn->query(point, {1}, in_ms(5000));
      ASSERT_TRUE(r) << r.error().message();
      EXPECT_EQ(r->get_int(0, 0).value(), 1);
      if (*reset != '\0') {
        ASSERT_TRUE(conn->script("PREPARE mine AS SELECT 1", in_ms(5000)));  // a borrower's own
      }
      ASSERT_TRUE(connector.reset(*conn, in_ms(5000)));
    }
    const StatementCacheStats stats = conn->statement_cache_stats();
    if (std::string(reset).empty()) {
      EXPECT_EQ(stats.misses, 1u);
      EXPECT_EQ(stats.hits, 2u);
    } else {
      EXPECT_EQ(stats.misses, 3u);
      EXPECT_EQ(stats.hits, 0u);
      EXPECT_EQ(stats.reprepares, 0u);  // never found missing: known gone, prepared in the same write
    }
  }
}

// The backend-stats seam: the pool's type-erased connector reports the cache's counters,
// which the metrics exposition turns into reservoir_backend_statement_cache_*_total{pool}.
TEST_F(PgStatementCache, ThePoolSeesTheCacheThroughBackendCounters) {
  PgPool pool = make_pool(env_->url, small_config(1), cache_of(8));
  for (int i = 0; i < 3; ++i) {
    auto lease = pool.acquire();
    ASSERT_TRUE(lease) << lease.error().message();
    auto r = (*lease)->query("SELECT $1::int * 2", {i}, in_ms(5000));
    ASSERT_TRUE(r) << r.error().message();
  }
  const StatementCacheStats direct = pool.connector().statement_cache_stats();
  std::vector<std::pair<std::string, std::uint64_t>> seen;
  for (const auto& c : pool.untyped().connector().backend_counters()) seen.emplace_back(c.name, c.value);
  const std::vector<std::pair<std::string, std::uint64_t>> expected{{"statement_cache_hits", direct.hits},
                                                                    {"statement_cache_misses", direct.misses},
                                                                    {"statement_cache_evictions", direct.evictions},
                                                                    {"statement_cache_reprepares", direct.reprepares}};
  EXPECT_EQ(seen, expected);
  EXPECT_GE(direct.hits + direct.misses, 3u);
}

}  // namespace
}  // namespace reservoir::pg::test
