// Every call over caller-supplied SQL ends: with its answer, a clear error, or `timeout` at its
// deadline. A NUL byte used to spin one CPU forever (prepare made no progress on it), and a
// statement that computes without end ignored its deadline.
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "hang_guard.hpp"
#include "reservoir/sqlite/connector.hpp"
#include "reservoir/typed_pool.hpp"
#include "sqlite_test_support.hpp"

namespace reservoir::sqlite {
namespace {

using namespace std::chrono_literals;
using testing::in_10s;
using testing::in_ms;
using testing::returns_within;
using testing::TempDir;

// Each reading moves time on by 1 ms: a call that never looks at its deadline runs to its end
// however long it is, one that does stops after a known number of readings. No real time is
// involved.
class TickingClock final : public Clock {
 public:
  TimePoint now() const noexcept override { return TimePoint(Duration(ns_ += 1'000'000)); }
  void wait_until(std::condition_variable&, std::unique_lock<std::mutex>&, TimePoint until) const override {
    std::int64_t t = ns_.load();
    while (t < until.time_since_epoch().count() && !ns_.compare_exchange_weak(t, until.time_since_epoch().count())) {
    }
  }

  TimerId call_at(TimePoint at, std::function<void()> fn) const override { return timers_.add(at, std::move(fn)); }
  bool cancel(TimerId id) const noexcept override { return timers_.cancel(id); }

 private:
  mutable std::atomic<std::int64_t> ns_{std::chrono::nanoseconds(std::chrono::hours(1)).count()};
  mutable TimerQueue timers_;  // never run: nothing here sets a timer
};

struct SqliteCallBounds : ::testing::Test {
  TempDir dir;
  Connector connector = testing::valid_connector(Config{.path = dir.file("store.db")});
  std::unique_ptr<Connection> conn;

  void SetUp() override {
    auto r = connector.connect(in_10s());
    ASSERT_TRUE(r) << r.error().message();
    conn = std::move(r).value();
    ASSERT_TRUE(conn->execute("CREATE TABLE t(x)", in_10s()));
  }
};

TEST_F(SqliteCallBounds, SqlWithANulByteIsRefusedNotHung) {
  char b[16] = "SELECT 1";  // the rest of the buffer is NUL bytes
  auto r = returns_within(20s, [&] { return conn->query(std::string_view(b, sizeof b), in_ms(2000)); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
  EXPECT_EQ(r.error().message(),
            "invalid_argument: " + conn->path() + ": SQL text contains a NUL byte at offset 8 (it would end the text there)");

  // A NUL after a complete statement would otherwise run the first one and hide the rest.
  const std::string two("INSERT INTO t VALUES (1);\0INSERT INTO t VALUES (2)", 50);
  auto e = returns_within(20s, [&] { return conn->execute(two, in_ms(2000)); });
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message().find("NUL byte at offset 25"), std::string::npos) << e.error().message();
  auto count = conn->query("SELECT count(*) FROM t", in_10s());
  ASSERT_TRUE(count) << count.error().message();
  EXPECT_EQ(count->get_int(0, 0).value(), 0) << "nothing of the refused text ran";
  EXPECT_FALSE(conn->is_broken());
}

// In a bound parameter a NUL is data, not the end of the text: SQLite keeps it.
TEST_F(SqliteCallBounds, NulInsideATextParameterIsKept) {
  const std::string value("a\0b", 3);
  ASSERT_TRUE(conn->execute("INSERT INTO t VALUES (?1)", {value}, in_10s()));
  auto r = conn->query("SELECT length(CAST(x AS BLOB)) FROM t", in_10s());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->get_int(0, 0).value(), 3);
}

TEST_F(SqliteCallBounds, AStatementThatNeverFinishesEndsAtItsDeadline) {
  const char* forever = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
  TickingClock clock;
  auto r = returns_within(60s, [&] { return conn->query(forever, Deadline::after(clock, 100ms)); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::timeout) << r.error().message();
  EXPECT_FALSE(conn->is_broken());
  EXPECT_TRUE(conn->query("SELECT 1", in_10s())) << "the connection is still usable";

  // execute() steps rows it does not keep: bounded the same way.
  auto e = returns_within(60s, [&] {
    return conn->execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c",
                         Deadline::after(clock, 100ms));
  });
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().kind(), ErrorKind::timeout) << e.error().message();
}

TEST_F(SqliteCallBounds, ManyStatementsInOneTextStopAtTheDeadline) {
  std::string many;
  for (int i = 0; i < 20000; ++i) many += "INSERT INTO t VALUES (1);";
  TickingClock clock;
  auto r = returns_within(60s, [&] { return conn->execute(many, Deadline::after(clock, 100ms)); });
  ASSERT_FALSE(r) << "all 20000 statements ran although the deadline passed after about 100 of them";
  EXPECT_EQ(r.error().kind(), ErrorKind::timeout) << r.error().message();
  auto count = conn->query("SELECT count(*) FROM t", in_10s());
  ASSERT_TRUE(count);
  EXPECT_LT(count->get_int(0, 0).value(), 1000);
}

}  // namespace
}  // namespace reservoir::sqlite
