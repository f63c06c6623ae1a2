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

Status run_on_cluster(Cluster& cluster, const Intent& intent, const RunOptions& options, SourceLocation where,
                      reservoir::detail::FunctionRef<Status(Connection&, Attempt&)> fn);

template <class Conn, class Fn, class Cast>
auto run_typed(Cluster& cluster, const Intent& intent, Fn& fn, const RunOptions& options, SourceLocation where,
               Cast cast) {
  return reservoir::detail::run_value<Conn>(
      fn, cast, [&](reservoir::detail::FunctionRef<Status(Connection&, Attempt&)> body) {
        return run_on_cluster(cluster, intent, options, where, body);
      });
}

template <PoolConnector C>
typename C::connection& cast_to(Connection& c) {
  return ConnectorAdapter<C>::cast(c);
}

}  // namespace detail

// Runs fn(Connection&[, Attempt&]) on a connection of an endpoint of `cluster`. Errors: as
// reservoir::run(); circuit_open / unavailable when no endpoint serves.
template <class Fn>
auto run(Cluster& cluster, Fn&& fn, const RunOptions& options = {}, SourceLocation where = SourceLocation::current()) {
  return detail::run_typed<Connection>(cluster, Intent{}, fn, options, where, [](Connection& c) -> Connection& { return c; });
}

// Runs fn(C::connection&[, Attempt&]); every endpoint's connector must be a ConnectorAdapter<C>.
template <PoolConnector C, class Fn>
auto run(Cluster& cluster, Fn&& fn, const RunOptions& options = {}, SourceLocation where = SourceLocation::current()) {
  return detail::run_typed<typename C::connection>(cluster, Intent{}, fn, options, where, detail::cast_to<C>);
}

// Routed (routing.hpp): each attempt on an endpoint acquire(deadline, intent) gives. A write a
// replica refuses as one (PostgreSQL: SQLSTATE 25006) marks it a replica and runs again at
// once on the primary, idempotent or not (the replica wrote nothing), within the deadline.
//
//   cluster::run<pg::Connector>(c, cluster::Intent::write(), [](pg::Connection& conn) {...});
template <class Fn>
auto run(Cluster& cluster, const Intent& intent, Fn&& fn, const RunOptions& options = {},
         SourceLocation where = SourceLocation::current()) {
  return detail::run_typed<Connection>(cluster, intent, fn, options, where, [](Connection& c) -> Connection& { return c; });
}
template <PoolConnector C, class Fn>
auto run(Cluster& cluster, const Intent& intent, Fn&& fn, const RunOptions& options = {},
         SourceLocation where = SourceLocation::current()) {
  return detail::run_typed<typename C::connection>(cluster, intent, fn, options, where, detail::cast_to<C>);
}

}  // namespace reservoir::cluster
