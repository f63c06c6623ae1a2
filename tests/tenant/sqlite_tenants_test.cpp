// Tenants over a real SQLite pool: quotas and transactions counted on real work, and a
// per-tenant setup (a read-only session) undone before the next tenant's lease.
#include <gtest/gtest.h>

#include <filesystem>

#include "reservoir/sqlite/connector.hpp"
#include "reservoir/sqlite/transaction.hpp"
#include "reservoir/tenant/tenants.hpp"
#include "reservoir/typed_pool.hpp"

namespace reservoir::testing {
namespace {

using namespace std::chrono_literals;
using SqlitePool = TypedPool<sqlite::Connector>;

Deadline in_ms(long ms) { return Deadline::after(SteadyClock::instance(), std::chrono::milliseconds(ms)); }

class SqliteTenants : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "reservoir-tenant-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  SqlitePool make_pool(std::size_t size) {
    sqlite::Config sc;
    sc.path = (dir_ / "tenants.db").string();
    auto connector = sqlite::Connector::create(sc);
    if (!connector) throw std::runtime_error(connector.error().message());
    PoolConfig pc;
    pc.min_idle = 0;
    pc.max_size = size;
    auto pool = SqlitePool::create(pc, PoolOptions{}, std::move(connector).value());
    if (!pool) throw std::runtime_error(pool.error().message());
    return std::move(pool).value();
  }

  std::filesystem::path dir_;
};

sqlite::Connection& db(tenant::TenantLease& lease) { return lease.as<sqlite::Connector>(); }

TEST_F(SqliteTenants, QuotasAndTransactionsOnRealWork) {
  auto pool = make_pool(2);
  {
    auto lease = pool.acquire(in_ms(5000));
    ASSERT_TRUE(lease) << lease.error().message();
    ASSERT_TRUE((*lease)->execute("CREATE TABLE notes (tenant TEXT NOT NULL, n INTEGER NOT NULL)", in_ms(5000)));
  }
  tenant::TenantsConfig config;
  config.tenants["a"] = tenant::TenantConfig{.guarantee = 1, .max_operations = 3};
  auto tenants = tenant::Tenants::create(tenant::pool_source(pool), config);
  ASSERT_TRUE(tenants) << tenants.error().message();

  for (int i = 0; i < 3; ++i) {
    auto lease = tenants->acquire("a", in_ms(5000));
    ASSERT_TRUE(lease) << lease.error().message();
    const bool commit = i != 1;
    auto outcome = tenant::counted_transaction(*lease, [&]() -> Status {
      auto tx = sqlite::Transaction::begin(db(*lease), {}, in_ms(5000));
      if (!tx) return std::move(tx).error();
      if (auto r = db(*lease).execute("INSERT INTO notes VALUES ('a', ?)", {std::int64_t{i}}, in_ms(5000)); !r) {
        return std::move(r).error();
      }
      if (!commit) return Error::make(ErrorKind::backend, "the work failed; rolled back");
      return tx->commit();
    });
    EXPECT_EQ(outcome.ok(), commit);
  }
  auto refused = tenants->acquire("a", in_ms(5000));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message(), "quota_exceeded: tenant \"a\": max_operations=3 reached (3 used in total)");

  auto b = tenants->acquire("b", in_ms(5000));
  ASSERT_TRUE(b) << b.error().message();
  auto rows = db(*b).query("SELECT count(*) FROM notes WHERE tenant = 'a'", in_ms(5000));
  ASSERT_TRUE(rows) << rows.error().message();
  EXPECT_EQ(rows->get_int(0, 0).value(), 2);  // the aborted one left nothing
  const auto s = tenants->stats("a").value();
  EXPECT_EQ(s.operations, 3u);
  EXPECT_EQ(s.committed, 2u);
  EXPECT_EQ(s.aborted, 1u);
  EXPECT_EQ(s.quota_rejections, 1u);
}

// A "reader" tenant's sessions are read-only (PRAGMA query_only); the undo turns it off before
// the connection serves anyone else, so the next tenant on the same connection can write.
TEST_F(SqliteTenants, APerTenantSetupIsUndoneBeforeTheNextTenant) {
  auto pool = make_pool(1);
  {
    auto lease = pool.acquire(in_ms(5000));
    ASSERT_TRUE(lease);
    ASSERT_TRUE((*lease)->execute("CREATE TABLE t (x INTEGER)", in_ms(5000)));
  }
  tenant::TenantsOptions options;
  options.setup = [](Connection& c, std::string_view tenant, Deadline deadline) -> Status {
    if (tenant != "reader") return {};
    auto r = ConnectorAdapter<sqlite::Connector>::cast(c).execute("PRAGMA query_only = 1", deadline);
    if (!r) return std::move(r).error();
    return {};
  };
  options.undo = [](Connection& c, std::string_view tenant, Deadline deadline) -> Status {
    if (tenant != "reader") return {};
    auto r = ConnectorAdapter<sqlite::Connector>::cast(c).execute("PRAGMA query_only = 0", deadline);
    if (!r) return std::move(r).error();
    return {};
  };
  auto tenants = tenant::Tenants::create(tenant::pool_source(pool), {}, options);
  ASSERT_TRUE(tenants);
  {
    auto reader = tenants->acquire("reader", in_ms(5000));
    ASSERT_TRUE(reader) << reader.error().message();
    auto write = db(*reader).execute("INSERT INTO t VALUES (1)", in_ms(5000));
    ASSERT_FALSE(write);
    EXPECT_EQ(write.error().kind(), ErrorKind::backend);
  }
  auto writer = tenants->acquire("writer", in_ms(5000));
  ASSERT_TRUE(writer) << writer.error().message();
  auto write = db(*writer).execute("INSERT INTO t VALUES (2)", in_ms(5000));
  EXPECT_TRUE(write) << write.error().message();
  auto mode = db(*writer).query("PRAGMA query_only", in_ms(5000));
  ASSERT_TRUE(mode);
  EXPECT_EQ(mode->get_int(0, 0).value(), 0);
}

}  // namespace
}  // namespace reservoir::testing
