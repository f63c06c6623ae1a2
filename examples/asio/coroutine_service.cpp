// A coroutine service loop on one thread: `clients` concurrent coroutines (default 2000), each
// doing `requests` key-value reads and writes through async_run on a SQLite pool of 8. Every
// coroutine that finds the pool busy waits in the pool's queue without a thread; the one
// io_context thread runs the queries as connections come free.
//
//   reservoir_example_asio [clients] [requests]
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "reservoir/asio/run.hpp"
#include "reservoir/sqlite/connector.hpp"

namespace net = boost::asio;
using namespace std::chrono_literals;
using Pool = reservoir::TypedPool<reservoir::sqlite::Connector>;

namespace {

struct Tally {
  long ok = 0;
  long failed = 0;
  std::size_t most_waiting = 0;
};

net::awaitable<void> client(Pool& pool, int id, int requests, Tally& tally) {
  reservoir::RunOptions options;
  options.timeout = 10s;
  options.idempotent = true;  // an upsert of the same value: safe to replay
  for (int i = 0; i < requests; ++i) {
    const std::int64_t key = (id * 7919 + i) % 1000;
    auto written = co_await reservoir::asio::async_run(pool, options, [&](reservoir::sqlite::Connection& c, reservoir::Attempt& a) {
      return c.execute("INSERT INTO kv (k, v) VALUES (?1, ?2) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
                       {key, std::int64_t{id}}, a.deadline());
    });
    auto read = co_await reservoir::asio::async_run(pool, options, [&](reservoir::sqlite::Connection& c, reservoir::Attempt& a) {
      return c.query("SELECT v FROM kv WHERE k = ?1", {key}, a.deadline());
    });
    const bool good = written.ok() && read.ok() && read->size() == 1;
    good ? ++tally.ok : ++tally.failed;
    if (!good && tally.failed == 1) {
      std::fprintf(stderr, "first failure: %s\n",
                   (!written ? written.error() : !read ? read.error() : reservoir::Error::make(reservoir::ErrorKind::internal, "no row")).message().c_str());
    }
    tally.most_waiting = std::max(tally.most_waiting, pool.load().waiting);
  }
}

}  // namespace

int serve(const std::filesystem::path& dir, int clients, int requests) {

  auto connector = reservoir::sqlite::Connector::create({.path = (dir / "kv.db").string()});
  if (!connector) return std::fprintf(stderr, "%s\n", connector.error().message().c_str()), 1;
  auto pool = Pool::create({.max_size = 8}, {}, std::move(connector).value());
  if (!pool) return std::fprintf(stderr, "%s\n", pool.error().message().c_str()), 1;
  if (auto made = pool->acquire().value()->execute("CREATE TABLE kv (k INTEGER PRIMARY KEY, v INTEGER)",
                                                   reservoir::Deadline::after(pool->clock(), 5s));
      !made) {
    return std::fprintf(stderr, "%s\n", made.error().message().c_str()), 1;
  }

  net::io_context ioc(1);  // one thread: this one
  Tally tally;
  for (int id = 0; id < clients; ++id) net::co_spawn(ioc, client(*pool, id, requests, tally), net::detached);
  const auto start = std::chrono::steady_clock::now();
  ioc.run();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const auto stats = pool->stats();
  std::printf("%d coroutines x %d requests (a write and a read each) on one thread, pool of 8\n", clients, requests);
  std::printf("  ok %ld, failed %ld, %.0f requests/s, most queued for a connection %zu, connections opened %llu\n",
              tally.ok, tally.failed, static_cast<double>(tally.ok) / seconds, tally.most_waiting,
              static_cast<unsigned long long>(stats.created));
  return tally.failed == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  const int clients = argc > 1 ? std::atoi(argv[1]) : 2000;
  const int requests = argc > 2 ? std::atoi(argv[2]) : 10;
  const auto dir = std::filesystem::temp_directory_path() / ("reservoir-asio-example-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const int status = serve(dir, clients, requests);  // the pool is closed when it returns
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return status;
}
