// reservoir/pgcluster/role_source.hpp — PostgreSQL's RoleSource for a cluster's read/write
// routing (cluster/routing.hpp): a primary and its streaming replicas behind one Cluster.
//
//   cluster::ClusterConfig config{.name = "orders",
//                                 .endpoints = {{.connector = cluster::adapt<pg::Connector>(*primary)},
//                                               {.connector = cluster::adapt<pg::Connector>(*replica)}}};
//   config.routing = {.roles = pgcluster::role_source(), .max_replica_lag = 500ms};
//   cluster::run<pg::Connector>(c, cluster::Intent::write(), [](pg::Connection& conn) {...});
//
// Every endpoint's connector must be a cluster::adapt<pg::Connector>, with target_role any
// (the cluster, not the connector, decides where a write goes; a connector that wants a
// primary would refuse the replicas the reads need).
// - observe(): Connection::role(), i.e. in_hot_standby (PostgreSQL 14+; it follows a
//   promotion on a live session) or pg_is_in_recovery() at connect (older servers). No I/O.
// - probe(): one query (pg::replica_status): replayed LSN, and the lag. Lag is 0 when the
//   replica has replayed all it received, else now() - pg_last_xact_replay_timestamp(): the
//   age of the newest transaction it replayed while newer WAL waits (paused or slow replay).
//   So an idle primary shows no false lag; a replica cut off from its primary (receiving
//   nothing) shows none either: that is its breaker's and the outlier detector's business,
//   or Patroni's `/replica?lag=`. Received-but-unreplayed WAL with no replayed transaction
//   yet counts as lagging beyond any bound.
// - is_wrong_role(): pg::is_standby_write() (SQLSTATE 25006 on a standby).
// - write_token(): pg_current_wal_lsn() on the primary's connection, after the COMMIT.
// - wait_for(): pg::wait_for_replay(), waiting on the server, never past the deadline.
#pragma once

#include <memory>

#include "reservoir/cluster/routing.hpp"

namespace reservoir::pgcluster {

std::shared_ptr<cluster::RoleSource> role_source();

}  // namespace reservoir::pgcluster
