#include "json_parts.hpp"

#include "reservoir/admin/events.hpp"
#include "reservoir/cluster/cluster.hpp"
#include "reservoir/tenant/tenants.hpp"

namespace reservoir::admin::detail {
namespace {

using nlohmann::json;

double us(Duration d) { return static_cast<double>(d.count()) / 1e3; }

json endpoint_json(const cluster::EndpointStats& ep) {
  return {{"name", redact_secrets(ep.name)},
          {"state", std::string(to_string(ep.state))},
          {"weight", ep.weight},
          {"tier", ep.priority},
          {"picks", ep.picks},
          {"successes", ep.successes},
          {"failures", ep.failures},
          {"ejections", ep.ejections},
          {"ejection_level", ep.ejection_level},
          {"latency_us", us(ep.latency_ewma)},
          {"open", ep.load.open},
          {"in_use", ep.load.in_use},
          {"waiting", ep.load.waiting}};
}

json tenant_json(const tenant::TenantStats& t) {
  return {{"tenant", redact_secrets(t.tenant)},
          {"configured", t.configured},
          {"active", t.active},
          {"waiting", t.waiting},
          {"oldest_waiter_age_us", us(t.oldest_waiter_age)},
          {"operations", t.operations},
          {"window_operations", t.window_operations},
          {"committed", t.committed},
          {"aborted", t.aborted},
          {"quota_rejections", t.quota_rejections},
          {"early_refusals", t.early_refusals},
          {"timeouts", t.timeouts},
          {"failures", t.failures}};
}

}  // namespace

json clusters_json(const metrics::Registry& registry) {
  json out = json::array();
  for (const auto& cluster : registry.live_clusters()) {
    const cluster::ClusterStats s = cluster->stats();
    json endpoints = json::array();
    for (const auto& ep : s.endpoints) endpoints.push_back(endpoint_json(ep));
    out.push_back({{"name", redact_secrets(cluster->config().name)},
                   {"failovers", s.failovers},
                   {"no_endpoint", s.no_endpoint},
                   {"endpoints", std::move(endpoints)}});
  }
  return out;
}

json tenants_json(const metrics::Registry& registry) {
  json out = json::array();
  for (const auto& entry : registry.live_tenants()) {
    const tenant::TenantsTotals t = entry.tenants->totals();
    json tenants = json::array();
    for (const auto& s : entry.tenants->exposed_stats(metrics::Registry::kMaxLazyTenantSeries)) tenants.push_back(tenant_json(s));
    out.push_back({{"name", redact_secrets(entry.name)},
                   {"known", t.tenants},
                   {"capacity", t.capacity},
                   {"permits_in_use", t.active},
                   {"waiting", t.waiting},
                   {"reserved_unused", t.reserved_unused},
                   {"created", t.created},
                   {"evicted", t.evicted},
                   {"mean_hold_us", us(t.mean_hold)},
                   {"tenants", std::move(tenants)}});
  }
  return out;
}

}  // namespace reservoir::admin::detail
