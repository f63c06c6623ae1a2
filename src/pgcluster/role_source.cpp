#include "reservoir/pgcluster/role_source.hpp"

#include <chrono>

#include "reservoir/pg/connector.hpp"
#include "reservoir/pg/errors.hpp"
#include "reservoir/pg/replication.hpp"

namespace reservoir::pgcluster {

namespace {

using cluster::EndpointRole;

// Replayed WAL behind received WAL with no replayed transaction to date it: beyond any bound
// (RoutingConfig::max_replica_lag is at most 24h).
constexpr Duration kUndatedLag = std::chrono::hours(25);

pg::Connection& pg_of(Connection& conn) { return ConnectorAdapter<pg::Connector>::cast(conn); }

Duration lag_of(const pg::ReplicaStatus& s) {
  if (s.received <= s.replayed) return Duration::zero();
  return s.replay_age ? Duration(*s.replay_age) : kUndatedLag;
}

class PgRoleSource final : public cluster::RoleSource {
 public:
  std::optional<EndpointRole> observe(Connection& conn) noexcept override {
    return pg_of(conn).role() == pg::ServerRole::primary ? EndpointRole::primary : EndpointRole::replica;
  }

  Result<cluster::RoleReport> probe(Connection& conn, Deadline deadline) override {
    auto status = pg::replica_status(pg_of(conn), deadline);
    if (!status) {
      // replica_status() refuses a primary with invalid_argument: it replays nothing.
      if (status.error().kind() == ErrorKind::invalid_argument) return cluster::RoleReport{EndpointRole::primary};
      return std::move(status).error();
    }
    return cluster::RoleReport{EndpointRole::replica, status->replayed.value, lag_of(*status)};
  }

  bool is_wrong_role(const Error& error) const noexcept override { return pg::is_standby_write(error); }

  Result<cluster::WriteToken> write_token(Connection& conn, Deadline deadline) override {
    auto lsn = pg::current_wal_lsn(pg_of(conn), deadline);
    if (!lsn) return std::move(lsn).error();
    return cluster::WriteToken{lsn->value};
  }

  Result<std::uint64_t> wait_for(Connection& conn, cluster::WriteToken token, Duration wait,
                                 Deadline deadline) override {
    pg::Connection& c = pg_of(conn);
    const pg::Lsn lsn{token.position};
    if (wait == Duration::zero()) {
      auto status = pg::replica_status(c, deadline);
      if (!status) return std::move(status).error();
      if (status->replayed >= lsn) return status->replayed.value;
      return Error::timeout(c.endpoint() + ": replayed up to " + status->replayed.to_string() + ", behind " +
                            lsn.to_string());
    }
    auto replayed = pg::wait_for_replay(c, lsn, deadline.capped(wait));
    if (!replayed) return std::move(replayed).error();
    return replayed->value;
  }
};

}  // namespace

std::shared_ptr<cluster::RoleSource> role_source() { return std::make_shared<PgRoleSource>(); }

}  // namespace reservoir::pgcluster
