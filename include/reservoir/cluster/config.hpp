// reservoir/cluster/config.hpp — what a Cluster is built from: its endpoints, how it picks
// one per acquire, and when it ejects an outlier.
//
// Plain aggregates, validated by Cluster::create() (and by every runtime change, which is
// refused whole when invalid). Fields may be added later (always with a default).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "reservoir/breaker.hpp"
#include "reservoir/cluster/routing.hpp"
#include "reservoir/config.hpp"
#include "reservoir/connector.hpp"
#include "reservoir/error.hpp"

namespace reservoir::cluster {

// How an endpoint is chosen among the serving endpoints of the best priority tier.
enum class Policy : std::uint8_t {
  // Smooth weighted round robin (nginx's): each endpoint in turn, in proportion to its weight.
  round_robin,
  // Power of two choices (Envoy's default least-request): two endpoints drawn at random, the
  // one with the lower cost wins; cost = (leased + queued + 1) x decayed latency / weight
  // (Finagle's peak-EWMA idea). Endpoints with no latency sample yet cost the cluster's mean.
  least_outstanding,
};

std::string_view to_string(Policy policy) noexcept;

struct EndpointSpec {
  // Unique in the cluster; names the endpoint in stats, logs and errors. Default: the
  // connector's endpoint() (`host:port`). Never a secret.
  std::string name;
  std::shared_ptr<Connector> connector;
  // Share of traffic relative to the others of its tier (1..1000).
  std::uint32_t weight = 1;
  // Failover tier, 0 first (0..15): an endpoint of tier N+1 is used only while no endpoint
  // of tier N serves (all ejected, circuit open or draining).
  std::uint32_t priority = 0;
};

// After Envoy's outlier detector (consecutive failures; failure rate against the peers; a
// growing ejection time; a cap on the share ejected), plus latency ejection (Envoy #288).
// An outcome is a failure when its kind is unavailable or timeout: the endpoint did not
// answer; a backend error means it did.
struct OutlierConfig {
  // Eject after this many failures in a row (0 = off; else 1..100000).
  std::uint32_t consecutive_failures = 5;
  // Failure rate and latency are judged once per interval over its outcomes (1ms..1h).
  Duration interval = std::chrono::seconds(10);
  // Failure rate: eject an endpoint whose rate over the interval is at least
  // failure_rate_min AND at least failure_rate_factor x the median rate of its peers (the
  // other endpoints with minimum_requests outcomes). A simple ratio against the median, not
  // Envoy's mean - k*stdev, which needs 5+ hosts to mean anything; this works with 2.
  double failure_rate_min = 0.2;     // 0 = off; else 0.0 < x <= 1.0
  double failure_rate_factor = 3.0;  // 1.0..1000.0
  std::uint32_t minimum_requests = 20;  // per endpoint and interval (1..1000000)
  // Latency: eject an endpoint whose decayed latency is above latency_factor x the median of
  // its peers' and above latency_floor (so 3 us against 1 us never ejects). 0 = off (1.0..1000.0).
  double latency_factor = 5.0;
  Duration latency_floor = std::chrono::milliseconds(10);  // 0..1h
  // The latency average decays with this time constant (weight of a sample older by t:
  // exp(-t/latency_decay)); it also feeds least_outstanding (1ms..1h).
  Duration latency_decay = std::chrono::seconds(10);
  // Ejected for base_ejection_time x (ejections so far), at most max_ejection_time; one
  // interval without failures forgives one ejection (Envoy's rule).
  Duration base_ejection_time = std::chrono::seconds(30);   // 1ms..24h
  Duration max_ejection_time = std::chrono::seconds(300);   // base_ejection_time..24h
  // Never more than this share of the endpoints ejected at once (0..100). As in Envoy at least
  // one endpoint may be ejected whatever the share (unless 0); and never the last one that
  // serves: an ejection that would leave no endpoint is not made.
  std::uint32_t max_ejection_percent = 50;

  Status validate() const;
};

struct ClusterConfig {
  std::string name = "cluster";
  Policy policy = Policy::least_outstanding;
  std::vector<EndpointSpec> endpoints;
  // Every endpoint's pool (its name becomes `<cluster>/<endpoint>`).
  PoolConfig pool{};
  // Every endpoint's circuit breaker, also its pool's connect gate.
  BreakerConfig breaker{};
  OutlierConfig outlier{};
  // An endpoint added at runtime takes traffic in proportion to its age / warmup, from 10%,
  // while its pool fills (0 = off; else 1ms..1h).
  Duration warmup = std::chrono::seconds(0);
  // Read/write routing over a primary and replicas (routing.hpp); off unless roles is set.
  RoutingConfig routing{};

  // OK, or invalid_config naming the field (`cluster.endpoints[1].weight`), value and range.
  Status validate() const;
};

// The endpoint list alone (for runtime changes): empty, duplicates, weights, tiers, null
// connectors. `field` heads the names (`cluster.endpoints`).
Status validate_endpoints(const std::vector<EndpointSpec>& endpoints, std::string_view field = "cluster.endpoints");

}  // namespace reservoir::cluster
