// sqlite::Connector through the real pool: concurrency, sharing, crash recovery, reset.
#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "reservoir/sqlite/connector.hpp"
#include "reservoir/sqlite/transaction.hpp"
#include "reservoir/typed_pool.hpp"
#include "sqlite_test_support.hpp"

namespace reservoir::sqlite {
namespace {

using testing::in_10s;
using testing::in_ms;
using testing::TempDir;
using SqlitePool = TypedPool<Connector>;

SqlitePool make_pool(const std::string& path, std::size_t max_size, std::shared_ptr<Logger> logger = nullptr) {
  PoolOptions options;
  options.logger = logger;
  Config cfg{.path = path};
  cfg.logger = logger;
  auto pool = SqlitePool::create(PoolConfig{.name = "sqlite-test", .min_idle = 1, .max_size = max_size,
                                            .init_mode = InitMode::fail_fast},
                                 options, testing::valid_connector(cfg));
  EXPECT_TRUE(pool) << pool.error().message();
  return std::move(pool).value();
}

std::int64_t count_rows(SqlitePool& pool, const std::string& sql) {
  auto lease = pool.acquire(in_10s());
  EXPECT_TRUE(lease) << lease.error().message();
  auto r = (*lease)->query(sql, in_10s());
  EXPECT_TRUE(r) << r.error().message();
  return r ? r->get_int(0, 0).value() : -1;
}

TEST(SqlitePool, ConcurrentWritersAndReadersLoseNothingAndNeverSeeDatabaseIsLocked) {
  TempDir dir;
  auto pool = make_pool(dir.file("store.db"), 6);
  {
    auto lease = pool.acquire(in_10s());
    ASSERT_TRUE(lease);
    ASSERT_TRUE((*lease)->execute("CREATE TABLE t(id INTEGER PRIMARY KEY, who INTEGER, n INTEGER)", in_10s()));
  }
  constexpr int kThreads = 8;
  std::atomic<std::int64_t> acknowledged{0}, reads{0}, calls{0};
  std::atomic<int> errors{0};
  std::mutex mu;
  std::vector<std::string> messages;
  const Deadline run_until = in_ms(2500);  // a bounded run, not a timing assertion
  std::vector<std::thread> threads;
  for (int w = 0; w < kThreads; ++w) {
    threads.emplace_back([&, w] {
      for (std::int64_t i = 0; !run_until.expired(); ++i) {
        const Deadline d = in_ms(2000);
        auto note = [&](const Error& e) {
          errors.fetch_add(1);
          std::lock_guard g(mu);
          messages.push_back(e.message());
        };
        calls.fetch_add(1);
        auto lease = pool.acquire(d);
        if (!lease) { note(lease.error()); continue; }
        auto& conn = **lease;
        if (i % 4 == 3) {  // a two-row transaction: both rows or neither
          auto tx = Transaction::begin(conn, {}, d);
          if (!tx) { note(tx.error()); continue; }
          auto a = conn.execute("INSERT INTO t(who, n) VALUES (?1, ?2)", {std::int64_t{w}, i}, d);
          auto b = conn.execute("INSERT INTO t(who, n) VALUES (?1, ?2)", {std::int64_t{w}, i}, d);
          if (!a) { note(a.error()); continue; }
          if (!b) { note(b.error()); continue; }
          if (auto st = tx->commit(); !st) { note(st.error()); continue; }
          acknowledged.fetch_add(2);
        } else if (w % 2 == 0) {
          auto r = conn.execute("INSERT INTO t(who, n) VALUES (?1, ?2)", {std::int64_t{w}, i}, d);
          if (!r) { note(r.error()); continue; }
          acknowledged.fetch_add(1);
        } else {
          auto r = conn.query("SELECT count(*), max(id) FROM t WHERE who = ?1", {std::int64_t{w}}, d);
          if (!r) { note(r.error()); continue; }
          reads.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& m : messages) {
    EXPECT_EQ(m.find("database is locked"), std::string::npos) << m;
    ADD_FAILURE() << "call failed within its 2 s deadline: " << m;
  }
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(acknowledged.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(count_rows(pool, "SELECT count(*) FROM t"), acknowledged.load());
  const auto stats = pool.stats();
  EXPECT_LE(stats.size, 6u);
  std::printf("[ info ] %lld calls, %lld rows acknowledged, %lld reads; %s\n", static_cast<long long>(calls.load()),
              static_cast<long long>(acknowledged.load()), static_cast<long long>(reads.load()),
              stats.to_string().c_str());
}

TEST(SqlitePool, TwoPoolsOnOneStoreInOneProcessBothWork) {
  TempDir dir;
  const std::string path = dir.file("shared.db");
  auto a = make_pool(path, 2);
  auto b = make_pool(path, 2);  // the seed's "already accessed" must not happen here
  auto la = a.acquire(in_10s());
  auto lb = b.acquire(in_10s());
  ASSERT_TRUE(la && lb);
  ASSERT_TRUE((*la)->execute("CREATE TABLE t(x); INSERT INTO t VALUES (1)", in_10s()));
  auto r = (*lb)->query("SELECT x FROM t", in_10s());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->get_int(0, 0).value(), 1);
  EXPECT_GE((*la)->store_lock().shares(), 2);
}

TEST(SqlitePool, AStoreOwnedByAnotherProcessFailsCreateWithBusy) {
  TempDir dir;
  const std::string path = dir.file("owned.db");
  testing::Child holder({"hold", path, "owner-app"});
  ASSERT_TRUE(holder.wait_ready());
  auto pool = SqlitePool::create(PoolConfig{.init_mode = InitMode::fail_fast}, PoolOptions{}, testing::valid_connector(Config{.path = path}));
  ASSERT_FALSE(pool);
  EXPECT_NE(pool.error().message().find("in use by pid " + std::to_string(holder.pid()) + " (owner-app"),
            std::string::npos)
      << pool.error().message();
}

TEST(SqlitePool, AProcessKilledMidTransactionLosesOnlyUncommittedRows) {
  TempDir dir;
  const std::string path = dir.file("crash.db");
  testing::Child writer({"midtx", path, "100", "50"});
  ASSERT_TRUE(writer.wait_ready());
  const pid_t dead = writer.pid();
  writer.kill9();

  auto logger = std::make_shared<testing::CapturingLogger>();
  auto pool = make_pool(path, 2, logger);
  bool logged = false;
  for (const auto& line : logger->lines()) {
    logged |= line.find("recovered store lock") != std::string::npos &&
              line.find("pid " + std::to_string(dead)) != std::string::npos;
  }
  EXPECT_TRUE(logged);
  EXPECT_EQ(count_rows(pool, "SELECT count(*) FROM t"), 100);
  EXPECT_EQ(count_rows(pool, "SELECT count(*) FROM t WHERE v = 'pending'"), 0);
  EXPECT_EQ(count_rows(pool, "SELECT max(id) FROM t"), 100);
  auto lease = pool.acquire(in_10s());
  ASSERT_TRUE(lease);
  EXPECT_TRUE(pool.connector().check(**lease, CheckDepth::deep, in_10s()));  // quick_check: ok
  EXPECT_TRUE((*lease)->execute("INSERT INTO t(v) VALUES ('after')", in_10s()));  // writable again
}

TEST(SqlitePool, SessionStateNeverReachesTheNextBorrower) {
  TempDir dir;
  auto pool = make_pool(dir.file("reset.db"), 1);  // one connection: the next lease gets the same one
  {
    auto lease = pool.acquire(in_10s());
    ASSERT_TRUE(lease);
    ASSERT_TRUE((*lease)->execute("CREATE TABLE t(x); CREATE TEMP TABLE mine(y); PRAGMA query_only=1; BEGIN;",
                                  in_10s()));
  }
  auto lease = pool.acquire(in_10s());
  ASSERT_TRUE(lease);
  EXPECT_FALSE((*lease)->in_transaction());
  EXPECT_EQ((*lease)->query("SELECT count(*) FROM temp.sqlite_master", in_10s())->get_int(0, 0).value(), 0);
  EXPECT_TRUE((*lease)->execute("INSERT INTO t VALUES (1)", in_10s()));  // query_only is off again
  EXPECT_EQ(pool.stats().created, 1u);
}

// PostgreSQL's reset clears currval/lastval; SQLite's equivalents leaked: the next borrower
// read the previous one's last_insert_rowid(), changes() and total_changes().
TEST(SqlitePool, RowidAndChangeCountsDoNotReachTheNextBorrower) {
  TempDir dir;
  auto pool = make_pool(dir.file("counts.db"), 1);  // one connection: the next lease gets the same one
  {
    auto lease = pool.acquire(in_10s());
    ASSERT_TRUE(lease);
    ASSERT_TRUE((*lease)->execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v); INSERT INTO t(v) VALUES (1), (2), (3)",
                                  in_10s()));
    EXPECT_EQ((*lease)->last_insert_rowid(), 3);
  }
  auto lease = pool.acquire(in_10s());
  ASSERT_TRUE(lease);
  EXPECT_EQ((*lease)->last_insert_rowid(), 0);
  auto seen = (*lease)->query("SELECT last_insert_rowid(), changes(), total_changes()", in_10s());
  ASSERT_TRUE(seen) << seen.error().message();
  EXPECT_EQ(seen->get_int(0, 0).value(), 0);
  EXPECT_EQ(seen->get_int(0, 1).value(), 0);
  EXPECT_EQ(seen->get_int(0, 2).value(), 0);
  EXPECT_EQ(pool.stats().created, 1u);
}

}  // namespace
}  // namespace reservoir::sqlite
