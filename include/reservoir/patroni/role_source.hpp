// reservoir/patroni/role_source.hpp — a cluster's replica status from Patroni's REST API
// instead of a query on the replica (cluster/routing.hpp, pgcluster/role_source.hpp).
//
//   auto roles = patroni::role_source({.nodes = {{"10.0.0.1:5432", "http://10.0.0.1:8008"},
//                                                {"10.0.0.2:5432", "http://10.0.0.2:8008"}},
//                                      .max_lag_bytes = 16 << 20});
//   config.routing.roles = *roles;
//
// probe() asks the node's Patroni, not its PostgreSQL: `GET /primary` (200: Patroni holds the
// leader key for it and it runs), else `GET /replica?lag=<max_lag_bytes>` (200: a running
// replica within that many bytes of the leader, as Patroni measures it; 503: not a replica
// Patroni would send reads to, reported beyond the source's bound (RoleReport::beyond_bound),
// so it serves no read whatever max_replica_lag says). Patroni 3.0 compares the leader's
// position published in the DCS (every loop_wait) with the replica's REPLAYED position.
// Patroni's lag is in bytes: RoutingConfig::max_replica_lag (a time) should stay 0 with this
// source. Everything else is pgcluster::role_source()'s: the role at checkout from the
// session (in_hot_standby), 25006 on writes, LSN tokens and read-your-writes waits in SQL
// (Patroni reports no replay position the cluster could wait on). One HTTP connection per
// probe (at most one per endpoint per status_interval): nothing is held open between probes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "reservoir/cluster/routing.hpp"
#include "reservoir/error.hpp"

namespace reservoir::patroni {

struct Node {
  std::string postgres;  // `host:port` as the cluster endpoint's pg::Connection::endpoint() says it
  std::string rest;      // its Patroni REST API, `http://host:8008`
};

struct RoleSourceOptions {
  std::vector<Node> nodes;
  std::uint64_t max_lag_bytes = 0;  // 0: `GET /replica` without a lag bound

  // invalid_config naming the field (`patroni.nodes[1].rest`): no nodes, an empty or duplicate
  // postgres endpoint, a REST URL the HTTP connector refuses.
  Status validate() const;
};

Result<std::shared_ptr<cluster::RoleSource>> role_source(RoleSourceOptions options);

}  // namespace reservoir::patroni
