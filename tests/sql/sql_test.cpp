#include <gtest/gtest.h>

#include <limits>

#include "reservoir/sql.hpp"

using namespace reservoir;

TEST(Sql, SavepointNamesAreCheckedIdentifiers) {
  EXPECT_TRUE(sql::check_savepoint_name("s1", 63));
  EXPECT_TRUE(sql::check_savepoint_name("_a_B9", 63));
  EXPECT_TRUE(sql::check_savepoint_name(std::string(63, 'x'), 63));
  EXPECT_FALSE(sql::check_savepoint_name(std::string(64, 'x'), 63));
  EXPECT_FALSE(sql::check_savepoint_name("", 63));
  EXPECT_FALSE(sql::check_savepoint_name("1abc", 63));
  Status s = sql::check_savepoint_name("x; DROP TABLE t", 63);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message(),
            "invalid_argument: savepoint name 'x; DROP TABLE t': must match [A-Za-z_][A-Za-z0-9_]* (at most 63 characters)");
}

TEST(Sql, RowsConvertOrSayWhy) {
  sql::Rows rows({"a", "b"}, {{std::int64_t{7}, std::string("3.5")}, {std::monostate{}, std::string("x")}});
  EXPECT_EQ(rows.column("b"), 1u);
  EXPECT_FALSE(rows.column("c"));
  EXPECT_EQ(*rows.get_int(0, 0), 7);
  EXPECT_DOUBLE_EQ(*rows.get_double(0, 1), 3.5);
  EXPECT_TRUE(rows.is_null(1, 0));
  auto bad = rows.get_int(1, 1);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "invalid_argument: row 1 column 1: cannot read x as integer");
}

TEST(Sql, FlatRowsAreReadRowMajorAndBoundsChecked) {
  sql::Rows rows({"a", "b"}, 2, {std::int64_t{1}, std::string("x"), std::int64_t{2}, std::monostate{}});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(*rows.get_int(1, 0), 2);
  EXPECT_EQ(*rows.get_text(0, 1), "x");
  EXPECT_TRUE(rows.is_null(1, 1));
  EXPECT_THROW((void)rows.at(2, 0), std::out_of_range);
  EXPECT_THROW((void)rows.at(0, 2), std::out_of_range);
  EXPECT_THROW(sql::Rows({"a", "b"}, 2, {std::int64_t{1}}), std::invalid_argument);
  EXPECT_THROW(sql::Rows({"a"}, {{std::int64_t{1}, std::int64_t{2}}}), std::invalid_argument);
}

TEST(Sql, RowsWithoutColumnsStillCountTheirRows) {
  // PostgreSQL's `SELECT FROM generate_series(1, 3)` returns three rows of zero columns.
  sql::Rows rows({}, 3, {});
  EXPECT_EQ(rows.size(), 3u);
  EXPECT_FALSE(rows.empty());
  EXPECT_THROW((void)rows.at(0, 0), std::out_of_range);
}

// SQL text is a C string to both engines: a NUL would silently end it, so it is refused.
TEST(Sql, SqlTextWithANulByteIsRefusedWithItsOffset) {
  EXPECT_TRUE(sql::check_sql_text("db", "SELECT 1"));
  EXPECT_TRUE(sql::check_sql_text("db", ""));
  Status s = sql::check_sql_text("db", std::string_view("SELECT 1\0\0", 10));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message(), "invalid_argument: db: SQL text contains a NUL byte at offset 8 (it would end the text there)");
  EXPECT_FALSE(s.error().retryable());
}

// Values a backend sends as C strings (PostgreSQL text parameters) are held to the same rule.
TEST(Sql, TextParametersWithANulByteAreRefusedWhenAsked) {
  const std::vector<sql::Value> params{std::int64_t{1}, std::string("ok"), std::string("a\0b", 3)};
  EXPECT_TRUE(sql::check_sql_text("db", "SELECT $1, $2, $3"));
  Status s = sql::check_sql_text("db", "SELECT $1, $2, $3", params);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message(),
            "invalid_argument: db: parameter $3 contains a NUL byte at offset 1 (it would end the value there)");
  EXPECT_TRUE(sql::check_sql_text("db", "SELECT $1", std::vector<sql::Value>{std::string("plain"), std::monostate{}}));
}

// An Isolation outside the enum became `BEGIN ISOLATION LEVEL ` (a server syntax error) on
// PostgreSQL and was ignored by SQLite: a caller bug, said as one.
TEST(Sql, TransactionOptionsWithAnUnknownIsolationAreRefused) {
  EXPECT_TRUE(sql::check_tx_options("db", {}));
  EXPECT_TRUE(sql::check_tx_options("db", {.isolation = sql::Isolation::serializable, .read_only = true}));
  Status s = sql::check_tx_options("db", {.isolation = static_cast<sql::Isolation>(9)});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message(),
            "invalid_argument: db: isolation=9: allowed default_level, read_committed, repeatable_read, serializable");
}

// One rule for reading numbers from text: the whole value, no spaces around it, independent of
// the C locale. get_double() went through strtod, which took " 3.5" (get_int() did not) and
// would stop at the '.' under a locale with a decimal comma.
TEST(Sql, TextIsReadAsANumberOnlyWhenItIsExactlyOne) {
  sql::Rows rows({"v"}, {{std::string(" 3.5")}, {std::string("3.5 ")}, {std::string("-Infinity")},
                         {std::string("1e3")}, {std::string(" 7")}});
  EXPECT_FALSE(rows.get_double(0, 0));
  EXPECT_FALSE(rows.get_double(1, 0));
  EXPECT_EQ(*rows.get_double(2, 0), -std::numeric_limits<double>::infinity());  // PostgreSQL's float8 text
  EXPECT_DOUBLE_EQ(*rows.get_double(3, 0), 1000.0);
  EXPECT_FALSE(rows.get_int(4, 0));
}
