// reservoir/sqlite/connector.hpp — sqlite::Connector: the PoolConnector for an embedded SQLite
// store file, the embedded default.
//
//   auto connector = sqlite::Connector::create(sqlite::Config{.path = "app.db"});
//   auto pool = TypedPool<sqlite::Connector>::create({.max_size = 4}, {}, std::move(connector).value());
//   auto lease = pool->acquire();
//   auto rows = (*lease)->query("SELECT ?1 + 1", {std::int64_t{41}}, deadline);
//
// Every connection opens the file in WAL mode (readers never block the writer) and holds a
// share of the store's StoreLock: one process owns the file, any number of pools in that
// process share it, and a second process gets `busy` naming the owner.
#pragma once

#include <memory>
#include <string>

#include "reservoir/connector.hpp"
#include "reservoir/sqlite/config.hpp"
#include "reservoir/sqlite/connection.hpp"
#include "reservoir/sqlite/write_turn.hpp"

namespace reservoir::sqlite {

class Connector {
 public:
  using connection = sqlite::Connection;

  // Validates `config` once (every connect then trusts it). Nothing is opened or created.
  // Errors: invalid_config naming the field (Config::validate()).
  static Result<Connector> create(Config config);

  // Opens the store. Nothing is created or written when the input is bad.
  // Errors:
  //   unavailable    — not retryable: the directory is missing, the file is missing and
  //                    create_if_missing is off, the file is read-only, is not a database
  //                    (SQLITE_NOTADB) or cannot be opened (SQLITE_CANTOPEN, SQLITE_IOERR);
  //   busy           — another process owns the store (StoreLock), past store_lock_wait;
  //   timeout        — another connection held the database lock until the deadline.
  Result<std::unique_ptr<Connection>> connect(Deadline deadline);
  // fast: the handle is open and not broken; ping: SELECT 1; deep: config.deep_check_sql.
  // Errors: unavailable (broken), timeout, backend (the deep check reported a problem).
  Status check(Connection& conn, CheckDepth depth, Deadline deadline);
  // Rolls back an open transaction, drops temp tables/views/triggers, detaches attached
  // databases and restores PRAGMAs the borrower changed. Errors: whatever could not be
  // undone (the pool then closes the connection).
  Status reset(Connection& conn, Deadline deadline);
  void close(std::unique_ptr<Connection> conn, Deadline deadline) noexcept;
  void abandon(std::unique_ptr<Connection> conn) noexcept;
  bool is_broken(const Connection& conn) const noexcept { return conn.is_broken(); }
  // Waits until `deadline` for this store's writer gate, holding no connection meanwhile
  // (write_turn.hpp). Errors: timeout (another writer of this process kept it), unavailable
  // (the store's directory is missing).
  Result<WriteTurn> write_turn(Deadline deadline) const;
  // What this store's background checkpointer did (checkpoint_in_effect() background): zero
  // while no connection of the store is open, and with Checkpoint::on_commit.
  CheckpointStats checkpoint_stats() const;
  bool is_retryable(const Error& error) const noexcept { return error.retryable(); }
  std::string endpoint() const { return config_.path; }

  const Config& config() const noexcept { return config_; }

 private:
  explicit Connector(Config config);
  Status configure(Connection& conn, Deadline deadline);
  void install_checkpointing(Connection& conn);

  Config config_;
  std::shared_ptr<Logger> logger_;
  // The store's writer gate, found once its path resolves (the directory may appear later).
  std::shared_ptr<detail::WriterGate> gate_;
};

static_assert(PoolConnector<Connector>);

}  // namespace reservoir::sqlite
