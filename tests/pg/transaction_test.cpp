// pg::Transaction and with_transaction on the real server.
#include <gtest/gtest.h>
#include <unistd.h>

#include <stdexcept>

#include "pg_env.hpp"
#include "reservoir/pg/transaction.hpp"

namespace reservoir::pg::test {
namespace {

// A table private to this test process (ctest may run tests in parallel processes).
std::string table_name(const char* base) { return std::string(base) + "_" + std::to_string(::getpid()); }

std::int64_t count(Connection& conn, const std::string& table) {
  auto r = conn.query("SELECT count(*) FROM " + table, in_ms(5000));
  return r ? r->get_int(0, 0).value() : -1;
}

class PgTransaction : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    env_ = PgEnv::load(&why);
    ASSERT_TRUE(env_) << why << " -- start it with: scripts/servers.sh start postgres";
    connector_.emplace(make_connector(env_->url));
    conn_ = must_connect(*connector_);
    table_ = table_name("tx_items");
    ASSERT_TRUE(conn_->script("DROP TABLE IF EXISTS " + table_ + "; CREATE TABLE " + table_ +
                                   " (id int PRIMARY KEY, v int NOT NULL DEFAULT 0)",
                               in_ms(5000)));
  }
  void TearDown() override {
    if (conn_) (void)conn_->execute("DROP TABLE IF EXISTS " + table_, in_ms(5000));
  }
  Status insert(int id) { return conn_->execute("INSERT INTO " + table_ + " (id) VALUES ($1)", {id}, in_ms(5000)).ok()
                                     ? Status{}
                                     : Status(Error::make(ErrorKind::backend, "insert failed")); }

  std::optional<PgEnv> env_;
  std::optional<Connector> connector_;
  std::unique_ptr<Connection> conn_;
  std::string table_;
};

TEST_F(PgTransaction, CommitKeepsTheWork) {
  auto tx = Transaction::begin(*conn_, {}, in_ms(5000));
  ASSERT_TRUE(tx) << tx.error().message();
  EXPECT_TRUE(conn_->in_transaction());
  ASSERT_TRUE(insert(1));
  ASSERT_TRUE(tx->commit());
  EXPECT_FALSE(conn_->in_transaction());
  EXPECT_EQ(count(*conn_, table_), 1);
  EXPECT_FALSE(tx->commit());  // finished
}

TEST_F(PgTransaction, DestructionWithoutCommitRollsBack) {
  {
    auto tx = Transaction::begin(*conn_, {}, in_ms(5000));
    ASSERT_TRUE(tx);
    ASSERT_TRUE(insert(1));
  }
  EXPECT_FALSE(conn_->in_transaction());
  EXPECT_EQ(count(*conn_, table_), 0);
}

TEST_F(PgTransaction, RollbackToSavepointKeepsEarlierWork) {
  auto tx = Transaction::begin(*conn_, {}, in_ms(5000));
  ASSERT_TRUE(tx);
  ASSERT_TRUE(insert(1));
  ASSERT_TRUE(tx->savepoint("s1"));
  ASSERT_TRUE(insert(2));
  EXPECT_FALSE(insert(1));  // duplicate key: the transaction is now aborted
  ASSERT_TRUE(tx->rollback_to("s1"));  // ... and usable again, with row 1 kept
  ASSERT_TRUE(insert(3));
  ASSERT_TRUE(tx->savepoint("s2"));
  ASSERT_TRUE(insert(4));
  ASSERT_TRUE(tx->release("s2"));
  ASSERT_TRUE(tx->commit());
  auto ids = conn_->query("SELECT id FROM " + table_ + " ORDER BY id", in_ms(5000));
  ASSERT_TRUE(ids);
  ASSERT_EQ(ids->size(), 3u);
  EXPECT_EQ(ids->get_int(0, 0).value(), 1);
  EXPECT_EQ(ids->get_int(1, 0).value(), 3);
  EXPECT_EQ(ids->get_int(2, 0).value(), 4);
}

TEST_F(PgTransaction, CommitAfterAFailedStatementReportsTheRollback) {
  auto tx = Transaction::begin(*conn_, {}, in_ms(5000));
  ASSERT_TRUE(tx);
  ASSERT_TRUE(insert(1));
  EXPECT_FALSE(insert(1));
  auto c = tx->commit();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), "25P02");
  EXPECT_EQ(count(*conn_, table_), 0);
}

TEST_F(PgTransaction, OptionsSetIsolationAndReadOnly) {
  auto tx = Transaction::begin(*conn_, {sql::Isolation::serializable, true}, in_ms(5000));
  ASSERT_TRUE(tx);
  auto level = conn_->query("SHOW transaction_isolation", in_ms(5000));
  ASSERT_TRUE(level);
  EXPECT_EQ(level->get_text(0, 0).value(), "serializable");
  auto write = conn_->execute("INSERT INTO " + table_ + " (id) VALUES (1)", in_ms(5000));
  ASSERT_FALSE(write);
  EXPECT_EQ(write.error().code(), "25006");  // read_only_sql_transaction
  ASSERT_TRUE(tx->rollback());
}

TEST_F(PgTransaction, BadSavepointNamesAndNestedBeginAreRejected) {
  auto tx = Transaction::begin(*conn_, {}, in_ms(5000));
  ASSERT_TRUE(tx);
  auto bad = tx->savepoint("x; DROP TABLE t");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind(), ErrorKind::invalid_argument);
  auto nested = Transaction::begin(*conn_, {}, in_ms(5000));
  ASSERT_FALSE(nested);
  EXPECT_EQ(nested.error().kind(), ErrorKind::invalid_argument);
}

}  // namespace
}  // namespace reservoir::pg::test
