// reservoir/cluster/run.hpp — run() over a Cluster: run()'s retry loop and classification,
// each attempt on an endpoint the cluster picks, a retry preferring one not tried yet.
//
//   auto n = cluster::run<pg::Connector>(c, [](pg::Connection& conn, Attempt& a) -> Result<int> {...},
//                                        {.timeout = 2s, .idempotent = true});
//
// Per attempt: acquire (which already moves on past endpoints refusing before anything was
// sent) → the endpoint's breaker → fn → its outcome to the breaker and the outlier detector
// (with fn's duration as a latency sample) → the connection discarded if it broke. Whether a
// failure is retried is run()'s rule (retry.hpp): retryable by the endpoint's connector, and
// idempotent or never sent. RunOptions::breaker is not used: every endpoint has its own.
#pragma once

#include <optional>
#include <type_traits>
#include <utility>

#include "reservoir/cluster/cluster.hpp"
#include "reservoir/run.hpp"

namespace reservoir::cluster {

namespace detail {

Status run_on_cluster(Cluster& cluster, const RunOptions& options, SourceLocation where,
                      reservoir::detail::FunctionRef<Status(Connection&, Attempt&)> fn);

template <class Conn, class Fn, class Cast>
auto run_typed(Cluster& cluster, Fn& fn, const RunOptions& options, SourceLocation where, Cast cast) {
  using reservoir::detail::call_op;
  using R = std::remove_cvref_t<decltype(call_op(fn, std::declval<Conn&>(), std::declval<Attempt&>()))>;
  using T = typename reservoir::detail::ResultValue<R>::type;
  if constexpr (std::is_void_v<T>) {
    auto body = [&](Connection& c, Attempt& a) -> Status { return call_op(fn, cast(c), a); };
    return R(run_on_cluster(cluster, options, where, body));
  } else {
    std::optional<T> value;
    auto body = [&](Connection& c, Attempt& a) -> Status {
      R r = call_op(fn, cast(c), a);
      if (!r) return std::move(r).error();
      value.emplace(std::move(r).value());
      return {};
    };
    Status s = run_on_cluster(cluster, options, where, body);
    if (!s) return R(std::move(s).error());
    return R(std::move(*value));
  }
}

}  // namespace detail

// Runs fn(Connection&[, Attempt&]) on a connection of an endpoint of `cluster`. Errors: as
// reservoir::run(); circuit_open / unavailable when no endpoint serves.
template <class Fn>
auto run(Cluster& cluster, Fn&& fn, const RunOptions& options = {}, SourceLocation where = SourceLocation::current()) {
  return detail::run_typed<Connection>(cluster, fn, options, where, [](Connection& c) -> Connection& { return c; });
}

// Runs fn(C::connection&[, Attempt&]); every endpoint's connector must be a ConnectorAdapter<C>.
template <PoolConnector C, class Fn>
auto run(Cluster& cluster, Fn&& fn, const RunOptions& options = {}, SourceLocation where = SourceLocation::current()) {
  return detail::run_typed<typename C::connection>(
      cluster, fn, options, where, [](Connection& c) -> typename C::connection& { return ConnectorAdapter<C>::cast(c); });
}

}  // namespace reservoir::cluster
