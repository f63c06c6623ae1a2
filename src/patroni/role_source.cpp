#include "reservoir/patroni/role_source.hpp"

#include <chrono>
#include <map>
#include <utility>

#include "reservoir/config_check.hpp"
#include "reservoir/http/connector.hpp"
#include "reservoir/pg/connector.hpp"
#include "reservoir/pgcluster/role_source.hpp"

namespace reservoir::patroni {

namespace {

namespace cc = reservoir::config_check;
using cluster::EndpointRole;

// Patroni would not send reads there: beyond any RoutingConfig::max_replica_lag (at most 24h).
constexpr Duration kNotARead = std::chrono::hours(25);

class PatroniRoleSource final : public cluster::RoleSource {
 public:
  PatroniRoleSource(std::map<std::string, http::Connector> rest, std::uint64_t max_lag_bytes)
      : rest_(std::move(rest)),
        replica_path_(max_lag_bytes == 0 ? "/replica" : "/replica?lag=" + std::to_string(max_lag_bytes)) {}

  std::optional<EndpointRole> observe(Connection& conn) noexcept override { return pg_->observe(conn); }

  Result<cluster::RoleReport> probe(Connection& conn, Deadline deadline) override {
    const std::string endpoint = ConnectorAdapter<pg::Connector>::cast(conn).endpoint();
    auto node = rest_.find(endpoint);
    if (node == rest_.end()) {
      return Error::make(ErrorKind::invalid_argument, endpoint + ": no Patroni REST API configured for it");
    }
    auto api = node->second.connect(deadline);
    if (!api) return std::move(api).error();
    auto primary = (*api)->request(http::Request::get("/primary"), deadline);
    if (!primary) return std::move(primary).error();
    if (primary->status == 200) return cluster::RoleReport{EndpointRole::primary};
    auto replica = (*api)->request(http::Request::get(replica_path_), deadline);
    if (!replica) return std::move(replica).error();
    // Position 0: unknown here; a read-your-writes read asks the replica itself (wait_for).
    const bool lagging = replica->status != 200;
    return cluster::RoleReport{EndpointRole::replica, 0, lagging ? kNotARead : Duration::zero(), lagging};
  }

  bool is_wrong_role(const Error& error) const noexcept override { return pg_->is_wrong_role(error); }
  Result<cluster::WriteToken> write_token(Connection& conn, Deadline deadline) override {
    return pg_->write_token(conn, deadline);
  }
  Result<std::uint64_t> wait_for(Connection& conn, cluster::WriteToken token, Duration wait, Deadline deadline) override {
    return pg_->wait_for(conn, token, wait, deadline);
  }

 private:
  const std::shared_ptr<cluster::RoleSource> pg_ = pgcluster::role_source();
  std::map<std::string, http::Connector> rest_;  // by PostgreSQL endpoint; connect() is thread-safe
  const std::string replica_path_;
};

}  // namespace

Status RoleSourceOptions::validate() const {
  if (nodes.empty()) return cc::invalid("patroni.nodes", "[]", "1 or more nodes");
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const std::string at = "patroni.nodes[" + std::to_string(i) + "]";
    if (nodes[i].postgres.empty()) return cc::invalid(at + ".postgres", cc::quoted(""), "a host:port");
    for (std::size_t j = 0; j < i; ++j) {
      if (nodes[j].postgres == nodes[i].postgres) {
        return cc::invalid(at + ".postgres", cc::quoted(nodes[i].postgres),
                           "an endpoint no other node has (patroni.nodes[" + std::to_string(j) + "] has it)");
      }
    }
    if (auto c = http::Connector::create(nodes[i].rest); !c) {
      return cc::invalid(at + ".rest", cc::quoted(nodes[i].rest), "an http:// or https:// URL (" + c.error().detail() + ")");
    }
  }
  return {};
}

Result<std::shared_ptr<cluster::RoleSource>> role_source(RoleSourceOptions options) {
  if (Status s = options.validate(); !s) return std::move(s).error();
  std::map<std::string, http::Connector> rest;
  for (const Node& n : options.nodes) rest.emplace(n.postgres, http::Connector::create(n.rest).value());
  return std::shared_ptr<cluster::RoleSource>(std::make_shared<PatroniRoleSource>(std::move(rest), options.max_lag_bytes));
}

}  // namespace reservoir::patroni
