// Bad input is a clear error, and nothing is created or damaged.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "reservoir/sqlite/connector.hpp"
#include "sqlite_test_support.hpp"

namespace reservoir::sqlite {
namespace {

using testing::in_10s;
using testing::TempDir;

TEST(SqliteBadInput, PathInAMissingDirectory) {
  TempDir dir;
  Connector c = testing::valid_connector(Config{.path = dir.file("no/such/dir/store.db")});
  auto r = c.connect(in_10s());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::unavailable);
  EXPECT_FALSE(r.error().retryable());
  EXPECT_NE(r.error().message().find("directory " + dir.file("no/such/dir") + " does not exist"), std::string::npos)
      << r.error().message();
  EXPECT_TRUE(dir.entries().empty());
}

TEST(SqliteBadInput, FileThatIsNotADatabase) {
  TempDir dir;
  const std::string path = dir.file("notes.txt");
  std::string bytes = "These are my notes, not a database.\n";
  bytes.append(5000, 'x');  // more than one page, so SQLite reads a real header
  testing::write_bytes(path, bytes);
  Connector c = testing::valid_connector(Config{.path = path});
  auto r = c.connect(in_10s());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::unavailable);
  EXPECT_EQ(r.error().code(), "SQLITE_NOTADB");
  EXPECT_NE(r.error().message().find("file is not a database"), std::string::npos) << r.error().message();
  EXPECT_EQ(testing::read_bytes(path), bytes);
  EXPECT_EQ(dir.entries(), (std::set<std::string>{"notes.txt"}));
}

TEST(SqliteBadInput, ShortFileThatIsNotADatabase) {
  TempDir dir;
  const std::string path = dir.file("short.db");
  const std::string bytes = "hello";
  testing::write_bytes(path, bytes);
  Connector c = testing::valid_connector(Config{.path = path});
  auto r = c.connect(in_10s());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), "SQLITE_NOTADB") << r.error().message();
  EXPECT_EQ(testing::read_bytes(path), bytes);
  EXPECT_EQ(dir.entries(), (std::set<std::string>{"short.db"}));
}

TEST(SqliteBadInput, ReadOnlyFile) {
  TempDir dir;
  const std::string path = dir.file("store.db");
  {
    Connector c = testing::valid_connector(Config{.path = path});
    auto conn = c.connect(in_10s());
    ASSERT_TRUE(conn);
    ASSERT_TRUE((*conn)->execute("CREATE TABLE t(x); INSERT INTO t VALUES (1)", in_10s()));
  }  // the last connection checkpoints and removes the -wal and -shm files
  ASSERT_EQ(dir.entries(), (std::set<std::string>{"store.db"}));
  const std::string bytes = testing::read_bytes(path);
  ASSERT_EQ(::chmod(path.c_str(), 0444), 0);

  Connector c = testing::valid_connector(Config{.path = path});
  auto r = c.connect(in_10s());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::unavailable);
  EXPECT_EQ(r.error().code(), "SQLITE_READONLY");
  EXPECT_NE(r.error().message().find("read-only (mode 0444)"), std::string::npos) << r.error().message();
  EXPECT_EQ(testing::read_bytes(path), bytes);
  EXPECT_EQ(dir.entries(), (std::set<std::string>{"store.db"}));
}

TEST(SqliteBadInput, MissingFileWithoutCreateIfMissing) {
  TempDir dir;
  Connector c = testing::valid_connector(Config{.path = dir.file("absent.db"), .create_if_missing = false});
  auto r = c.connect(in_10s());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::unavailable);
  EXPECT_NE(r.error().message().find("create_if_missing is off"), std::string::npos) << r.error().message();
  EXPECT_TRUE(dir.entries().empty());
}

TEST(SqliteBadInput, PathThatIsADirectory) {
  TempDir dir;
  std::filesystem::create_directory(dir.file("sub"));
  Connector c = testing::valid_connector(Config{.path = dir.file("sub")});
  auto r = c.connect(in_10s());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::unavailable);
  EXPECT_NE(r.error().message().find("not a regular file"), std::string::npos) << r.error().message();
  EXPECT_EQ(dir.entries(), (std::set<std::string>{"sub"}));
}

TEST(SqliteBadInput, EmptyExistingFileIsAFreshDatabase) {
  TempDir dir;
  const std::string path = dir.file("empty.db");
  testing::write_bytes(path, "");
  Connector c = testing::valid_connector(Config{.path = path});
  auto conn = c.connect(in_10s());
  ASSERT_TRUE(conn) << conn.error().message();
  EXPECT_TRUE((*conn)->execute("CREATE TABLE t(x)", in_10s()));
}

}  // namespace
}  // namespace reservoir::sqlite
