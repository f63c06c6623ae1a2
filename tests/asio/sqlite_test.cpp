// async_acquire and async_run on the real SQLite backend: many coroutines on one thread share
// a small pool, every write lands once, and SQLite's own errors are classified as run() does.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <string>

#include "reservoir/asio/run.hpp"
#include "reservoir/sqlite/connector.hpp"
#include "reservoir/typed_pool.hpp"

namespace reservoir::testing {
namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;
using SqlitePool = TypedPool<sqlite::Connector>;

class AsioSqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "reservoir-asio-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  SqlitePool make_pool(std::size_t size) {
    auto connector = sqlite::Connector::create({.path = (dir_ / "asio.db").string()});
    EXPECT_TRUE(connector.ok()) << connector.error().message();
    PoolConfig config;
    config.max_size = size;
    auto pool = SqlitePool::create(config, {}, std::move(connector).value());
    EXPECT_TRUE(pool.ok()) << pool.error().message();
    return std::move(pool).value();
  }

  std::filesystem::path dir_;
};

TEST_F(AsioSqliteTest, ManyCoroutinesOnOneThreadWriteThroughAPoolOfFour) {
  SqlitePool pool = make_pool(4);
  const auto setup = pool.acquire().value()->execute(
      "CREATE TABLE items (id INTEGER PRIMARY KEY, writer INTEGER, n INTEGER)", Deadline::after(pool.clock(), 5s));
  ASSERT_TRUE(setup.ok()) << setup.error().message();

  constexpr int kCoroutines = 32;
  constexpr int kWrites = 25;
  net::io_context ioc;
  int failed = 0;
  int finished = 0;
  for (int w = 0; w < kCoroutines; ++w) {
    net::co_spawn(
        ioc,
        [&, w]() -> net::awaitable<void> {
          // Options as a variable: g++ 12 rejects a braced temporary inside a co_await
          // expression ("array used as initializer").
          RunOptions options;
          options.timeout = 10s;
          for (int i = 0; i < kWrites; ++i) {
            auto r = co_await reservoir::asio::async_run(
                pool, options, [&](sqlite::Connection& c, Attempt& a) {
                  return c.execute("INSERT INTO items (writer, n) VALUES (?1, ?2)", {std::int64_t{w}, std::int64_t{i}},
                                   a.deadline());
                });
            if (!r) {
              ADD_FAILURE() << r.error().message();
              ++failed;
            }
          }
          ++finished;
        },
        net::detached);
  }
  ioc.run();
  EXPECT_EQ(finished, kCoroutines);
  EXPECT_EQ(failed, 0);
  EXPECT_LE(pool.stats().created, 4u);
  EXPECT_EQ(pool.stats().in_use, 0u);

  std::optional<Result<std::int64_t>> count;
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        auto lease = co_await reservoir::asio::async_acquire(pool, Deadline::after(pool.clock(), 5s), net::use_awaitable);
        if (!lease) {
          count.emplace(std::move(lease).error());
          co_return;
        }
        auto rows = (*lease)->query("SELECT count(*) FROM items", Deadline::after(pool.clock(), 5s));
        if (!rows) count.emplace(std::move(rows).error());
        else count.emplace(rows->get_int(0, 0));
      },
      net::detached);
  ioc.restart();
  ioc.run();
  ASSERT_TRUE(count.has_value());
  ASSERT_TRUE(count->ok()) << count->error().message();
  EXPECT_EQ(count->value(), kCoroutines * kWrites) << "a write was lost or replayed";
}

TEST_F(AsioSqliteTest, ASqliteErrorIsClassifiedByTheConnectorAndNotRetried) {
  SqlitePool pool = make_pool(2);
  ASSERT_TRUE(pool.acquire().value()->execute("CREATE TABLE u (k TEXT UNIQUE)", Deadline::after(pool.clock(), 5s)).ok());
  net::io_context ioc;
  RunReport report;
  std::optional<Result<std::int64_t>> second;
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        auto insert = [](sqlite::Connection& c, Attempt& a) { return c.execute("INSERT INTO u VALUES ('x')", a.deadline()); };
        RunOptions options;
        options.idempotent = true;
        auto first = co_await reservoir::asio::async_run(pool, options, insert);
        EXPECT_TRUE(first.ok());
        options.report = &report;
        second.emplace(co_await reservoir::asio::async_run(pool, options, insert));
      },
      net::detached);
  ioc.run();
  ASSERT_TRUE(second.has_value());
  ASSERT_FALSE(second->ok()) << "a UNIQUE violation should fail";
  EXPECT_EQ(second->error().kind(), ErrorKind::backend) << second->error().message();
  EXPECT_EQ(report.attempts, 1u);
  EXPECT_EQ(report.last_verdict, RetryVerdict::not_retryable);
}

}  // namespace
}  // namespace reservoir::testing
