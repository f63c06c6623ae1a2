// sqlite::Locking: `process` keeps the file locked for this process while any connection is
// open (no lock system call per transaction), `per_transaction` lets another process read
// alongside. The other process is the test helper reading through the sqlite3 C API with
// SQLite's default locking, as a sqlite3 shell would.
#include <gtest/gtest.h>

#include "reservoir/sqlite/connector.hpp"
#include "reservoir/typed_pool.hpp"

#include "sqlite_test_support.hpp"

namespace reservoir::sqlite {
namespace {

using testing::Child;
using testing::in_10s;
using testing::TempDir;

constexpr int kLocked = 3;  // the helper's exit code for SQLITE_BUSY

struct SqliteLocking : ::testing::Test {
  TempDir dir;
  std::string path = dir.file("store.db");

  // A pool of two connections on `locking` that wrote three rows and keeps both open.
  TypedPool<Connector> pool_with_rows(Locking locking) {
    auto connector = Connector::create(Config{.path = path, .locking = locking});
    EXPECT_TRUE(connector) << connector.error().message();
    auto pool = TypedPool<Connector>::create({.min_idle = 2, .max_size = 2}, {}, std::move(connector).value());
    EXPECT_TRUE(pool) << pool.error().message();
    auto lease = pool->acquire(in_10s());
    EXPECT_TRUE(lease) << lease.error().message();
    EXPECT_TRUE((*lease)->execute("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), (3)", in_10s()));
    return std::move(pool).value();
  }

  int other_process_reads(int rows) {
    Child reader({"read", path, "t", std::to_string(rows)});
    return reader.wait();
  }
};

TEST_F(SqliteLocking, ProcessIsTheDefault) { EXPECT_EQ(Config{}.locking, Locking::process); }

TEST_F(SqliteLocking, ProcessLockingShutsOtherProcessesOutUntilTheLastConnectionCloses) {
  {
    auto pool = pool_with_rows(Locking::process);
    auto lease = pool.acquire(in_10s());
    ASSERT_TRUE(lease);
    EXPECT_EQ((*lease)->query("SELECT count(*) FROM t", in_10s())->get_int(0, 0).value(), 3);
    EXPECT_EQ(other_process_reads(3), kLocked);
    lease->release();
    EXPECT_EQ(other_process_reads(3), kLocked);  // idle connections keep it
    ASSERT_TRUE(pool.shutdown(std::chrono::seconds(5)));
  }
  EXPECT_EQ(other_process_reads(3), 0);  // everything committed reached the file
}

TEST_F(SqliteLocking, PerTransactionLockingLetsAnotherProcessReadAlongside) {
  auto pool = pool_with_rows(Locking::per_transaction);
  EXPECT_EQ(other_process_reads(3), 0);
  auto lease = pool.acquire(in_10s());
  ASSERT_TRUE(lease);
  ASSERT_TRUE((*lease)->execute("INSERT INTO t VALUES (4)", in_10s()));
  EXPECT_EQ(other_process_reads(4), 0);
}

// Every connection of the pool sees the others' commits: the WAL index they share lives in
// this process's memory, not in the -shm file.
TEST_F(SqliteLocking, ProcessLockedConnectionsSeeEachOthersCommits) {
  auto pool = pool_with_rows(Locking::process);
  auto a = pool.acquire(in_10s());
  auto b = pool.acquire(in_10s());
  ASSERT_TRUE(a && b);
  for (int i = 0; i < 50; ++i) {
    auto& writer = i % 2 ? *a : *b;
    auto& reader = i % 2 ? *b : *a;
    ASSERT_TRUE(writer->execute("INSERT INTO t VALUES (?1)", {std::int64_t{i}}, in_10s()));
    EXPECT_EQ(reader->query("SELECT count(*) FROM t", in_10s())->get_int(0, 0).value(), 4 + i);
  }
}

TEST_F(SqliteLocking, NamesItsValue) {
  EXPECT_EQ(to_string(Locking::process), "process");
  EXPECT_EQ(to_string(Locking::per_transaction), "per_transaction");
  Config bad{.path = path};
  bad.locking = static_cast<Locking>(7);
  Status st = bad.validate();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("locking"), std::string::npos) << st.error().message();
}

}  // namespace
}  // namespace reservoir::sqlite
