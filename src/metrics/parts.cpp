// The cluster and tenant families. Label sets: {cluster, endpoint, tier} per endpoint,
// {cluster} per cluster, {tenants} per tenant registry, {tenants, tenant} per tenant.
#include <cstdint>
#include <string>

#include "render_parts.hpp"

namespace reservoir::metrics {
namespace {

double seconds(Duration d) { return static_cast<double>(d.count()) / 1e9; }
std::uint64_t u(std::size_t v) { return static_cast<std::uint64_t>(v); }

// value null: the latency, in seconds.
struct EndpointFigure {
  const char* name;
  const char* type;
  const char* help;
  std::uint64_t (*value)(const cluster::EndpointStats&);
};

constexpr EndpointFigure kEndpointFigures[] = {
    {"reservoir_cluster_endpoint_ejected", "gauge", "1 while the outlier detector has the endpoint ejected",
     [](const cluster::EndpointStats& s) { return std::uint64_t{s.state == cluster::EndpointState::ejected}; }},
    {"reservoir_cluster_endpoint_draining", "gauge", "1 while the endpoint is being removed (takes no new acquire)",
     [](const cluster::EndpointStats& s) { return std::uint64_t{s.state == cluster::EndpointState::draining}; }},
    {"reservoir_cluster_endpoint_serving", "gauge", "1 while the endpoint can be picked (not ejected, breaker not open, not draining)",
     [](const cluster::EndpointStats& s) { return std::uint64_t{s.state == cluster::EndpointState::serving}; }},
    {"reservoir_cluster_endpoint_weight", "gauge", "the endpoint's configured weight",
     [](const cluster::EndpointStats& s) { return std::uint64_t{s.weight}; }},
    {"reservoir_cluster_endpoint_outstanding", "gauge", "leases out plus callers queued at the endpoint's pool",
     [](const cluster::EndpointStats& s) { return u(s.load.in_use + s.load.waiting); }},
    {"reservoir_cluster_endpoint_latency_seconds", "gauge", "decayed average duration of successful operations (0: no sample yet)", nullptr},
    {"reservoir_cluster_endpoint_ejections_total", "counter", "times the outlier detector ejected the endpoint",
     [](const cluster::EndpointStats& s) { return s.ejections; }},
    {"reservoir_cluster_endpoint_picks_total", "counter", "acquires sent to the endpoint",
     [](const cluster::EndpointStats& s) { return s.picks; }},
    {"reservoir_cluster_endpoint_failures_total", "counter", "failed outcomes seen by the outlier detector",
     [](const cluster::EndpointStats& s) { return s.failures; }},
};

// Read/write routing (cluster/routing.hpp), for the clusters that route only.
void render_routing(Exposition& e, const std::vector<ClusterSample>& clusters) {
  bool any = false;
  for (const auto& c : clusters) any = any || c.stats.routing;
  if (!any) return;
  e.family("reservoir_cluster_read_fallbacks_total", "counter", "reads sent to the primary because no replica was eligible");
  for (const auto& c : clusters) {
    if (c.stats.routing) e.sample("reservoir_cluster_read_fallbacks_total", {{"cluster", c.cluster->config().name}}, c.stats.read_fallbacks);
  }
  e.family("reservoir_cluster_write_reroutes_total", "counter", "writes a replica refused, sent on to the primary");
  for (const auto& c : clusters) {
    if (c.stats.routing) e.sample("reservoir_cluster_write_reroutes_total", {{"cluster", c.cluster->config().name}}, c.stats.write_reroutes);
  }
  e.family("reservoir_cluster_endpoint_replica_lag_seconds", "gauge", "a replica's lag at its last probe (absent: not a replica)");
  for (const auto& c : clusters) {
    for (const auto& ep : c.stats.endpoints) {
      if (c.stats.routing && ep.role == cluster::EndpointRole::replica) {
        e.sample("reservoir_cluster_endpoint_replica_lag_seconds", {{"cluster", c.cluster->config().name}, {"endpoint", ep.name}},
                 seconds(ep.replica_lag));
      }
    }
  }
}

}  // namespace

void render_clusters(Exposition& e, const std::vector<ClusterSample>& clusters) {
  if (clusters.empty()) return;
  std::string tier;
  for (const EndpointFigure& f : kEndpointFigures) {
    e.family(f.name, f.type, f.help);
    for (const auto& c : clusters) {
      const std::string& name = c.cluster->config().name;
      for (const auto& ep : c.stats.endpoints) {
        tier = std::to_string(ep.priority);
        if (f.value != nullptr) e.sample(f.name, {{"cluster", name}, {"endpoint", ep.name}, {"tier", tier}}, f.value(ep));
        else e.sample(f.name, {{"cluster", name}, {"endpoint", ep.name}, {"tier", tier}}, seconds(ep.latency_ewma));
      }
    }
  }
  e.family("reservoir_cluster_failovers_total", "counter", "acquires that moved on to another endpoint");
  for (const auto& c : clusters) e.sample("reservoir_cluster_failovers_total", {{"cluster", c.cluster->config().name}}, c.stats.failovers);
  e.family("reservoir_cluster_no_endpoint_total", "counter", "acquires refused because no endpoint served");
  for (const auto& c : clusters) e.sample("reservoir_cluster_no_endpoint_total", {{"cluster", c.cluster->config().name}}, c.stats.no_endpoint);
  render_routing(e, clusters);
}

void render_tenants(Exposition& e, const std::vector<TenantsSample>& registries) {
  if (registries.empty()) return;
  struct Total {
    const char* name;
    const char* type;
    const char* help;
    std::uint64_t (*value)(const tenant::TenantsTotals&);
  };
  static constexpr Total kTotals[] = {
      {"reservoir_tenants_permits_in_use", "gauge", "leases out through the registry", [](const tenant::TenantsTotals& t) { return u(t.active); }},
      {"reservoir_tenants_waiting", "gauge", "requests queued in the registry", [](const tenant::TenantsTotals& t) { return u(t.waiting); }},
      {"reservoir_tenants_capacity", "gauge", "the lease source's capacity (permits)", [](const tenant::TenantsTotals& t) { return u(t.capacity); }},
      {"reservoir_tenants_known", "gauge", "tenants known now (configured and lazily created)", [](const tenant::TenantsTotals& t) { return u(t.tenants); }},
      {"reservoir_tenants_created_total", "counter", "tenants created on first use", [](const tenant::TenantsTotals& t) { return t.created; }},
      {"reservoir_tenants_evicted_total", "counter", "lazily created tenants forgotten after idle_ttl", [](const tenant::TenantsTotals& t) { return t.evicted; }},
  };
  for (const Total& f : kTotals) {
    e.family(f.name, f.type, f.help);
    for (const auto& r : registries) e.sample(f.name, {{"tenants", r.name}}, f.value(r.totals));
  }

  struct PerTenant {
    const char* name;
    const char* type;
    const char* help;
    std::uint64_t (*value)(const tenant::TenantStats&);
  };
  static constexpr PerTenant kPerTenant[] = {
      {"reservoir_tenant_active_leases", "gauge", "leases the tenant holds now", [](const tenant::TenantStats& t) { return u(t.active); }},
      {"reservoir_tenant_waiting", "gauge", "requests the tenant has queued now", [](const tenant::TenantStats& t) { return u(t.waiting); }},
      {"reservoir_tenant_operations_total", "counter", "leases granted to the tenant", [](const tenant::TenantStats& t) { return t.operations; }},
      {"reservoir_tenant_quota_rejections_total", "counter", "requests refused with quota_exceeded", [](const tenant::TenantStats& t) { return t.quota_rejections; }},
      {"reservoir_tenant_early_refusals_total", "counter", "requests refused because the expected wait exceeded the deadline", [](const tenant::TenantStats& t) { return t.early_refusals; }},
      {"reservoir_tenant_timeouts_total", "counter", "requests that waited until their deadline", [](const tenant::TenantStats& t) { return t.timeouts; }},
  };
  for (const PerTenant& f : kPerTenant) {
    e.family(f.name, f.type, f.help);
    for (const auto& r : registries)
      for (const auto& t : r.tenants) e.sample(f.name, {{"tenants", r.name}, {"tenant", t.tenant}}, f.value(t));
  }
  e.family("reservoir_tenant_oldest_waiter_age_seconds", "gauge", "how long the tenant's first queued request has waited (0: none)");
  for (const auto& r : registries)
    for (const auto& t : r.tenants)
      e.sample("reservoir_tenant_oldest_waiter_age_seconds", {{"tenants", r.name}, {"tenant", t.tenant}}, seconds(t.oldest_waiter_age));
  e.family("reservoir_tenant_transactions_total", "counter", "transactions counted through TenantLease::count_transaction(), by outcome");
  for (const auto& r : registries) {
    for (const auto& t : r.tenants) {
      e.sample("reservoir_tenant_transactions_total", {{"tenants", r.name}, {"tenant", t.tenant}, {"outcome", "committed"}}, t.committed);
      e.sample("reservoir_tenant_transactions_total", {{"tenants", r.name}, {"tenant", t.tenant}, {"outcome", "aborted"}}, t.aborted);
    }
  }
}

}  // namespace reservoir::metrics
