// Reset on return (nothing a borrower set reaches the next one) and Transaction savepoints.
#include "reservoir/sqlite/connector.hpp"
#include "reservoir/sqlite/transaction.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <map>

#include "sqlite_test_support.hpp"

namespace reservoir::sqlite {
namespace {

using testing::in_10s;
using testing::TempDir;

struct SqliteReset : ::testing::Test {
  TempDir dir;
  Connector connector = testing::valid_connector(Config{.path = dir.file("store.db")});
  std::unique_ptr<Connection> conn;

  void SetUp() override {
    auto r = connector.connect(in_10s());
    ASSERT_TRUE(r) << r.error().message();
    conn = std::move(r).value();
    ASSERT_TRUE(conn->execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)", in_10s()));
  }
  void reset() {
    auto st = connector.reset(*conn, in_10s());
    ASSERT_TRUE(st) << st.error().message();
  }
  std::int64_t scalar(const std::string& sql) {
    auto r = conn->query(sql, in_10s());
    EXPECT_TRUE(r) << r.error().message();
    return r ? r->get_int(0, 0).value() : -1;
  }
};

TEST_F(SqliteReset, RollsBackAnOpenTransaction) {
  ASSERT_TRUE(conn->execute("BEGIN; INSERT INTO t(v) VALUES ('left open')", in_10s()));
  ASSERT_TRUE(conn->in_transaction());
  reset();
  EXPECT_FALSE(conn->in_transaction());
  EXPECT_EQ(scalar("SELECT count(*) FROM t"), 0);
}

TEST_F(SqliteReset, DropsTempTablesViewsAndTriggers) {
  ASSERT_TRUE(conn->execute("CREATE TEMP TABLE scratch(x); CREATE TEMP VIEW tv AS SELECT 1;"
                            "CREATE TABLE temp.other(y);"
                            "CREATE TEMP TRIGGER trg AFTER INSERT ON t BEGIN SELECT 1; END;",
                            in_10s()));
  EXPECT_EQ(scalar("SELECT count(*) FROM temp.sqlite_master"), 4);
  reset();
  EXPECT_EQ(scalar("SELECT count(*) FROM temp.sqlite_master"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM main.sqlite_master WHERE name = 't'"), 1);  // main untouched
}

// A virtual table in temp is session state too. fts5 and rtree create temp shadow tables
// (which the authorizer saw), but a module without shadow tables, like fts5vocab, was missed.
TEST_F(SqliteReset, DropsTempVirtualTables) {
  ASSERT_TRUE(conn->execute("CREATE VIRTUAL TABLE ft USING fts5(body)", in_10s()));  // main: the store's own
  reset();
  ASSERT_TRUE(conn->execute("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, ft, row)", in_10s()));
  EXPECT_EQ(scalar("SELECT count(*) FROM temp.sqlite_master"), 1);
  reset();
  EXPECT_EQ(scalar("SELECT count(*) FROM temp.sqlite_master"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM main.sqlite_master WHERE name = 'ft'"), 1);
}

TEST_F(SqliteReset, DetachesAttachedDatabases) {
  const std::string other = dir.file("other.db");
  ASSERT_TRUE(conn->execute("ATTACH DATABASE ?1 AS side", {other}, in_10s()));
  EXPECT_EQ(scalar("SELECT count(*) FROM pragma_database_list WHERE name = 'side'"), 1);
  // A connection-wide PRAGMA named with the attached schema is restored; side's own values go with it.
  ASSERT_TRUE(conn->execute("PRAGMA side.foreign_keys = 1; PRAGMA side.cache_size = -5", in_10s()));
  reset();
  EXPECT_EQ(scalar("PRAGMA foreign_keys"), 0);
  auto list = conn->query("PRAGMA database_list", in_10s());
  ASSERT_TRUE(list);
  for (std::size_t i = 0; i < list->size(); ++i) EXPECT_NE(list->get_text(i, 1).value(), "side");
}

TEST_F(SqliteReset, RestoresPragmasTheBorrowerChanged) {
  const auto fk = scalar("PRAGMA foreign_keys");
  const auto cache = scalar("PRAGMA cache_size");
  ASSERT_TRUE(conn->execute("PRAGMA foreign_keys=ON; PRAGMA cache_size=-1234; PRAGMA query_only=1;"
                            "PRAGMA recursive_triggers=1; PRAGMA case_sensitive_like=1",
                            in_10s()));
  EXPECT_EQ(scalar("PRAGMA cache_size"), -1234);
  EXPECT_FALSE(conn->execute("INSERT INTO t(v) VALUES ('x')", in_10s()));  // query_only holds
  reset();
  EXPECT_EQ(scalar("PRAGMA foreign_keys"), fk);
  EXPECT_EQ(scalar("PRAGMA cache_size"), cache);
  EXPECT_EQ(scalar("PRAGMA query_only"), 0);
  EXPECT_EQ(scalar("PRAGMA recursive_triggers"), 0);
  EXPECT_EQ(scalar("SELECT 'a' LIKE 'A'"), 1);  // case_sensitive_like back off
  EXPECT_TRUE(conn->execute("INSERT INTO t(v) VALUES ('x')", in_10s()));
}

// Per-connection PRAGMAs outside the restorable list used to survive the lease: the next
// borrower got `t.v` for column names, a "rows inserted" row from INSERT, a changed journal
// size limit or fsync mode.
TEST_F(SqliteReset, RestoresEveryPerConnectionPragma) {
  const char* names[] = {"full_column_names", "short_column_names", "count_changes", "empty_result_callbacks",
                         "journal_size_limit", "fullfsync", "checkpoint_fullfsync"};
  std::map<std::string, std::int64_t> before;
  for (const char* n : names) before[n] = scalar(std::string("PRAGMA ") + n);
  ASSERT_TRUE(conn->execute("PRAGMA full_column_names=1; PRAGMA short_column_names=0; PRAGMA count_changes=1;"
                            "PRAGMA empty_result_callbacks=1; PRAGMA journal_size_limit=12345; PRAGMA fullfsync=1;"
                            "PRAGMA checkpoint_fullfsync=1",
                            in_10s()));
  ASSERT_TRUE(conn->execute("INSERT INTO t(v) VALUES ('x')", in_10s()));
  auto changed = conn->query("SELECT v FROM t", in_10s());
  ASSERT_TRUE(changed);
  EXPECT_EQ(changed->columns()[0], "t.v");  // the borrower's setting took effect
  reset();
  for (const char* n : names) EXPECT_EQ(scalar(std::string("PRAGMA ") + n), before[n]) << n;
  auto rows = conn->query("SELECT v FROM t", in_10s());
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->columns()[0], "v");
  auto insert = conn->query("INSERT INTO t(v) VALUES ('y')", in_10s());
  ASSERT_TRUE(insert);
  EXPECT_TRUE(insert->empty()) << "count_changes survived the reset";
}

// `PRAGMA temp.cache_size = -77` changed the temp schema's value while the restore covered
// main only; the temp database lives as long as the connection, so the next borrower saw it.
TEST_F(SqliteReset, RestoresSchemaQualifiedPragmasOnEverySchema) {
  const std::pair<const char*, const char*> writes[] = {
      {"cache_size", "-77"},      {"cache_spill", "77"},    {"journal_size_limit", "77777"},
      {"max_page_count", "77777"}, {"synchronous", "3"},     {"secure_delete", "0"},
      {"user_version", "77"},      {"application_id", "77"}};
  std::map<std::string, std::int64_t> before;
  for (const char* schema : {"main", "temp"}) {
    for (const auto& [name, value] : writes) before[std::string(schema) + "." + name] = scalar(std::string("PRAGMA ") + schema + "." + name);
  }
  const std::int64_t main_user_version = before["main.user_version"];
  for (const char* schema : {"temp", "main"}) {
    for (const auto& [name, value] : writes) {
      if (std::string(schema) == "main" && (std::string(name) == "user_version" || std::string(name) == "application_id")) {
        continue;  // main's are the store's own, written to the file on purpose
      }
      ASSERT_TRUE(conn->execute(std::string("PRAGMA ") + schema + "." + name + " = " + value, in_10s())) << name;
    }
  }
  EXPECT_EQ(scalar("PRAGMA temp.cache_size"), -77) << "the borrower's setting took effect";
  reset();
  for (const auto& [key, value] : before) EXPECT_EQ(scalar("PRAGMA " + key), value) << key;
  EXPECT_EQ(scalar("PRAGMA main.user_version"), main_user_version);
}

// After a reset the counters read as on a fresh connection (0), then count this borrower's
// work as usual. total_changes() is the rows changed since the lease began.
TEST_F(SqliteReset, RowidAndChangeCountsStartFromZeroForTheNextBorrower) {
  ASSERT_TRUE(conn->execute("INSERT INTO t(v) VALUES ('a'), ('b'), ('c')", in_10s()));
  ASSERT_TRUE(conn->execute("UPDATE t SET v = 'x'", in_10s()));
  EXPECT_EQ(conn->last_insert_rowid(), 3);
  EXPECT_EQ(scalar("SELECT changes()"), 3);
  EXPECT_EQ(scalar("SELECT total_changes()"), 6);
  reset();
  EXPECT_EQ(conn->last_insert_rowid(), 0);
  EXPECT_EQ(scalar("SELECT last_insert_rowid()"), 0);
  EXPECT_EQ(scalar("SELECT changes()"), 0);
  EXPECT_EQ(scalar("SELECT total_changes()"), 0);

  ASSERT_TRUE(conn->execute("INSERT INTO t(v) VALUES ('d')", in_10s()));
  EXPECT_EQ(conn->last_insert_rowid(), 4);
  EXPECT_EQ(scalar("SELECT last_insert_rowid()"), 4);
  EXPECT_EQ(scalar("SELECT changes()"), 1);
  EXPECT_EQ(scalar("SELECT total_changes()"), 1);
  ASSERT_TRUE(conn->execute("DELETE FROM t WHERE 0", in_10s()));
  EXPECT_EQ(scalar("SELECT changes()"), 0);
  EXPECT_EQ(scalar("SELECT total_changes()"), 1);
  ASSERT_TRUE(conn->execute("DELETE FROM t WHERE v = 'x'", in_10s()));
  EXPECT_EQ(scalar("SELECT changes()"), 3);
  EXPECT_EQ(scalar("SELECT total_changes()"), 4);
  reset();
  EXPECT_EQ(scalar("SELECT changes()"), 0);
  EXPECT_EQ(scalar("SELECT total_changes()"), 0);
}

TEST_F(SqliteReset, ACleanConnectionStaysAsItWas) {
  ASSERT_TRUE(conn->execute("INSERT INTO t(v) VALUES ('kept')", in_10s()));
  reset();
  EXPECT_EQ(scalar("SELECT count(*) FROM t"), 1);
  EXPECT_EQ(scalar("PRAGMA synchronous"), 1);  // NORMAL, as configured
}

TEST_F(SqliteReset, ABrokenConnectionFailsResetSoThePoolClosesIt) {
  conn->mark_broken();
  auto st = connector.reset(*conn, in_10s());
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind(), ErrorKind::unavailable);
}

using SqliteTransaction = SqliteReset;

TEST_F(SqliteTransaction, RollbackToKeepsEarlierWork) {
  auto tx = Transaction::begin(*conn, {}, in_10s());
  ASSERT_TRUE(tx) << tx.error().message();
  ASSERT_TRUE(conn->execute("INSERT INTO t(v) VALUES ('before')", in_10s()));
  ASSERT_TRUE(tx->savepoint("sp1"));
  ASSERT_TRUE(conn->execute("INSERT INTO t(v) VALUES ('undone')", in_10s()));
  ASSERT_TRUE(tx->rollback_to("sp1"));
  ASSERT_TRUE(conn->execute("INSERT INTO t(v) VALUES ('after')", in_10s()));
  ASSERT_TRUE(tx->release("sp1"));
  ASSERT_TRUE(tx->commit());
  EXPECT_FALSE(tx->active());
  auto rows = conn->query("SELECT v FROM t ORDER BY id", in_10s());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ(rows->get_text(0, 0).value(), "before");
  EXPECT_EQ(rows->get_text(1, 0).value(), "after");
}

TEST_F(SqliteTransaction, DestructorRollsBack) {
  {
    auto tx = Transaction::begin(*conn, {}, in_10s());
    ASSERT_TRUE(tx);
    ASSERT_TRUE(conn->execute("INSERT INTO t(v) VALUES ('gone')", in_10s()));
  }
  EXPECT_FALSE(conn->in_transaction());
  EXPECT_EQ(scalar("SELECT count(*) FROM t"), 0);
}

TEST_F(SqliteTransaction, SavepointNamesMustBeIdentifiers) {
  auto tx = Transaction::begin(*conn, {}, in_10s());
  ASSERT_TRUE(tx);
  for (const char* bad : {"", "1abc", "a b", "x; DROP TABLE t", "a-b", "\"q\""}) {
    auto st = tx->savepoint(bad);
    ASSERT_FALSE(st) << bad;
    EXPECT_EQ(st.error().kind(), ErrorKind::invalid_argument) << bad;
  }
  EXPECT_TRUE(tx->savepoint("_ok_Name9"));
  auto unknown = tx->rollback_to("never_made");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind(), ErrorKind::backend);
  EXPECT_EQ(scalar("SELECT count(*) FROM t"), 0);  // the table survived
}

TEST_F(SqliteTransaction, FinishedTransactionRefusesFurtherCalls) {
  auto tx = Transaction::begin(*conn, {}, in_10s());
  ASSERT_TRUE(tx);
  ASSERT_TRUE(tx->rollback());
  EXPECT_EQ(tx->commit().error().kind(), ErrorKind::invalid_argument);
  EXPECT_EQ(tx->savepoint("a").error().kind(), ErrorKind::invalid_argument);
}

TEST_F(SqliteTransaction, UnknownIsolationIsInvalidAndOpensNothing) {
  auto tx = Transaction::begin(*conn, {.isolation = static_cast<sql::Isolation>(9)}, in_10s());
  ASSERT_FALSE(tx);
  EXPECT_EQ(tx.error().kind(), ErrorKind::invalid_argument);
  EXPECT_FALSE(conn->in_transaction());
}

TEST_F(SqliteTransaction, NestedBeginIsInvalid) {
  auto tx = Transaction::begin(*conn, {}, in_10s());
  ASSERT_TRUE(tx);
  auto again = Transaction::begin(*conn, {}, in_10s());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind(), ErrorKind::invalid_argument);
}

TEST_F(SqliteTransaction, ReadOnlyTransactionRefusesWritesAndEndsClean) {
  {
    auto tx = Transaction::begin(*conn, {.read_only = true}, in_10s());
    ASSERT_TRUE(tx) << tx.error().message();
    auto w = conn->execute("INSERT INTO t(v) VALUES ('no')", in_10s());
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error().kind(), ErrorKind::backend);
    EXPECT_EQ(w.error().code(), "SQLITE_READONLY");
    ASSERT_TRUE(tx->commit());
  }
  EXPECT_EQ(scalar("PRAGMA query_only"), 0);
  EXPECT_TRUE(conn->execute("INSERT INTO t(v) VALUES ('yes')", in_10s()));
}

// A clock that moves one step every time it is read: a deadline then runs out after a known
// number of reads, here during COMMIT, before the read-only guard is lifted.
class TickingClock final : public Clock {
 public:
  TimePoint now() const noexcept override { return TimePoint(Duration(ns_.fetch_add(kStep.count()) + kStep.count())); }
  void wait_until(std::condition_variable&, std::unique_lock<std::mutex>&, TimePoint) const override {}
  TimerId call_at(TimePoint at, std::function<void()> fn) const override { return timers_.add(at, std::move(fn)); }
  bool cancel(TimerId id) const noexcept override { return timers_.cancel(id); }
  static constexpr Duration kStep = std::chrono::milliseconds(1);

 private:
  mutable std::atomic<std::int64_t> ns_{0};
  mutable TimerQueue timers_;  // never run: nothing here sets a timer
};

// COMMIT succeeded but the caller's deadline was gone by the time query_only=1 was to be
// lifted: that failure was ignored, and the pooled connection stayed read-only for the next
// borrower (reset() does not track the transaction's own PRAGMA).
TEST_F(SqliteTransaction, ReadOnlyGuardIsLiftedEvenWhenTheDeadlinePassesDuringCommit) {
  TickingClock ticking;
  {
    auto tx = Transaction::begin(*conn, {.read_only = true}, in_10s());
    ASSERT_TRUE(tx) << tx.error().message();
    // One read of the clock left before the deadline: COMMIT's own check passes, the next fails.
    const Deadline tight = Deadline::at(ticking, TimePoint(TickingClock::kStep + TickingClock::kStep / 2));
    auto st = tx->commit(tight);
    ASSERT_TRUE(st) << st.error().message();
  }
  EXPECT_FALSE(conn->in_transaction());
  if (!conn->is_broken()) {
    reset();
    EXPECT_EQ(scalar("PRAGMA query_only"), 0) << "the next borrower would get a read-only connection";
    EXPECT_TRUE(conn->execute("INSERT INTO t(v) VALUES ('yes')", in_10s()));
  }
}

TEST_F(SqliteTransaction, SecondWriterWaitsForBeginImmediateThenTimesOut) {
  auto other = connector.connect(in_10s());
  ASSERT_TRUE(other);
  auto tx = Transaction::begin(*conn, {}, in_10s());
  ASSERT_TRUE(tx);
  auto tx2 = Transaction::begin(**other, {}, testing::in_ms(50));
  ASSERT_FALSE(tx2);
  EXPECT_EQ(tx2.error().kind(), ErrorKind::timeout);
  EXPECT_NE(tx2.error().message().find("another writer holds the database lock"), std::string::npos);
  EXPECT_FALSE((*other)->in_transaction());
}

}  // namespace
}  // namespace reservoir::sqlite
