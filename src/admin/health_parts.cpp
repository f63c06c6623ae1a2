#include "health_parts.hpp"

#include "reservoir/cluster/cluster.hpp"
#include "reservoir/tenant/tenants.hpp"

namespace reservoir::admin::detail {

void add_cluster_health(const metrics::Registry& registry, HealthReport& report) {
  for (const auto& cluster : registry.live_clusters()) {
    HealthReport::Component c{.kind = "cluster", .name = redact_secrets(cluster->config().name)};
    const cluster::ClusterStats stats = cluster->stats();
    bool serving = false;
    std::string states;
    for (const auto& ep : stats.endpoints) {
      serving = serving || ep.state == cluster::EndpointState::serving;
      if (!states.empty()) states += ", ";
      states += redact_secrets(ep.name) + " " + std::string(to_string(ep.state));
    }
    if (!serving) c.reasons.push_back(stats.endpoints.empty() ? "no endpoint" : "no endpoint serving: " + states);
    c.healthy = c.reasons.empty();
    report.healthy = report.healthy && c.healthy;
    report.components.push_back(std::move(c));
  }
}

void add_tenants_health(const metrics::Registry& registry, HealthReport& report) {
  for (const auto& entry : registry.live_tenants()) {
    HealthReport::Component c{.kind = "tenants", .name = redact_secrets(entry.name)};
    const tenant::TenantsTotals t = entry.tenants->totals();
    std::uint64_t quota_rejections = 0, early_refusals = 0, timeouts = 0;
    for (const auto& s : entry.tenants->exposed_stats(metrics::Registry::kMaxLazyTenantSeries)) {
      quota_rejections += s.quota_rejections;
      early_refusals += s.early_refusals;
      timeouts += s.timeouts;
    }
    c.figures = {{"capacity", t.capacity},
                 {"permits_in_use", t.active},
                 {"waiting", t.waiting},
                 {"reserved_unused", t.reserved_unused},
                 {"known", t.tenants},
                 {"quota_rejections", quota_rejections},
                 {"early_refusals", early_refusals},
                 {"timeouts", timeouts}};
    report.components.push_back(std::move(c));
  }
}

}  // namespace reservoir::admin::detail
