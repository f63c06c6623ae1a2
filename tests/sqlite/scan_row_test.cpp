// sqlite::Connection::scan_row: the first row read straight into the caller's variables.
#include <gtest/gtest.h>

#include "reservoir/sqlite/connector.hpp"

#include "sqlite_test_support.hpp"

namespace reservoir::sqlite {
namespace {

using testing::in_10s;
using testing::TempDir;

struct ScanRow : ::testing::Test {
  TempDir dir;
  std::unique_ptr<Connection> conn;

  void SetUp() override {
    Connector c = testing::valid_connector(Config{.path = dir.file("store.db")});
    auto r = c.connect(in_10s());
    ASSERT_TRUE(r) << r.error().message();
    conn = std::move(r).value();
    ASSERT_TRUE(conn->execute("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB, note TEXT);"
                              "INSERT INTO t VALUES (1, 'one', 1.5, x'00ff', NULL), (2, 'two', 2, x'', 'hi')",
                              in_10s()));
  }
};

TEST_F(ScanRow, ReadsEachTypeIntoItsVariable) {
  std::int64_t id = 0;
  std::string name, data;
  double score = 0;
  std::optional<std::string> note = "stale";
  auto found = conn->scan_row("SELECT id, name, score, data, note FROM t WHERE id = ?1", {std::int64_t{1}}, in_10s(), id,
                              name, score, data, note);
  ASSERT_TRUE(found) << found.error().message();
  EXPECT_TRUE(*found);
  EXPECT_EQ(id, 1);
  EXPECT_EQ(name, "one");
  EXPECT_DOUBLE_EQ(score, 1.5);
  EXPECT_EQ(data, std::string("\0\xff", 2));
  EXPECT_EQ(note, std::nullopt);
  // An INTEGER reads into a double; NULL-able columns into optionals.
  std::optional<std::int64_t> opt_id;
  std::optional<std::string> opt_note;
  double int_score = 0;
  ASSERT_TRUE(conn->scan_row("SELECT id, score, note FROM t WHERE id = 2", in_10s(), opt_id, int_score, opt_note).value());
  EXPECT_EQ(opt_id, 2);
  EXPECT_DOUBLE_EQ(int_score, 2.0);
  EXPECT_EQ(opt_note, "hi");
}

TEST_F(ScanRow, NoRowIsFalseAndLeavesTheVariables) {
  std::int64_t id = 42;
  std::string name = "kept";
  auto found = conn->scan_row("SELECT id, name FROM t WHERE id = ?1", {std::int64_t{9}}, in_10s(), id, name);
  ASSERT_TRUE(found) << found.error().message();
  EXPECT_FALSE(*found);
  EXPECT_EQ(id, 42);
  EXPECT_EQ(name, "kept");
}

TEST_F(ScanRow, AStringKeepsItsBufferAcrossReads) {
  std::string name;
  name.reserve(64);
  const char* buffer = name.data();
  for (int id : {1, 2, 1}) {
    ASSERT_TRUE(conn->scan_row("SELECT name FROM t WHERE id = ?1", {std::int64_t{id}}, in_10s(), name).value());
    EXPECT_EQ(name.data(), buffer);  // assigned in place: no allocation
  }
  EXPECT_EQ(name, "one");
}

TEST_F(ScanRow, AValueReadsAnyColumnAsQueryDoes) {
  sql::Value id, note;
  ASSERT_TRUE(conn->scan_row("SELECT id, note FROM t WHERE id = 1", in_10s(), id, note).value());
  EXPECT_EQ(id, sql::Value(std::int64_t{1}));
  EXPECT_TRUE(std::holds_alternative<std::monostate>(note));
}

TEST_F(ScanRow, ATypeThatDoesNotFitNamesTheColumnAndTheTypes) {
  std::int64_t as_int = 0;
  auto r = conn->scan_row("SELECT name FROM t WHERE id = 1", in_10s(), as_int);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
  EXPECT_NE(r.error().message().find("column 1 (name) is TEXT, which std::int64_t does not take"), std::string::npos)
      << r.error().message();
  std::string not_null;
  auto null = conn->scan_row("SELECT note FROM t WHERE id = 1", in_10s(), not_null);
  ASSERT_FALSE(null);
  EXPECT_NE(null.error().message().find("column 1 (note) is NULL, which std::string does not take"), std::string::npos)
      << null.error().message();
}

TEST_F(ScanRow, AColumnCountMismatchRunsNothing) {
  std::int64_t id = 0;
  auto r = conn->scan_row("INSERT INTO t(name) VALUES ('three') RETURNING id, name", in_10s(), id);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
  EXPECT_NE(r.error().message().find("yields 2 columns, 1 variables given"), std::string::npos) << r.error().message();
  EXPECT_EQ(conn->query("SELECT count(*) FROM t", in_10s())->get_int(0, 0).value(), 2);
}

TEST_F(ScanRow, AWriteWithReturningRunsToItsEnd) {
  std::int64_t id = 0;
  std::string name;
  ASSERT_TRUE(conn->scan_row("INSERT INTO t(name) VALUES ('three'), ('four') RETURNING id, name", in_10s(), id, name).value());
  EXPECT_EQ(id, 3);
  EXPECT_EQ(name, "three");
  EXPECT_EQ(conn->query("SELECT count(*) FROM t", in_10s())->get_int(0, 0).value(), 4);
}

TEST_F(ScanRow, SeveralStatementsAreRefused) {
  std::int64_t id = 0;
  auto r = conn->scan_row("SELECT 1; SELECT 2", in_10s(), id);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
  EXPECT_NE(r.error().message().find("single statement"), std::string::npos) << r.error().message();
}

TEST_F(ScanRow, APassedDeadlineRunsNothing) {
  std::int64_t id = 0;
  auto r = conn->scan_row("SELECT id FROM t", testing::in_ms(-1), id);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::timeout);
  EXPECT_EQ(id, 0);
}

// The NUL check runs before a text is first prepared and cached; a text with a NUL is never
// cached, so it is refused every time.
TEST_F(ScanRow, ATextWithANulIsRefusedEveryTime) {
  const std::string text("SELECT id FROM t\0 WHERE id = 1", 30);
  for (int i = 0; i < 2; ++i) {
    std::int64_t id = 0;
    auto r = conn->scan_row(text, in_10s(), id);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
  }
}

}  // namespace
}  // namespace reservoir::sqlite
