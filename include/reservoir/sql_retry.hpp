// reservoir/sql_retry.hpp — the transaction retry of the SQL backends: `with_transaction` of
// pg and sqlite is this one function on the resilience retry loop (run.hpp's retry_loop), so
// both share one backoff policy type, the pool's injected clock and the deadline cut-off.
//
// An attempt acquires a connection, begins a transaction, runs `fn(Transaction&)` and commits
// (or rolls back on fn's error). It is rerun on a fresh transaction only when nothing of it
// can have stayed: the backend reports a conflict (PostgreSQL serialization failure or
// deadlock, SQLite's stale read snapshot), or the connection was found dead at BEGIN, before
// any of fn's work. `fn` may finish the transaction itself (commit() or rollback() on it).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>

#include "reservoir/backoff.hpp"
#include "reservoir/run.hpp"
#include "reservoir/sql.hpp"
#include "reservoir/typed_pool.hpp"

namespace reservoir::sql {

// How a transaction that lost a conflict is rerun. Plain data; fields may be added later.
struct TransactionRetry {
  // Attempts in total, the first included (1 .. 100).
  std::uint32_t max_attempts = 10;
  // Short and jittered: the transaction we lost to is usually done within a millisecond or
  // two, and transactions that conflicted together should not rerun together.
  BackoffConfig backoff{.initial = std::chrono::milliseconds(1),
                        .multiplier = 2.0,
                        .cap = std::chrono::milliseconds(50),
                        .jitter = Jitter::equal};
  std::uint64_t seed = 0;  // jitter; 0 = from the OS when a rerun first needs it
};

namespace detail {

// What an attempt takes before it borrows a connection (SQLite's WriteTurn), and hands to the
// connection it borrowed. By default: nothing.
struct NothingBeforeBorrow {
  struct Held {
    template <class Conn>
    void hand(Conn&) noexcept {}
  };
  Result<Held> operator()(Deadline) const { return Held{}; }
};

// Errors: as Pool::acquire(), Tx::begin(), commit(), and fn's own; an error that was not
// retried because attempts or time ran out says so in its detail.
template <SqlTransaction Tx, PoolConnector C, class Fn, class IsConflict, class BeforeBorrow = NothingBeforeBorrow>
auto with_transaction(TypedPool<C>& pool, Fn& fn, TxOptions options, Deadline deadline,
                      const TransactionRetry& retry, IsConflict is_conflict, BeforeBorrow before_borrow = {})
    -> std::invoke_result_t<Fn&, Tx&> {
  using R = std::invoke_result_t<Fn&, Tx&>;
  RunOptions run;
  run.deadline = deadline;
  run.retry.max_attempts = retry.max_attempts;
  run.retry.backoff = retry.backoff;
  run.retry.never_retry = {};  // the attempt alone judges what may rerun (`rerun` below)
  run.idempotent = true;       // a rerun starts from nothing: the failed transaction left no trace
  run.seed = retry.seed;
  std::optional<R> committed;
  bool rerun = false;
  auto attempt = [&](Attempt&) -> Status {
    rerun = false;
    auto held = before_borrow(deadline);
    if (!held) return std::move(held).error();
    auto lease = pool.acquire(deadline);
    if (!lease) return std::move(lease).error();
    held->hand(**lease);
    auto tx = Tx::begin(**lease, options, deadline);
    if (!tx) {
      // A session that died while pooled fails at BEGIN, before any of fn's work: safe to
      // rerun on a fresh connection (the broken one is closed when its lease returns).
      rerun = (*lease)->is_broken() && tx.error().retryable();
      return std::move(tx).error();
    }
    R result = fn(*tx);
    const Status outcome = !tx->active() ? Status{} : result.ok() ? tx->commit() : tx->rollback();
    if (result.ok() && outcome.ok()) {
      committed.emplace(std::move(result));
      return {};
    }
    Error error = result.ok() ? outcome.error() : std::move(result).error();
    rerun = is_conflict(error);
    return error;
  };
  Status s = reservoir::detail::retry_loop(run, deadline, [&](const Error&) { return rerun; }, attempt);
  if (!s) return R(std::move(s).error());
  return std::move(*committed);
}

}  // namespace detail
}  // namespace reservoir::sql
