#include <gtest/gtest.h>

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
