// Role awareness on a plain primary + streaming replica (scripts/servers.sh start pg-replica):
// each connection knows its server's role, target_role picks the right host of a multi-host
// conninfo, a write on the replica is a clear standby error, and read-your-writes waits for
// the replica to replay a write's LSN within the caller's deadline.
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "pgha_env.hpp"
#include "reservoir/pg/connector.hpp"
#include "reservoir/pg/errors.hpp"
#include "reservoir/pg/replication.hpp"

namespace reservoir::pg::test {
namespace {

Connector connector_for(const std::string& url, TargetRole target = TargetRole::any) {
  auto c = Connector::create(url, ConnectorOptions{.target_role = target});
  if (!c) throw std::runtime_error(c.error().message());
  return std::move(c).value();
}

std::unique_ptr<Connection> connect_to(const std::string& url, TargetRole target = TargetRole::any) {
  auto connector = connector_for(url, target);
  auto conn = connector.connect(in_ms(5000));
  if (!conn) throw std::runtime_error(conn.error().message());
  return std::move(conn).value();
}

// `postgresql://postgres@A,B/postgres?...` from two single-host URLs of the same form.
std::string both_hosts(const std::string& first, const std::string& second) {
  const auto host_of = [](const std::string& url) {
    const auto at = url.find('@') + 1;
    return url.substr(at, url.find('/', at) - at);
  };
  const auto at = first.find('@') + 1;
  return first.substr(0, at) + host_of(first) + "," + host_of(second) + first.substr(first.find('/', at));
}

std::string endpoint_of(const std::string& url) { return connector_for(url).endpoint(); }

TEST(PgRole, EachConnectionKnowsItsServersRole) {
  RESERVOIR_REQUIRE_SERVERS(ReplicaEnv, env, "pg-replica");
  EXPECT_EQ(connect_to(env.primary_url)->role(), ServerRole::primary);
  EXPECT_EQ(connect_to(env.replica_url)->role(), ServerRole::standby);
}

TEST(PgRole, TargetRolePicksTheHostOfThatRole) {
  RESERVOIR_REQUIRE_SERVERS(ReplicaEnv, env, "pg-replica");
  auto primary = connect_to(both_hosts(env.replica_url, env.primary_url), TargetRole::primary);
  EXPECT_EQ(primary->role(), ServerRole::primary);
  EXPECT_EQ(primary->endpoint(), endpoint_of(env.primary_url));
  auto standby = connect_to(both_hosts(env.primary_url, env.replica_url), TargetRole::standby);
  EXPECT_EQ(standby->role(), ServerRole::standby);
  EXPECT_EQ(standby->endpoint(), endpoint_of(env.replica_url));
  auto any = connect_to(both_hosts(env.replica_url, env.primary_url), TargetRole::any);
  EXPECT_EQ(any->endpoint(), endpoint_of(env.replica_url));
}

TEST(PgRole, NoHostOfTheTargetRoleIsAClearError) {
  RESERVOIR_REQUIRE_SERVERS(ReplicaEnv, env, "pg-replica");
  auto one = connector_for(env.replica_url, TargetRole::primary).connect(in_ms(5000));
  ASSERT_FALSE(one);
  EXPECT_EQ(one.error().kind(), ErrorKind::unavailable);
  EXPECT_EQ(one.error().detail(), endpoint_of(env.replica_url) + ": server is a standby");
  EXPECT_TRUE(one.error().retryable());  // a promotion can make it one

  auto two = connector_for(both_hosts(env.primary_url, env.primary_url), TargetRole::standby).connect(in_ms(5000));
  ASSERT_FALSE(two);
  EXPECT_EQ(two.error().kind(), ErrorKind::unavailable);
  const std::string p = endpoint_of(env.primary_url);
  EXPECT_EQ(two.error().detail(), "no standby among " + p + ", " + p + ": " + p + ": server is a primary; " + p +
                                      ": server is a primary");
}

TEST(PgRole, TargetRoleAndTargetSessionAttrsTogetherAreInvalidConfig) {
  auto c = Connector::create("postgresql://127.0.0.1:1/x?target_session_attrs=read-write",
                             ConnectorOptions{.target_role = TargetRole::primary});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().kind(), ErrorKind::invalid_config);
  EXPECT_EQ(c.error().code(), "target_session_attrs");
  auto ports = Connector::create("postgresql://127.0.0.1:1,127.0.0.2:2,127.0.0.3:3/x?port=1,2");
  ASSERT_FALSE(ports);
  EXPECT_EQ(ports.error().code(), "port");
}

TEST(PgRole, WriteOnTheReplicaIsAStandbyError) {
  RESERVOIR_REQUIRE_SERVERS(ReplicaEnv, env, "pg-replica");
  auto replica = connect_to(env.replica_url);
  auto written = replica->execute("CREATE TABLE pgha_never (id int)", in_ms(5000));
  ASSERT_FALSE(written);
  EXPECT_TRUE(is_standby_write(written.error())) << written.error().message();
  EXPECT_EQ(written.error().kind(), ErrorKind::unavailable);
  EXPECT_EQ(written.error().code(), "25006");
  EXPECT_NE(written.error().detail().find(endpoint_of(env.replica_url) + ": server is a standby (read-only): "),
            std::string::npos)
      << written.error().detail();
  // target_role any: the statement was wrong, not the connection; no retry would help.
  EXPECT_FALSE(written.error().retryable());
  EXPECT_FALSE(replica->is_broken());
  EXPECT_TRUE(replica->query("SELECT 1", in_ms(5000)));
}

TEST(PgRole, ReadOnlyTransactionOnThePrimaryStaysABackendError) {
  RESERVOIR_REQUIRE_SERVERS(ReplicaEnv, env, "pg-replica");
  auto primary = connect_to(env.primary_url, TargetRole::primary);
  ASSERT_TRUE(primary->script("BEGIN READ ONLY", in_ms(5000)));
  auto written = primary->execute("CREATE TABLE pgha_never (id int)", in_ms(5000));
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().kind(), ErrorKind::backend);
  EXPECT_EQ(written.error().code(), "25006");
  EXPECT_FALSE(is_standby_write(written.error()));
  EXPECT_FALSE(primary->is_broken());
}

TEST(PgReplication, LsnTextRoundTrips) {
  const auto lsn = Lsn::parse("16/B374D848");
  ASSERT_TRUE(lsn);
  EXPECT_EQ(lsn->value, (std::uint64_t{0x16} << 32) | 0xB374D848);
  EXPECT_EQ(lsn->to_string(), "16/B374D848");
  EXPECT_LT(*Lsn::parse("0/FFFFFFFF"), *Lsn::parse("1/0"));
  EXPECT_FALSE(Lsn::parse("16B374D848"));
  EXPECT_FALSE(Lsn::parse("/1"));
  EXPECT_FALSE(Lsn::parse("1/"));
  EXPECT_FALSE(Lsn::parse("1/2x"));
}

TEST(PgReplication, ReadYourWritesWaitsUntilTheReplicaReplayedTheWrite) {
  RESERVOIR_REQUIRE_SERVERS(ReplicaEnv, env, "pg-replica");
  auto primary = connect_to(env.primary_url, TargetRole::primary);
  auto replica = connect_to(env.replica_url, TargetRole::standby);
  ASSERT_TRUE(primary->script("CREATE TABLE IF NOT EXISTS pgha_ryw (id bigint PRIMARY KEY)", in_ms(5000)));
  auto id = primary->query("INSERT INTO pgha_ryw SELECT coalesce(max(id), 0) + 1 FROM pgha_ryw RETURNING id", in_ms(5000));
  ASSERT_TRUE(id) << id.error().message();
  const std::int64_t written = id->get_int(0, 0).value();
  auto lsn = current_wal_lsn(*primary, in_ms(5000));
  ASSERT_TRUE(lsn) << lsn.error().message();

  auto replayed = wait_for_replay(*replica, *lsn, in_ms(5000));
  ASSERT_TRUE(replayed) << replayed.error().message();
  EXPECT_GE(*replayed, *lsn);
  auto seen = replica->query("SELECT count(*) FROM pgha_ryw WHERE id = $1", {written}, in_ms(5000));
  ASSERT_TRUE(seen) << seen.error().message();
  EXPECT_EQ(seen->get_int(0, 0).value(), 1);

  auto status = replica_status(*replica, in_ms(5000));
  ASSERT_TRUE(status) << status.error().message();
  EXPECT_GE(status->replayed, *lsn);
  EXPECT_GE(status->received, status->replayed);
  // On the primary, everything it wrote is there: no wait.
  EXPECT_EQ(wait_for_replay(*primary, *lsn, in_ms(5000)).value(), *lsn);
  auto on_primary = replica_status(*primary, in_ms(5000));
  ASSERT_FALSE(on_primary);
  EXPECT_EQ(on_primary.error().kind(), ErrorKind::invalid_argument);
}

// Pauses WAL replay on the replica until destroyed (resumed even when an assertion fails).
class PausedReplay {
 public:
  explicit PausedReplay(const std::string& replica_url) : conn_(connect_to(replica_url)) {
    if (!conn_->script("SELECT pg_catalog.pg_wal_replay_pause()", in_ms(5000))) throw std::runtime_error("pause failed");
  }
  ~PausedReplay() { resume(); }
  void resume() {
    if (conn_) (void)conn_->script("SELECT pg_catalog.pg_wal_replay_resume()", in_ms(5000));
    conn_.reset();
  }

 private:
  std::unique_ptr<Connection> conn_;
};

TEST(PgReplication, ReadYourWritesWaitsForAReplicaThatIsBehind) {
  RESERVOIR_REQUIRE_SERVERS(ReplicaEnv, env, "pg-replica");
  auto primary = connect_to(env.primary_url, TargetRole::primary);
  auto replica = connect_to(env.replica_url, TargetRole::standby);
  ASSERT_TRUE(primary->script("CREATE TABLE IF NOT EXISTS pgha_behind (id bigint)", in_ms(5000)));
  auto paused = std::make_unique<PausedReplay>(env.replica_url);
  ASSERT_TRUE(primary->execute("INSERT INTO pgha_behind VALUES (1)", in_ms(5000)));
  auto lsn = current_wal_lsn(*primary, in_ms(5000));
  ASSERT_TRUE(lsn) << lsn.error().message();

  auto early = wait_for_replay(*replica, *lsn, in_ms(300));  // replay paused: not there yet
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().kind(), ErrorKind::timeout);

  std::thread resumer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    paused->resume();
  });
  auto replayed = wait_for_replay(*replica, *lsn, in_ms(10000));  // returns once replay resumed
  resumer.join();
  ASSERT_TRUE(replayed) << replayed.error().message();
  EXPECT_GE(*replayed, *lsn);
}

TEST(PgReplication, ReadYourWritesEndsAtTheDeadlineAndKeepsTheConnection) {
  RESERVOIR_REQUIRE_SERVERS(ReplicaEnv, env, "pg-replica");
  auto replica = connect_to(env.replica_url, TargetRole::standby);
  auto status = replica_status(*replica, in_ms(5000));
  ASSERT_TRUE(status) << status.error().message();
  const Lsn never{status->replayed.value + (std::uint64_t{1} << 40)};  // a terabyte of WAL ahead
  auto replayed = wait_for_replay(*replica, never, in_ms(300));
  ASSERT_FALSE(replayed);
  EXPECT_EQ(replayed.error().kind(), ErrorKind::timeout);
  EXPECT_NE(replayed.error().detail().find("waiting for " + never.to_string()), std::string::npos)
      << replayed.error().detail();
  EXPECT_FALSE(replica->is_broken());  // the wait ended on the server, before the deadline
  EXPECT_TRUE(replica->query("SELECT 1", in_ms(5000)));
}

}  // namespace
}  // namespace reservoir::pg::test
