// Tenants over a real PostgreSQL pool: each tenant's session runs as its own role with its own
// search_path (SET ROLE / search_path on checkout, RESET on return). The pool's reset is only
// a rollback here, so it is the undo alone that keeps one tenant's role from the next borrower.
#include <gtest/gtest.h>

#include "pg_env.hpp"
#include "pool_support.hpp"
#include "reservoir/tenant/tenants.hpp"

namespace reservoir::pg::test {
namespace {

using namespace std::chrono_literals;

std::string role_of(std::string_view tenant) { return "rs_tenant_" + std::string(tenant); }

void create_tenant_schema(PgPool& pool, const std::string& tenant) {
  auto lease = pool.acquire(in_ms(5000));
  ASSERT_TRUE(lease) << lease.error().message();
  const std::string role = role_of(tenant);
  ASSERT_TRUE((*lease)->execute("DO $$ BEGIN CREATE ROLE " + role +
                                    " NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
                                in_ms(5000)));
  ASSERT_TRUE((*lease)->execute("CREATE SCHEMA IF NOT EXISTS " + role + " AUTHORIZATION " + role, in_ms(5000)));
  ASSERT_TRUE((*lease)->execute("CREATE TABLE IF NOT EXISTS " + role + ".items (name text)", in_ms(5000)));
  ASSERT_TRUE((*lease)->execute("ALTER TABLE " + role + ".items OWNER TO " + role, in_ms(5000)));
  ASSERT_TRUE((*lease)->execute("TRUNCATE " + role + ".items", in_ms(5000)));
}

Status exec(Connection& c, const std::string& sql, std::initializer_list<sql::Value> params, Deadline deadline) {
  auto r = c.execute(sql, params, deadline);
  if (!r) return std::move(r).error();
  return {};
}

tenant::TenantsOptions role_options(bool with_undo) {
  tenant::TenantsOptions options;
  options.setup = tenant::typed_setup<Connector>([](Connection& c, std::string_view tenant, Deadline deadline) {
    const std::string role = role_of(tenant);
    return exec(c, "SELECT set_config('role', $1, false), set_config('search_path', $1, false)", {role}, deadline);
  });
  if (with_undo) {
    options.undo = tenant::typed_setup<Connector>([](Connection& c, std::string_view, Deadline deadline) {
      if (auto s = exec(c, "RESET ROLE", {}, deadline); !s) return s;
      return exec(c, "RESET search_path", {}, deadline);
    });
  }
  return options;
}

// (current_user, search_path) of the session.
std::pair<std::string, std::string> session_of(Connection& c) {
  auto rows = c.query("SELECT current_user::text, current_setting('search_path')",
                                                          in_ms(5000));
  if (!rows) return {"error: " + rows.error().message(), std::string()};
  return {rows->get_text(0, 0).value(), rows->get_text(0, 1).value()};
}

ConnectorOptions rollback_only() {
  ConnectorOptions o;
  o.reset_sql = "";  // the pool resets nothing but the transaction: the undo must
  return o;
}

TEST(PgTenants, EachTenantRunsAsItsRoleAndTheNextNeverSeesIt) {
  RESERVOIR_REQUIRE_PG(env);
  auto pool = make_pool(env.url, small_config(1), rollback_only());
  create_tenant_schema(pool, "a");
  create_tenant_schema(pool, "b");
  auto tenants = tenant::Tenants::create(tenant::pool_source(pool), {}, role_options(true));
  ASSERT_TRUE(tenants) << tenants.error().message();

  for (const std::string tenant : {"a", "b", "a"}) {
    auto lease = tenants->acquire(tenant, in_ms(5000));
    ASSERT_TRUE(lease) << lease.error().message();
    EXPECT_EQ(session_of(lease->as<Connector>()), std::make_pair(role_of(tenant), role_of(tenant)));
    // Unqualified names resolve in the tenant's own schema.
    auto& conn = lease->as<Connector>();
    ASSERT_TRUE(conn.execute("INSERT INTO items VALUES ($1)", {"from " + tenant}, in_ms(5000)));
  }
  auto plain = pool.acquire(in_ms(5000));
  ASSERT_TRUE(plain) << plain.error().message();
  auto rows = (*plain)->query("SELECT current_user::text, current_setting('search_path'), "
                              "(SELECT count(*) FROM rs_tenant_a.items), (SELECT count(*) FROM rs_tenant_b.items)",
                              in_ms(5000));
  ASSERT_TRUE(rows) << rows.error().message();
  EXPECT_EQ(rows->get_text(0, 0).value(), "postgres");
  EXPECT_EQ(rows->get_text(0, 1).value(), "\"$user\", public");
  EXPECT_EQ(rows->get_int(0, 2).value(), 2);
  EXPECT_EQ(rows->get_int(0, 3).value(), 1);
}

// The same set-up without the undo leaks the role to the next borrower: what the test above
// guards against is real with this pool's rollback-only reset.
TEST(PgTenants, WithoutTheUndoTheRoleWouldLeak) {
  RESERVOIR_REQUIRE_PG(env);
  auto pool = make_pool(env.url, small_config(1), rollback_only());
  create_tenant_schema(pool, "a");
  auto tenants = tenant::Tenants::create(tenant::pool_source(pool), {}, role_options(false));
  ASSERT_TRUE(tenants);
  {
    auto lease = tenants->acquire("a", in_ms(5000));
    ASSERT_TRUE(lease) << lease.error().message();
  }
  auto plain = pool.acquire(in_ms(5000));
  ASSERT_TRUE(plain);
  EXPECT_EQ(session_of(**plain).first, role_of("a"));
  plain->discard();  // not back into the pool with the role
}

// A tenant whose role does not exist fails its setup: the error is the server's, the
// connection is closed rather than returned half set up, and the permit goes back.
TEST(PgTenants, AFailedSetupIsTheServersErrorAndLeavesNothingBehind) {
  RESERVOIR_REQUIRE_PG(env);
  auto pool = make_pool(env.url, small_config(1), rollback_only());
  auto tenants = tenant::Tenants::create(tenant::pool_source(pool), {}, role_options(true));
  ASSERT_TRUE(tenants);
  auto missing = tenants->acquire("nobody", in_ms(5000));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind(), ErrorKind::backend);
  EXPECT_NE(missing.error().message().find("rs_tenant_nobody"), std::string::npos) << missing.error().message();
  EXPECT_EQ(tenants->stats("nobody")->failures, 1u);
  EXPECT_EQ(tenants->totals().active, 0u);
  auto plain = pool.acquire(in_ms(5000));
  ASSERT_TRUE(plain) << plain.error().message();
  EXPECT_EQ(session_of(**plain).first, "postgres");
}

}  // namespace
}  // namespace reservoir::pg::test
