// reservoir/asio/run.hpp — async_run(): reservoir::run() for coroutines.
//
//   Result<int> n = co_await reservoir::asio::async_run(pool, {.timeout = 2s, .idempotent = true},
//                                                       [](Conn& c, Attempt& a) { return c.count(a.deadline()); });
//
// The same semantics as run(), on the same code (reservoir::detail::RunLoop, AttemptScope):
// one deadline for acquires, attempts and backoff; retry per RetryPolicy with the connector's
// classification, the idempotency rule and the retry budget; the breaker checked before each
// attempt and told each outcome; broken connections discarded. What differs is only how it
// waits: the acquire is async_acquire() and the backoff an awaited timer on the deadline's
// clock (async_wait_until), so nothing blocks the executor's thread and a ManualClock test
// moves time instead of sleeping. A slow call is reported once, as run() reports it
// (RunOptions::slow_threshold: a log line and an operation_slow event with its phases, the
// same OperationTrace); the asynchronous acquire does not split its wait into connect and
// check, so all of it is reported as queued.
//
// fn takes the connection (and optionally the Attempt&) and returns Result<T> or Status, or an
// asio::awaitable of one (an operation that itself awaits). The coroutine yields the same
// type. Cancelling it (a cancellation slot, `||` with a timer) while it waits for a connection
// or a backoff ends it with `cancelled` (never retried). `pool` must outlive the coroutine;
// `options` and `fn` are copied into its frame (a reference fn captures must outlive it too).
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <type_traits>
#include <utility>

#include "reservoir/asio/acquire.hpp"
#include "reservoir/asio/clock_wait.hpp"
#include "reservoir/run.hpp"

namespace reservoir::asio {

namespace detail {

template <class X>
struct Awaited {
  using type = X;
  static constexpr bool awaitable = false;
};
template <class T, class E>
struct Awaited<net::awaitable<T, E>> {
  using type = T;
  static constexpr bool awaitable = true;
};

template <class Fn, class Conn>
using OpReturn = std::remove_cvref_t<decltype(reservoir::detail::call_op(
    std::declval<Fn&>(), std::declval<Conn&>(), std::declval<Attempt&>()))>;
// What the coroutine yields: fn's Result<T> / Status, awaited or not.
template <class Fn, class Conn>
using RunResult = typename Awaited<OpReturn<Fn, Conn>>::type;

template <class R, class Stored>
R run_outcome(Status s, Stored& value) {
  if (!s) return R(std::move(s).error());
  if constexpr (std::is_same_v<R, Status>) {
    return R();
  } else {
    return R(std::move(*value));
  }
}

template <class Conn, class Fn, class Cast>
net::awaitable<RunResult<Fn, Conn>> run_coro(Pool& pool, RunOptions options, Fn fn, Cast cast, SourceLocation where) {
  using R = RunResult<Fn, Conn>;
  using T = typename reservoir::detail::ResultValue<R>::type;
  std::optional<std::conditional_t<std::is_void_v<T>, char, T>> value;

  const Deadline deadline = options.deadline ? *options.deadline : Deadline::after(pool.clock(), options.timeout);
  if (Status valid = reservoir::detail::RunLoop::validate(options, deadline); !valid) {
    co_return R(std::move(valid).error());
  }
  const Connector& connector = pool.connector();
  const Clock& clock = deadline.clock();
  reservoir::detail::RunLoop loop(options, deadline);
  // The same slow-operation report as run(): one line and one operation_slow event.
  reservoir::detail::OperationTrace trace(pool, options);
  auto done = [&](Status s) {
    s = loop.finish(std::move(s));
    trace.finish(loop.report(), s, where);
    return run_outcome<R>(std::move(s), value);
  };
  for (;;) {
    if (Status open = loop.admit(); !open) co_return done(std::move(open));
    Attempt current = loop.start_attempt();
    Status s;
    {
      // Nothing has been sent while acquiring: an acquire failure is always safe to retry.
      const TimePoint acquire_start = pool.clock().now();
      Result<Lease> lease = co_await async_acquire(pool, current.deadline(), net::use_awaitable, where);
      trace.add_queued(pool.clock().now() - acquire_start);
      if (!lease) {
        s = reservoir::detail::acquire_failed(options, std::move(lease).error());
      } else {
        reservoir::detail::AttemptScope scope;
        s = scope.admit(options);
        if (s) {
          current.set_request_sent(true);
          std::optional<R> r;
          const TimePoint call_start = pool.clock().now();
          if constexpr (Awaited<OpReturn<Fn, Conn>>::awaitable) {
            r.emplace(co_await reservoir::detail::call_op(fn, cast(lease->connection()), current));
          } else {
            r.emplace(reservoir::detail::call_op(fn, cast(lease->connection()), current));
          }
          trace.add_call(pool.clock().now() - call_start);
          if (!*r) {
            s = std::move(*r).error();
          } else if constexpr (!std::is_void_v<T>) {
            value.emplace(std::move(*r).value());
          }
          scope.finish(options, s, lease.value());
        }
      }
    }  // the lease goes back before the backoff
    if (s) co_return done(std::move(s));
    const std::optional<Duration> delay = loop.on_failure(s.error(), connector.is_retryable(s.error()), current);
    if (!delay) co_return done(loop.explain(std::move(s).error()));
    auto [ec] = co_await async_wait_until(clock, clock.now() + *delay, net::as_tuple(net::use_awaitable));
    if (ec) co_return done(Error::make(ErrorKind::cancelled, connector.endpoint() + ": run cancelled during a backoff"));
  }
}

}  // namespace detail

// Runs fn(Connection&[, Attempt&]) on a connection of `pool`, retrying per options, as
// run() does; co_await it. Errors: as run(), and cancelled.
template <class Fn>
net::awaitable<detail::RunResult<Fn, Connection>> async_run(Pool& pool, RunOptions options, Fn fn,
                                                            SourceLocation where = SourceLocation::current()) {
  return detail::run_coro<Connection>(pool, std::move(options), std::move(fn),
                                      [](Connection& c) -> Connection& { return c; }, where);
}

// Runs fn(C::connection&[, Attempt&]) on a connection of `pool`. Errors: as above.
template <PoolConnector C, class Fn>
net::awaitable<detail::RunResult<Fn, typename C::connection>> async_run(
    TypedPool<C>& pool, RunOptions options, Fn fn, SourceLocation where = SourceLocation::current()) {
  return detail::run_coro<typename C::connection>(
      pool.untyped(), std::move(options), std::move(fn),
      [](Connection& c) -> typename C::connection& { return ConnectorAdapter<C>::cast(c); }, where);
}

}  // namespace reservoir::asio
