// sqlite::Checkpoint: with `background` a thread of the process copies the WAL back into the
// store file while writers go on; with `on_commit` the commit that fills the WAL does (SQLite's
// default). A WAL nobody copies back only grows, so every test here watches its length: in
// pages through checkpoint_stats(), or as the -wal file's size (which SQLite never shrinks,
// but reuses from its start once everything in it was copied).
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <thread>
#include <vector>

#include "reservoir/sqlite/connector.hpp"
#include "reservoir/typed_pool.hpp"

#include "sqlite_test_support.hpp"

namespace reservoir::sqlite {
namespace {

using testing::in_10s;
using testing::TempDir;

constexpr int kPages = 8;                            // checkpoint_pages in these tests
constexpr std::uintmax_t kFrameBytes = 4096 + 24;    // a WAL frame: the default page and its header

// Waits (at most 10 s) until `done` holds for the background checkpointer's stats.
bool eventually(const Connector& connector, const std::function<bool(const CheckpointStats&)>& done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until) {
    if (done(connector.checkpoint_stats())) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

std::uintmax_t wal_bytes(const std::string& store) {
  std::error_code ec;
  const auto n = std::filesystem::file_size(store + "-wal", ec);
  return ec ? 0 : n;
}

struct SqliteCheckpoint : ::testing::Test {
  TempDir dir;
  std::string path = dir.file("store.db");

  Connector connector(Checkpoint checkpoint) {
    auto c = Connector::create(Config{.path = path, .checkpoint = checkpoint, .checkpoint_pages = kPages});
    EXPECT_TRUE(c) << c.error().message();
    return std::move(c).value();
  }
  // Two connections by default; one where another's read (a check, a connect's PRAGMAs) could
  // keep a writer from starting the WAL over on a loaded machine, and so make it grow.
  TypedPool<Connector> pool_of(const Connector& c, std::size_t size = 2) {
    auto pool = TypedPool<Connector>::create({.max_size = size}, {}, c);
    EXPECT_TRUE(pool) << pool.error().message();
    return std::move(pool).value();
  }
  // `n` commits of one small row each: one WAL page apiece, more when a page splits.
  static void insert_rows(TypedPool<Connector>& pool, int n, const char* table = "t") {
    auto lease = pool.acquire(in_10s());
    ASSERT_TRUE(lease) << lease.error().message();
    const std::string sql = std::string("INSERT INTO ") + table + " VALUES (?1)";
    for (int i = 0; i < n; ++i) ASSERT_TRUE((*lease)->execute(sql, {std::int64_t{i}}, in_10s()));
  }
  static std::int64_t count_rows(TypedPool<Connector>& pool) {
    auto lease = pool.acquire(in_10s());
    EXPECT_TRUE(lease);
    return (*lease)->query("SELECT count(*) FROM t", in_10s())->get_int(0, 0).value();
  }
  static void create_table(TypedPool<Connector>& pool) {
    auto lease = pool.acquire(in_10s());
    ASSERT_TRUE(lease);
    ASSERT_TRUE((*lease)->execute("CREATE TABLE t(x)", in_10s()));
  }
};

TEST_F(SqliteCheckpoint, AutomaticIsTheDefaultAndMeansBackgroundUnlessEveryCommitSyncs) {
  EXPECT_EQ(Config{}.checkpoint, Checkpoint::automatic);
  EXPECT_EQ(Config{}.checkpoint_pages, 1000);  // SQLite's wal_autocheckpoint
  EXPECT_EQ(checkpoint_in_effect(Config{}), Checkpoint::background);  // synchronous normal
  EXPECT_EQ(checkpoint_in_effect(Config{.synchronous = Synchronous::off}), Checkpoint::background);
  EXPECT_EQ(checkpoint_in_effect(Config{.synchronous = Synchronous::full}), Checkpoint::on_commit);
  EXPECT_EQ(checkpoint_in_effect(Config{.synchronous = Synchronous::extra}), Checkpoint::on_commit);
  EXPECT_EQ(checkpoint_in_effect(Config{.synchronous = Synchronous::full, .checkpoint = Checkpoint::background}),
            Checkpoint::background);
  EXPECT_EQ(checkpoint_in_effect(Config{.checkpoint = Checkpoint::on_commit}), Checkpoint::on_commit);
  EXPECT_EQ(to_string(Checkpoint::automatic), "automatic");
  EXPECT_EQ(to_string(Checkpoint::background), "background");
  EXPECT_EQ(to_string(Checkpoint::on_commit), "on_commit");
}

// With full, automatic leaves it to the commit: no checkpointer, and SQLite's own at the
// configured length.
TEST_F(SqliteCheckpoint, AutomaticWithFullSynchronousCheckpointsInTheCommit) {
  auto c = Connector::create(Config{.path = path, .synchronous = Synchronous::full, .checkpoint_pages = kPages});
  ASSERT_TRUE(c);
  auto pool = pool_of(*c);
  create_table(pool);
  insert_rows(pool, 100);
  EXPECT_EQ(c->checkpoint_stats().rounds, 0u);
  auto lease = pool.acquire(in_10s());
  ASSERT_TRUE(lease);
  EXPECT_EQ((*lease)->query("PRAGMA wal_autocheckpoint", in_10s())->get_int(0, 0).value(), kPages);
}

TEST_F(SqliteCheckpoint, ValidationNamesTheField) {
  for (int pages : {0, -1, 1'000'001}) {
    auto st = Config{.path = path, .checkpoint_pages = pages}.validate();
    ASSERT_FALSE(st) << pages;
    EXPECT_EQ(st.error().kind(), ErrorKind::invalid_config);
    EXPECT_NE(st.error().message().find("checkpoint_pages"), std::string::npos) << st.error().message();
    EXPECT_NE(st.error().message().find(std::to_string(pages)), std::string::npos) << st.error().message();
  }
  auto bad = Config{.path = path, .checkpoint = static_cast<Checkpoint>(7)}.validate();
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("checkpoint"), std::string::npos) << bad.error().message();
  EXPECT_TRUE((Config{.path = path, .checkpoint_pages = 1}.validate()));
}

// The commits only ask: the thread copies the WAL back, a round per ~8 pages written.
TEST_F(SqliteCheckpoint, TheThreadCopiesTheWalBackAsItGrows) {
  Connector c = connector(Checkpoint::background);
  auto pool = pool_of(c);
  create_table(pool);
  insert_rows(pool, 200);
  ASSERT_TRUE(eventually(c, [](const CheckpointStats& s) { return !s.busy && s.finished >= 1; }))
      << c.checkpoint_stats().rounds << " rounds";
  const CheckpointStats s = c.checkpoint_stats();
  EXPECT_GE(s.rounds, s.finished);
  EXPECT_LE(s.rounds, 200u);  // not one per commit
  EXPECT_EQ(s.failed, 0u);
  EXPECT_EQ(count_rows(pool), 200);
}

// Writers that never pause leave no moment in which everything was copied: once the WAL is
// four thresholds long a commit copies the rest, so it still starts over.
TEST_F(SqliteCheckpoint, SustainedWritesStillStartTheWalOver) {
  Connector c = connector(Checkpoint::background);
  auto pool = pool_of(c);
  create_table(pool);
  constexpr int kWriters = 2, kCommits = 1500;
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) writers.emplace_back([&] { insert_rows(pool, kCommits); });
  for (auto& t : writers) t.join();
  ASSERT_TRUE(eventually(c, [](const CheckpointStats& s) { return !s.busy; }));
  const CheckpointStats s = c.checkpoint_stats();
  EXPECT_EQ(s.failed, 0u);
  EXPECT_EQ(count_rows(pool), kWriters * kCommits);
  // Without restarts 3000 commits leave a WAL of 3000 pages or more. With them it stays near
  // 4 x 8 pages, but not on a loaded machine: a thread preempted inside its round holds the
  // checkpoint lock, and each commit's own round finds it taken.
  EXPECT_GE(s.restarts, 3u) << s.rounds << " rounds, " << s.in_commit << " in a commit";
  EXPECT_LT(wal_bytes(path), 32 + 2500 * kFrameBytes) << s.restarts << " restarts";
}

TEST_F(SqliteCheckpoint, EveryCommittedRowIsInTheStoreAfterShutdown) {
  {
    Connector c = connector(Checkpoint::background);
    auto pool = pool_of(c);
    create_table(pool);
    insert_rows(pool, 300);
    ASSERT_TRUE(pool.shutdown(std::chrono::seconds(5)));
  }
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));  // the last connection copied it back
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int64(stmt, 0), 300);
  sqlite3_finalize(stmt);
  sqlite3_close_v2(db);
}

TEST_F(SqliteCheckpoint, OnCommitCheckpointsInTheCommitAtTheConfiguredLength) {
  Connector c = connector(Checkpoint::on_commit);
  auto pool = pool_of(c, 1);
  create_table(pool);
  insert_rows(pool, 200);
  const CheckpointStats s = c.checkpoint_stats();
  EXPECT_EQ(s.rounds, 0u);  // no checkpointer
  auto lease = pool.acquire(in_10s());
  ASSERT_TRUE(lease);
  EXPECT_EQ((*lease)->query("PRAGMA wal_autocheckpoint", in_10s())->get_int(0, 0).value(), kPages);
  // Copied back every ~8 pages and started over: the file never held 200 commits.
  EXPECT_GT(wal_bytes(path), 0u);
  EXPECT_LE(wal_bytes(path), 32 + 24 * kFrameBytes);
}

TEST_F(SqliteCheckpoint, ABorrowerCannotTakeTheCheckpointBackFromTheBackground) {
  Connector c = connector(Checkpoint::background);
  auto pool = pool_of(c);
  auto lease = pool.acquire(in_10s());
  ASSERT_TRUE(lease);
  auto set = (*lease)->execute("PRAGMA wal_autocheckpoint=100", in_10s());
  ASSERT_FALSE(set);
  EXPECT_NE(set.error().message().find("wal_autocheckpoint is managed by the pool"), std::string::npos)
      << set.error().message();
  EXPECT_NE(set.error().message().find("sqlite::Config::checkpoint"), std::string::npos) << set.error().message();
  EXPECT_EQ((*lease)->query("PRAGMA wal_autocheckpoint", in_10s())->get_int(0, 0).value(), 0);
}

TEST_F(SqliteCheckpoint, OnCommitLetsABorrowerSetItForItsLeaseOnly) {
  Connector c = connector(Checkpoint::on_commit);
  auto pool = TypedPool<Connector>::create({.max_size = 1}, {}, c);
  ASSERT_TRUE(pool);
  {
    auto lease = pool->acquire(in_10s());
    ASSERT_TRUE(lease);
    ASSERT_TRUE((*lease)->execute("PRAGMA wal_autocheckpoint=100", in_10s()));
  }
  auto lease = pool->acquire(in_10s());
  ASSERT_TRUE(lease);
  EXPECT_EQ((*lease)->query("PRAGMA wal_autocheckpoint", in_10s())->get_int(0, 0).value(), kPages);
}

// The checkpointer copies the main store; a WAL store a borrower attached checkpoints in its
// commits, as SQLite would, instead of growing without end.
TEST_F(SqliteCheckpoint, AnAttachedWalStoreStillCheckpointsInItsCommits) {
  const std::string other = dir.file("other.db");
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(other.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE u(x)", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close_v2(db);
  }
  Connector c = connector(Checkpoint::background);
  auto pool = pool_of(c);
  auto lease = pool.acquire(in_10s());
  ASSERT_TRUE(lease);
  ASSERT_TRUE((*lease)->execute("ATTACH ?1 AS o", {other}, in_10s()));
  for (int i = 0; i < 200; ++i) ASSERT_TRUE((*lease)->execute("INSERT INTO o.u VALUES (?1)", {std::int64_t{i}}, in_10s()));
  EXPECT_GT(wal_bytes(other), 0u);
  EXPECT_LE(wal_bytes(other), 32 + 24 * kFrameBytes);
}

// A child inherits the connections but not the checkpointer's thread: dropping them there
// must neither wait for that thread nor close its handle, and the parent's keeps working.
TEST_F(SqliteCheckpoint, AForkedChildDroppingThePoolLeavesTheParentsCheckpointerRunning) {
  Connector c = connector(Checkpoint::background);
  auto pool = pool_of(c);
  create_table(pool);
  insert_rows(pool, 50);
  ASSERT_TRUE(eventually(c, [](const CheckpointStats& s) { return !s.busy && s.rounds >= 1; }));
  const CheckpointStats before = c.checkpoint_stats();

  const pid_t pid = ::fork();
  if (pid == 0) {
    const bool ok = static_cast<bool>(pool.shutdown(std::chrono::seconds(1)));
    ::_exit(ok ? 0 : 1);
  }
  ASSERT_GT(pid, 0);
  int status = -1;
  for (int i = 0; i < 10'000 && ::waitpid(pid, &status, WNOHANG) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!WIFEXITED(status)) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    FAIL() << "the child hung dropping its pool";
  }
  EXPECT_EQ(WEXITSTATUS(status), 0);

  insert_rows(pool, 50);
  EXPECT_TRUE(eventually(c, [&](const CheckpointStats& s) { return s.rounds > before.rounds; }));
  EXPECT_EQ(count_rows(pool), 100);
}

}  // namespace
}  // namespace reservoir::sqlite
