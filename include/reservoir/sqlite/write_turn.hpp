// reservoir/sqlite/write_turn.hpp — sqlite::WriteTurn: a writer's place at its store's
// in-process writer gate, taken before a connection is borrowed.
//
// SQLite lets one writer at a time into a store. The connections of this process queue for it
// on the store's writer gate, and a connection that queues there holds its lease meanwhile: with
// more threads than connections, writers waiting for their turn hold connections that readers
// could use. A writer that takes its turn first, then borrows, queues without a connection:
//
//   auto turn = pool.connector().write_turn(deadline);               // queue here, holding nothing
//   if (!turn) return std::move(turn).error();
//   return reservoir::run(pool, [&](sqlite::Connection& c, Attempt& a) {
//     c.adopt(*turn);                                                 // no second wait at the gate
//     return c.execute("INSERT ...", {...}, a.deadline());
//   }, {.deadline = deadline});
//
// The connection that adopts the turn leaves the gate when its write ends (the statement in
// autocommit mode, or the transaction's COMMIT/ROLLBACK), at the latest when it goes back to the
// pool. A turn nobody adopted leaves the gate when it is destroyed. Transactions:
// sqlite::with_transaction_after_turn (transaction.hpp) takes a turn for each attempt.
//
// One order for every writer of a store: a thread that holds a turn waits for a connection,
// while one that holds a connection waits at the gate. If every connection is held by a
// writer queued at the gate while a turn's holder waits for a connection, both wait until their
// deadlines. So take turns for all of a store's writes, or for none.
#pragma once

#include <memory>

namespace reservoir::sqlite {

namespace detail {
class WriterGate;
}

class WriteTurn {
 public:
  WriteTurn() noexcept = default;  // holds no turn
  WriteTurn(WriteTurn&& other) noexcept;
  WriteTurn& operator=(WriteTurn&& other) noexcept;
  WriteTurn(const WriteTurn&) = delete;
  WriteTurn& operator=(const WriteTurn&) = delete;
  // Leaves the gate unless a connection adopted the turn.
  ~WriteTurn();

  // Holds the gate: taken, and neither adopted nor given up yet.
  bool held() const noexcept { return gate_ != nullptr; }
  // Leaves the gate now (nothing if not held).
  void give_up() noexcept;

 private:
  friend class Connector;
  friend class Connection;
  explicit WriteTurn(std::shared_ptr<detail::WriterGate> entered) noexcept;

  std::shared_ptr<detail::WriterGate> gate_;  // entered, until adopted or given up
};

}  // namespace reservoir::sqlite
