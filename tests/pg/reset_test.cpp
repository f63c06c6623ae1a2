// Session state one borrower sets never reaches the next: the connector's reset (ROLLBACK if
// needed, then DISCARD ALL) checked state by state on the real server.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include "pg_env.hpp"

namespace reservoir::pg::test {
namespace {

struct StateCase {
  const char* name;
  const char* change;  // run by the first borrower
  const char* probe;   // its answer after the reset must be `clean`
  const char* clean;
};

const StateCase kCases[] = {
    {"SET", "SET work_mem = '7MB'", "SHOW work_mem", "4MB"},
    {"set_config", "SELECT set_config('application_name', 'leaked', false)", "SHOW application_name", ""},
    {"SET ROLE", "SET ROLE reservoir_reset_role", "SELECT current_user", "postgres"},
    {"SET SESSION AUTHORIZATION", "SET SESSION AUTHORIZATION reservoir_reset_role", "SELECT session_user", "postgres"},
    {"search_path", "SET search_path = pg_catalog", "SHOW search_path", "\"$user\", public"},
    {"temp table", "CREATE TEMP TABLE leaked_tmp (x int)", "SELECT to_regclass('leaked_tmp')::text", "NULL"},
    {"prepared statement", "PREPARE leaked_stmt AS SELECT 1", "SELECT count(*) FROM pg_prepared_statements WHERE from_sql", "0"},
    {"advisory lock", "SELECT pg_advisory_lock(424242)",
     "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()", "0"},
    {"LISTEN", "LISTEN leaked_channel", "SELECT count(*) FROM pg_listening_channels()", "0"},
    {"open transaction", "BEGIN; CREATE TEMP TABLE in_tx (x int)", "SELECT pg_current_xact_id_if_assigned() IS NULL", "t"},
    {"failed transaction", "BEGIN; SELECT 1/0", "SELECT 1", "1"},
    {"cursor", "BEGIN; DECLARE c CURSOR WITH HOLD FOR SELECT 1; COMMIT",
     "SELECT count(*) FROM pg_cursors WHERE name = 'c'", "0"},  // the probe's own portal is listed too
};

void ensure_role(Connection& conn) {
  // Concurrent test processes may race to create it; either way it exists afterwards.
  (void)conn.execute("DO $$ BEGIN CREATE ROLE reservoir_reset_role; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
                     in_ms(5000));
  (void)conn.execute("GRANT reservoir_reset_role TO postgres", in_ms(5000));
}

TEST(PgReset, EachKindOfSessionStateIsGoneAfterReset) {
  RESERVOIR_REQUIRE_PG(env);
  Connector connector = make_connector(env.url);
  auto conn = must_connect(connector);
  ensure_role(*conn);
  for (const StateCase& c : kCases) {
    SCOPED_TRACE(c.name);
    (void)conn->script(c.change, in_ms(5000));  // "failed transaction" fails on purpose
    EXPECT_NE(text_of(*conn, c.probe), c.clean) << "the change did not take effect: test is void";
    // The failed-transaction probe cannot run in the aborted transaction; roll it back first.
    auto reset = connector.reset(*conn, in_ms(5000));
    ASSERT_TRUE(reset) << reset.error().message();
    EXPECT_FALSE(conn->in_transaction());
    EXPECT_EQ(text_of(*conn, c.probe), c.clean);
    EXPECT_FALSE(connector.is_broken(*conn));
  }
}

TEST(PgReset, SequenceCurrvalAndLastvalAreForgotten) {
  RESERVOIR_REQUIRE_PG(env);
  Connector connector = make_connector(env.url);
  auto conn = must_connect(connector);
  ASSERT_TRUE(conn->execute("CREATE SEQUENCE IF NOT EXISTS reservoir_reset_seq", in_ms(5000)));
  ASSERT_TRUE(conn->query("SELECT nextval('reservoir_reset_seq')", in_ms(5000)));
  ASSERT_TRUE(conn->query("SELECT currval('reservoir_reset_seq'), lastval()", in_ms(5000)));
  ASSERT_TRUE(connector.reset(*conn, in_ms(5000)));
  auto currval = conn->query("SELECT currval('reservoir_reset_seq')", in_ms(5000));
  ASSERT_FALSE(currval);
  EXPECT_EQ(currval.error().code(), "55000");  // not yet defined in this session
  auto lastval = conn->query("SELECT lastval()", in_ms(5000));
  ASSERT_FALSE(lastval);
  EXPECT_EQ(lastval.error().code(), "55000");
  EXPECT_FALSE(connector.is_broken(*conn));
}

TEST(PgReset, AdvisoryLockIsFreeForOthersAfterReset) {
  RESERVOIR_REQUIRE_PG(env);
  Connector connector = make_connector(env.url);
  auto holder = must_connect(connector);
  auto other = must_connect(connector);
  ASSERT_TRUE(holder->query("SELECT pg_advisory_lock(777001)", in_ms(5000)));
  EXPECT_EQ(text_of(*other, "SELECT pg_try_advisory_lock(777001)"), "f");
  ASSERT_TRUE(connector.reset(*holder, in_ms(5000)));
  // The reset was only sent; the holder is never used again here, yet the server runs it at
  // once: the lock comes free without the next borrower (bounded wait, not a timing claim).
  const Deadline bound = in_ms(10000);
  std::string got = "f";
  while (got == "f" && !bound.expired()) got = text_of(*other, "SELECT pg_try_advisory_lock(777001)");
  EXPECT_EQ(got, "t");
  ASSERT_TRUE(connector.reset(*other, in_ms(5000)));
}

TEST(PgReset, EmptyResetSqlOnlyRollsBack) {
  RESERVOIR_REQUIRE_PG(env);
  ConnectorOptions options;
  options.reset_sql = "";
  Connector connector = make_connector(env.url, options);
  auto conn = must_connect(connector);
  ASSERT_TRUE(conn->execute("SET work_mem = '9MB'", in_ms(5000)));
  ASSERT_TRUE(conn->execute("BEGIN", in_ms(5000)));
  ASSERT_TRUE(connector.reset(*conn, in_ms(5000)));
  EXPECT_FALSE(conn->in_transaction());
  EXPECT_EQ(text_of(*conn, "SHOW work_mem"), "9MB");  // the caller opted out of DISCARD ALL
}

// A lease that ran no statement costs no reset round trip; one that did gets DISCARD ALL.
TEST(PgReset, ResetRunsOnlyAfterTheSessionWasUsed) {
  RESERVOIR_REQUIRE_PG(env);
  Connector connector = make_connector(env.url);
  auto conn = must_connect(connector);
  auto observer = must_connect(connector);
  const std::string last_statement =
      "SELECT query FROM pg_stat_activity WHERE pid = " + std::to_string(conn->backend_pid());
  ASSERT_TRUE(connector.check(*conn, CheckDepth::ping, in_ms(5000)));
  ASSERT_TRUE(connector.reset(*conn, in_ms(5000)));
  EXPECT_EQ(text_of(*observer, last_statement), "");  // only the empty ping query ran
  ASSERT_TRUE(conn->query("SELECT 1", in_ms(5000)));
  ASSERT_TRUE(connector.reset(*conn, in_ms(5000)));
  // Sent, not waited for: the server runs it at once, without the next use.
  const Deadline bound = in_ms(10000);
  std::string seen;
  while (seen != "DISCARD ALL" && !bound.expired()) seen = text_of(*observer, last_statement);
  EXPECT_EQ(seen, "DISCARD ALL");
}

TEST(PgReset, ResetOfABrokenConnectionFails) {
  RESERVOIR_REQUIRE_PG(env);
  Connector connector = make_connector(env.url);
  auto conn = must_connect(connector);
  (void)conn->query("SELECT pg_sleep(10)", in_ms(50));
  ASSERT_TRUE(connector.is_broken(*conn));
  auto r = connector.reset(*conn, in_ms(2000));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::unavailable);
}

// Issue 10 item 2: a NOTIFY delivered for the previous borrower's LISTEN sits in libpq's own
// queue; the reset must drain it, not only UNLISTEN on the server.
TEST(PgReset, PendingNotificationsDoNotReachTheNextBorrower) {
  RESERVOIR_REQUIRE_PG(env);
  Connector connector = make_connector(env.url);
  auto conn = must_connect(connector);
  auto other = must_connect(connector);
  ASSERT_TRUE(conn->execute("LISTEN reservoir_leak", in_ms(5000)));
  ASSERT_TRUE(other->execute("NOTIFY reservoir_leak, 'from-other'", in_ms(5000)));
  // Notifying itself: the notification comes back with this statement's reply, so it is in
  // libpq's queue for certain, whatever the timing of the other one.
  ASSERT_TRUE(conn->execute("NOTIFY reservoir_leak, 'secret-of-A'", in_ms(5000)));
  ASSERT_TRUE(connector.reset(*conn, in_ms(5000)));
  ASSERT_TRUE(conn->query("SELECT 1", in_ms(5000)));  // the next borrower's first statement
  PGnotify* leaked = PQnotifies(conn->native_handle());
  EXPECT_EQ(leaked, nullptr) << "next borrower read: " << (leaked ? leaked->extra : "");
  if (leaked != nullptr) PQfreemem(leaked);
}

// `seeding` on `conn`, then the first random() after it.
std::string first_random_after(Connection& conn, const std::string& seeding) {
  if (auto seeded = conn.query(seeding, in_ms(5000)); !seeded) return "error: " + seeded.error().message();
  return text_of(conn, "SELECT random()::text");
}

// Issue 10 item 3: DISCARD ALL does not reseed random(); after A's setseed(0.5), B must not
// continue A's sequence. The reset reseeds with a fresh random value.
TEST(PgReset, SetseedDoesNotReachTheNextBorrower) {
  RESERVOIR_REQUIRE_PG(env);
  Connector connector = make_connector(env.url);
  auto reference = must_connect(connector);
  ASSERT_TRUE(reference->query("SELECT setseed(0.5)", in_ms(5000)));
  const std::string seeded_first = text_of(*reference, "SELECT random()::text");
  auto conn = must_connect(connector);
  ASSERT_TRUE(conn->query("SELECT setseed(0.5)", in_ms(5000)));
  ASSERT_TRUE(connector.reset(*conn, in_ms(5000)));
  EXPECT_NE(text_of(*conn, "SELECT random()::text"), seeded_first);
  // And two sessions reset from the same seed do not share a sequence either.
  ASSERT_TRUE(reference->query("SELECT setseed(0.5)", in_ms(5000)));
  ASSERT_TRUE(connector.reset(*reference, in_ms(5000)));
  ASSERT_TRUE(conn->query("SELECT setseed(0.5)", in_ms(5000)));
  ASSERT_TRUE(connector.reset(*conn, in_ms(5000)));
  EXPECT_NE(text_of(*conn, "SELECT random()::text"), text_of(*reference, "SELECT random()::text"));
}

// The reseed is the `seed` setting, which lives in the next borrower's first transaction: when
// that transaction fails, PostgreSQL restores the setting's previous value (here A's SET seed,
// committed) but does not reseed with it, so B still draws from the fresh seed, not from A's.
TEST(PgReset, AFailedFirstStatementKeepsTheFreshSeed) {
  RESERVOIR_REQUIRE_PG(env);
  Connector connector = make_connector(env.url);
  const std::string seeded_first = first_random_after(*must_connect(connector), "SET seed = 0.5");
  auto conn = must_connect(connector);
  ASSERT_TRUE(conn->execute("SET seed = 0.5", in_ms(5000)));  // committed: the value restored below
  ASSERT_TRUE(connector.reset(*conn, in_ms(5000)));
  auto failed = conn->query("SELECT 1/0", in_ms(5000));  // aborts the transaction holding the reseed
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), "22012");
  EXPECT_NE(text_of(*conn, "SELECT random()::text"), seeded_first);
  // The same after a lease that left its own seed committed and a failing BEGIN block.
  ASSERT_TRUE(connector.reset(*conn, in_ms(5000)));
  const std::string fresh_first = first_random_after(*conn, "SELECT 1");
  ASSERT_TRUE(connector.reset(*conn, in_ms(5000)));
  ASSERT_TRUE(conn->execute("BEGIN", in_ms(5000)));
  ASSERT_FALSE(conn->query("SELECT 1/0", in_ms(5000)));
  ASSERT_TRUE(conn->execute("ROLLBACK", in_ms(5000)));
  const std::string after = text_of(*conn, "SELECT random()::text");
  EXPECT_NE(after, fresh_first);
  EXPECT_NE(after, seeded_first);
}

// The opt-out does what it says: without the reseed, the next borrower continues the sequence.
TEST(PgReset, ReseedRandomFalseLeavesTheSeed) {
  RESERVOIR_REQUIRE_PG(env);
  ConnectorOptions options;
  options.reseed_random = false;
  Connector connector = make_connector(env.url, options);
  auto reference = must_connect(connector);
  ASSERT_TRUE(reference->query("SELECT setseed(0.5)", in_ms(5000)));
  const std::string seeded_first = text_of(*reference, "SELECT random()::text");
  auto conn = must_connect(connector);
  ASSERT_TRUE(conn->query("SELECT setseed(0.5)", in_ms(5000)));
  ASSERT_TRUE(connector.reset(*conn, in_ms(5000)));
  EXPECT_EQ(text_of(*conn, "SELECT random()::text"), seeded_first);
}

// Client-side settings a borrower can change through native_handle() are libpq's, not the
// server's: the reset restores them too.
TEST(PgReset, LibpqClientSettingsAreRestored) {
  RESERVOIR_REQUIRE_PG(env);
  Connector connector = make_connector(env.url);
  auto conn = must_connect(connector);
  (void)PQsetErrorVerbosity(conn->native_handle(), PQERRORS_TERSE);
  (void)PQsetnonblocking(conn->native_handle(), 0);
  ASSERT_TRUE(connector.reset(*conn, in_ms(5000)));
  EXPECT_EQ(PQsetErrorVerbosity(conn->native_handle(), PQERRORS_DEFAULT), PQERRORS_DEFAULT);
  EXPECT_EQ(PQisnonblocking(conn->native_handle()), 1);
}

}  // namespace
}  // namespace reservoir::pg::test
