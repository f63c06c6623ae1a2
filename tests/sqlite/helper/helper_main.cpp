// The second process of the store-lock and crash tests. Prints `ready` once it holds what it
// was asked to hold, then waits to be killed (or exits after a given time).
//
//   helper hold <store> [program] [hold_ms]   take the StoreLock; hold_ms > 0: exit after it
//   helper try <store>                        exit 0 if the lock can be taken now, 3 if busy
//   helper midtx <db> <committed> <pending>   commit rows 1..committed, then insert `pending`
//                                             more rows in an open transaction and wait
//   helper read <db> <table> <rows>           count the table's rows through the sqlite3 C API
//                                             with SQLite's default locking (as a sqlite3 shell
//                                             would): exit 0 if there are <rows>, 4 if not, 3
//                                             if the file is locked
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "reservoir/sqlite/connector.hpp"
#include "reservoir/sqlite/transaction.hpp"
#include "reservoir/sqlite/store_lock.hpp"

using namespace reservoir;
using reservoir::sqlite::StoreLock;
using reservoir::sqlite::StoreLockOptions;

namespace {

Deadline soon() { return Deadline::after(SteadyClock::instance(), std::chrono::seconds(10)); }

// hold_ms > 0: returns after that long, so the caller releases cleanly; else waits for death.
void ready_then_wait(long hold_ms) {
  std::printf("ready %d\n", static_cast<int>(::getpid()));
  std::fflush(stdout);
  if (hold_ms > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
    return;
  }
  for (;;) ::pause();
}

int fail(const Error& e) {
  std::fprintf(stderr, "helper: %s\n", e.message().c_str());
  return 2;
}

int hold(int argc, char** argv) {
  StoreLockOptions options;
  if (argc > 3) options.program = argv[3];
  auto lock = StoreLock::acquire(argv[2], soon(), options);
  if (!lock) return fail(lock.error());
  ready_then_wait(argc > 4 ? std::atol(argv[4]) : 0);
  return 0;
}

int try_lock(char** argv) {
  auto lock = StoreLock::acquire(argv[2], soon());
  if (lock) return 0;
  std::fprintf(stderr, "helper: %s\n", lock.error().message().c_str());
  return lock.error().kind() == ErrorKind::busy ? 3 : 2;
}

int midtx(char** argv) {
  auto connector = sqlite::Connector::create(sqlite::Config{.path = argv[2], .synchronous = sqlite::Synchronous::full});
  if (!connector) return fail(connector.error());
  auto conn = connector->connect(soon());
  if (!conn) return fail(conn.error());
  auto& c = **conn;
  if (auto r = c.execute("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)", soon()); !r) return fail(r.error());
  const long committed = std::atol(argv[3]), pending = std::atol(argv[4]);
  for (long i = 1; i <= committed; ++i) {
    if (auto r = c.execute("INSERT INTO t(id, v) VALUES (?1, 'committed')", {std::int64_t{i}}, soon()); !r) return fail(r.error());
  }
  auto tx = sqlite::Transaction::begin(c, {}, soon());
  if (!tx) return fail(tx.error());
  for (long i = committed + 1; i <= committed + pending; ++i) {
    if (auto r = c.execute("INSERT INTO t(id, v) VALUES (?1, 'pending')", {std::int64_t{i}}, soon()); !r) return fail(r.error());
  }
  ready_then_wait(0);
  return 0;
}

int read_raw(char** argv) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(argv[2], &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* stmt = nullptr;
  const std::string sql = std::string("SELECT count(*) FROM ") + argv[3];
  if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr);
  if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
  const bool counted = rc == SQLITE_ROW && sqlite3_column_int64(stmt, 0) == std::atoll(argv[4]);
  if (rc != SQLITE_ROW) std::fprintf(stderr, "helper: %s\n", sqlite3_errmsg(db));
  const bool busy = (rc & 0xff) == SQLITE_BUSY;
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return rc == SQLITE_ROW ? (counted ? 0 : 4) : busy ? 3 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 2 ? argv[1] : "";
  if (mode == "hold") return hold(argc, argv);
  if (mode == "try") return try_lock(argv);
  if (mode == "midtx" && argc > 4) return midtx(argv);
  if (mode == "read" && argc > 4) return read_raw(argv);
  std::fprintf(stderr, "usage: helper hold|try|midtx|read <path> ...\n");
  return 64;
}
