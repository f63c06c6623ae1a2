// transfer — a pooled PostgreSQL client: moves money between two accounts in serializable
// transactions from several threads; with_transaction reruns a transfer that lost a
// serialization conflict.
//
//   reservoir_example_pg_transfer postgresql://user:password@127.0.0.1:5432/db
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "reservoir/pg/connector.hpp"
#include "reservoir/pg/transaction.hpp"
#include "reservoir/typed_pool.hpp"

using namespace reservoir;

namespace {

Deadline seconds(int s) { return Deadline::after(SteadyClock::instance(), std::chrono::seconds(s)); }

Status transfer(pg::Transaction& tx, int from, int to, int amount) {
  auto& conn = tx.connection();
  auto debit = conn.execute("UPDATE demo_accounts SET balance = balance - $1 WHERE id = $2", {amount, from}, tx.deadline());
  if (!debit) return std::move(debit).error();
  auto credit = conn.execute("UPDATE demo_accounts SET balance = balance + $1 WHERE id = $2", {amount, to}, tx.deadline());
  if (!credit) return std::move(credit).error();
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  const char* url = argc > 1 ? argv[1] : std::getenv("RESERVOIR_TEST_PG_URL");
  if (url == nullptr) {
    std::fprintf(stderr, "usage: %s POSTGRES_URL\n", argv[0]);
    return 2;
  }
  auto connector = pg::Connector::create(url);
  if (!connector) {
    std::fprintf(stderr, "%s\n", connector.error().message().c_str());
    return 1;
  }
  PoolConfig config;
  config.name = "transfer";
  config.max_size = 4;
  auto pool = TypedPool<pg::Connector>::create(config, {}, std::move(connector).value());
  if (!pool) {
    std::fprintf(stderr, "%s\n", pool.error().message().c_str());
    return 1;
  }
  {
    auto lease = pool->acquire();
    if (!lease) {
      std::fprintf(stderr, "%s\n", lease.error().message().c_str());
      return 1;
    }
    auto setup = lease.value()->script(
        "DROP TABLE IF EXISTS demo_accounts; CREATE TABLE demo_accounts (id int PRIMARY KEY, balance int);"
        "INSERT INTO demo_accounts VALUES (1, 1000), (2, 1000)",
        seconds(5));
    if (!setup) {
      std::fprintf(stderr, "%s\n", setup.error().message().c_str());
      return 1;
    }
  }
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const Status s = pg::with_transaction(
            *pool, [&](pg::Transaction& tx) { return transfer(tx, 1 + t % 2, 2 - t % 2, 10); },
            {sql::Isolation::serializable, false}, seconds(10));
        if (!s) {
          std::fprintf(stderr, "transfer failed: %s\n", s.error().message().c_str());
          failed++;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  auto lease = pool->acquire();
  auto total = lease.value()->query("SELECT sum(balance) FROM demo_accounts", seconds(5));
  if (!total) return 1;
  std::printf("transfers failed: %d, total balance: %lld (always 2000)\n", failed.load(),
              static_cast<long long>(total->get_int(0, 0).value()));
  (void)lease.value()->execute("DROP TABLE demo_accounts", seconds(5));
  return failed.load() == 0 ? 0 : 1;
}
