// reservoir/run.hpp — run(): the one path for an operation on a pool, with every safeguard.
//
// acquire within the deadline → breaker → fn(connection) → classify the outcome with the
// connector → discard the connection if it broke → retry per policy, within the same deadline.
// Backoff waits use the deadline's clock, so ManualClock tests need no sleep.
//
//   auto rows = reservoir::run(pool, [](pg::Connection& c, Attempt& a) { return c.query("SELECT 1", a.deadline()); },
//                              {.timeout = 2s, .idempotent = true});
//
// fn takes the connection, or the connection and an Attempt& (to read the attempt number and
// deadline, or to declare that its request never left). It returns Result<T> or Status, and
// run() returns the same type.
#pragma once

#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "reservoir/breaker.hpp"
#include "reservoir/pool.hpp"
#include "reservoir/retry.hpp"
#include "reservoir/retry_budget.hpp"
#include "reservoir/typed_pool.hpp"

namespace reservoir {

struct RunReport {
  std::uint32_t attempts = 0;
  RetryVerdict last_verdict = RetryVerdict::retry;  // why the last failure was not retried
  Duration backoff = Duration::zero();              // total time spent waiting between attempts
};

// Plain data; fields may be added later (always with a default). One RunOptions may be shared
// by many threads' calls, except `report`, which run() writes.
struct RunOptions {
  // Bounds the whole call: acquires, attempts and backoff waits. Default: `timeout` from now on
  // the pool's clock.
  std::optional<Deadline> deadline;
  Duration timeout = std::chrono::seconds(5);
  RetryPolicy retry{};
  // An idempotent operation may be retried even after its request may have reached the server.
  bool idempotent = false;
  std::shared_ptr<RetryBudget> budget;       // optional; share one per endpoint
  // Optional; judges fn's outcomes. Connect failures reach a breaker through the pool's
  // ConnectGate: use the same breaker for both (PoolOptions::connect_gate), so that an open
  // breaker also stops connects and acquire() fails fast.
  std::shared_ptr<CircuitBreaker> breaker;
  // Set when `breaker` is NOT the pool's connect gate: then acquire failures (of the
  // breaker_failures kinds) count against it too. Left false with a gate, they would count twice.
  bool breaker_counts_acquire_failures = false;
  // Outcomes the breaker counts as failures; any other error means the endpoint answered.
  ErrorKindSet breaker_failures{ErrorKind::unavailable, ErrorKind::timeout};
  // Errors after which the connection is discarded rather than returned to the pool: it broke,
  // or a timed-out request may still be running on it.
  ErrorKindSet discard_on{ErrorKind::unavailable, ErrorKind::timeout};
  // A call that takes at least this long is reported once, with where its time went (queued,
  // connect, check, call, backoff), to the pool's logger (info) and listener (operation_slow).
  // Default: the pool's slow_acquire_threshold (100 ms); zero turns it off.
  std::optional<Duration> slow_threshold;
  std::uint64_t seed = 0;      // backoff jitter; 0 = from the OS when a retry first needs it
  RunReport* report = nullptr;  // optional: filled before run() returns
};

namespace detail {

// A non-owning reference to a callable, so the retry loop is compiled once, not per lambda.
template <class Sig>
class FunctionRef;
template <class R, class... A>
class FunctionRef<R(A...)> {
 public:
  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, FunctionRef> && std::is_invocable_r_v<R, F&, A...>)
  FunctionRef(F&& f) noexcept  // NOLINT: implicit on purpose
      : obj_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* obj, A... args) -> R { return (*static_cast<std::remove_reference_t<F>*>(obj))(std::forward<A>(args)...); }) {}
  R operator()(A... args) const { return call_(obj_, std::forward<A>(args)...); }

 private:
  void* obj_;
  R (*call_)(void*, A...);
};

// The retry loop's state and decisions, shared by run() and reservoir::asio::async_run(), so
// both follow one policy: only the waiting differs (a clock sleep, an awaited clock timer).
class RunLoop {
 public:
  // OK, or why the call must not start: invalid options (invalid_config), a passed deadline.
  static Status validate(const RunOptions& options, Deadline deadline);

  // `options` must have passed validate() and must outlive the loop.
  RunLoop(const RunOptions& options, Deadline deadline) noexcept;

  // Before each attempt: an open breaker refuses it (circuit_open).
  Status admit();
  Attempt start_attempt() noexcept { return retrier_.start_attempt(); }
  // After `attempt` failed with `error`: the backoff before the next attempt, or nullopt when
  // the loop ends (then explain(error) is the call's error). `retryable`: the connector's view.
  std::optional<Duration> on_failure(const Error& error, bool retryable, const Attempt& attempt);
  Error explain(Error error) const;
  // What the loop did so far (attempts, last verdict, backoff).
  RunReport report() const noexcept;
  // The call's outcome, after filling options.report.
  Status finish(Status result);

 private:
  Duration paced_by_breaker(Duration delay, const Attempt& attempt) const noexcept;

  const RunOptions& options_;
  Retrier retrier_;
  RunReport report_;
};

// Where one run() or async_run() spent its time, summed over its attempts, and the one
// slow-operation report made from it (log line at info + operation_slow event) when the call
// took at least options.slow_threshold (default: the pool's slow_acquire_threshold).
class OperationTrace {
 public:
  OperationTrace(const Pool& pool, const RunOptions& options) noexcept;
  // Filled by Pool::acquire(deadline, phases): queued, connect, check.
  AcquirePhases& phases() noexcept { return phases_; }
  // An acquire that reports no phases (async_acquire): its whole wait counts as queued.
  void add_queued(Duration d) noexcept { phases_.queued += d; }
  void add_call(Duration d) noexcept { call_ += d; }
  // The time to measure a call with: zero when reporting is off; the coarse clock (1-4 ms) when
  // the threshold is far above its resolution (it costs a memory read, the precise one a
  // clock_gettime); else the precise clock.
  TimePoint now() const noexcept;
  // Reports the call once when it was slow. `report`: the loop's attempts and backoff.
  void finish(const RunReport& report, const Status& outcome, SourceLocation where) const;

 private:
  const Pool& pool_;
  Duration threshold_;
  bool coarse_;
  TimePoint start_;
  AcquirePhases phases_;
  Duration call_{0};
};

// A failed acquire inside run(): counted against the breaker when the options say so.
Error acquire_failed(const RunOptions& options, Error error);

// The breaker around one attempt's operation. Its permit is handed back exactly once, even
// when the operation throws (or a coroutine is destroyed): a probe permit never handed back
// would hold the breaker half-open, refusing everyone, for good.
class AttemptScope {
 public:
  AttemptScope() noexcept = default;
  AttemptScope(const AttemptScope&) = delete;
  AttemptScope& operator=(const AttemptScope&) = delete;
  ~AttemptScope();
  // Asks the breaker, if any. Errors: circuit_open.
  Status admit(const RunOptions& options);
  // The operation's outcome: told to the breaker; `lease` discarded if it broke.
  void finish(const RunOptions& options, const Status& outcome, Lease& lease) noexcept;

 private:
  CircuitBreaker* breaker_ = nullptr;
  CircuitBreaker::Permit permit_{};
};

// The retry loop, independent of pools: runs `attempt` until it succeeds or the policy stops.
// `classify` is the connector's is_retryable. Errors: the last attempt's, explained.
Status retry_loop(const RunOptions& options, Deadline deadline, FunctionRef<bool(const Error&)> classify,
                  FunctionRef<Status(Attempt&)> attempt);

Status run_on_pool(Pool& pool, const RunOptions& options, SourceLocation where,
                   FunctionRef<Status(Connection&, Attempt&)> fn);

template <class R>
struct ResultValue;
template <class T>
struct ResultValue<Result<T>> {
  using type = T;
};

template <class Fn, class Conn>
decltype(auto) call_op(Fn& fn, Conn& conn, Attempt& attempt) {
  if constexpr (std::is_invocable_v<Fn&, Conn&, Attempt&>) {
    return fn(conn, attempt);
  } else {
    return fn(conn);
  }
}

// Runs fn through `loop` (a type-erased retry loop over a pool, a cluster, ...: it takes the
// body as a FunctionRef<Status(Connection&, Attempt&)>), keeping fn's typed value out of it.
template <class Conn, class Fn, class Cast, class Loop>
auto run_value(Fn& fn, Cast cast, Loop loop) {
  using R = std::remove_cvref_t<decltype(call_op(fn, std::declval<Conn&>(), std::declval<Attempt&>()))>;
  using T = typename ResultValue<R>::type;
  if constexpr (std::is_void_v<T>) {
    auto body = [&](Connection& c, Attempt& a) -> Status { return call_op(fn, cast(c), a); };
    return R(loop(FunctionRef<Status(Connection&, Attempt&)>(body)));
  } else {
    std::optional<T> value;
    auto body = [&](Connection& c, Attempt& a) -> Status {
      R r = call_op(fn, cast(c), a);
      if (!r) return std::move(r).error();
      value.emplace(std::move(r).value());
      return {};
    };
    Status s = loop(FunctionRef<Status(Connection&, Attempt&)>(body));
    if (!s) return R(std::move(s).error());
    return R(std::move(*value));
  }
}

template <class Conn, class Fn, class Cast>
auto run_typed(Pool& pool, Fn& fn, const RunOptions& options, SourceLocation where, Cast cast) {
  return run_value<Conn>(fn, cast, [&](FunctionRef<Status(Connection&, Attempt&)> body) {
    return run_on_pool(pool, options, where, body);
  });
}

}  // namespace detail

// Runs fn(Connection&[, Attempt&]) on a connection of `pool`, retrying per options.
// Errors: fn's last error (its detail says why it was not retried), or from acquire():
// exhausted, unavailable, timeout, shutting_down; circuit_open from the breaker; invalid_config
// if options.retry does not validate.
template <class Fn>
auto run(Pool& pool, Fn&& fn, const RunOptions& options = {}, SourceLocation where = SourceLocation::current()) {
  return detail::run_typed<Connection>(pool, fn, options, where, [](Connection& c) -> Connection& { return c; });
}

// Runs fn(C::connection&[, Attempt&]) on a connection of `pool`. Errors: as above.
template <PoolConnector C, class Fn>
auto run(TypedPool<C>& pool, Fn&& fn, const RunOptions& options = {},
         SourceLocation where = SourceLocation::current()) {
  return detail::run_typed<typename C::connection>(
      pool.untyped(), fn, options, where,
      [](Connection& c) -> typename C::connection& { return ConnectorAdapter<C>::cast(c); });
}

}  // namespace reservoir
