#include "reservoir/cluster/config.hpp"

#include <chrono>
#include <string>
#include <utility>

#include "reservoir/config_check.hpp"

namespace reservoir::cluster {

namespace cc = reservoir::config_check;
using namespace std::chrono_literals;

std::string_view to_string(Policy policy) noexcept {
  switch (policy) {
    case Policy::round_robin: return "round_robin";
    case Policy::least_outstanding: return "least_outstanding";
  }
  return "unknown";
}

Status OutlierConfig::validate() const {
  for (Status s : {cc::count("outlier.consecutive_failures", consecutive_failures, 0, 100000),
                   cc::duration("outlier.interval", interval, 1ms, 1h),
                   cc::number("outlier.failure_rate_min", failure_rate_min, 0.0, 1.0),
                   cc::number("outlier.failure_rate_factor", failure_rate_factor, 1.0, 1000.0),
                   cc::count("outlier.minimum_requests", minimum_requests, 1, 1000000),
                   cc::duration("outlier.latency_floor", latency_floor, 0ms, 1h),
                   cc::duration("outlier.latency_decay", latency_decay, 1ms, 1h),
                   cc::duration("outlier.base_ejection_time", base_ejection_time, 1ms, 24h),
                   cc::duration("outlier.max_ejection_time", max_ejection_time, 1ms, 24h),
                   cc::count("outlier.max_ejection_percent", max_ejection_percent, 0, 100)}) {
    if (!s) return s;
  }
  if (latency_factor != 0.0) {
    if (Status s = cc::number("outlier.latency_factor", latency_factor, 1.0, 1000.0); !s) {
      return cc::invalid("outlier.latency_factor", cc::number_text(latency_factor), "0 (off) or 1..1000");
    }
  }
  if (base_ejection_time > max_ejection_time) {
    return cc::invalid("outlier.base_ejection_time", format_duration(base_ejection_time),
                       "at most outlier.max_ejection_time (" + format_duration(max_ejection_time) + ")");
  }
  return {};
}

std::string_view to_string(Access access) noexcept {
  switch (access) {
    case Access::any: return "any";
    case Access::read: return "read";
    case Access::write: return "write";
  }
  return "unknown";
}

std::string_view to_string(EndpointRole role) noexcept {
  switch (role) {
    case EndpointRole::unknown: return "unknown";
    case EndpointRole::primary: return "primary";
    case EndpointRole::replica: return "replica";
  }
  return "unknown";
}

Status RoutingConfig::validate() const {
  for (Status s : {cc::duration("cluster.routing.max_replica_lag", max_replica_lag, 1ms, 24h, cc::ZeroIsOff::yes),
                   cc::duration("cluster.routing.status_interval", status_interval, 1ms, 1h),
                   cc::duration("cluster.routing.read_your_writes_wait", read_your_writes_wait, 0ms, 1min)}) {
    if (!s) return s;
  }
  return {};
}

Status validate_endpoints(const std::vector<EndpointSpec>& endpoints, std::string_view field) {
  if (endpoints.empty()) return cc::invalid(field, "[]", "1 or more endpoints");
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    const EndpointSpec& e = endpoints[i];
    const std::string at = std::string(field) + "[" + std::to_string(i) + "]";
    if (!e.connector) return cc::invalid(at + ".connector", "null", "a connector");
    const std::string name = e.name.empty() ? e.connector->endpoint() : e.name;
    if (name.empty()) return cc::invalid(at + ".name", cc::quoted(name), "a non-empty name");
    if (Status s = cc::count(at + ".weight", e.weight, 1, 1000); !s) return s;
    if (Status s = cc::count(at + ".priority", e.priority, 0, 15); !s) return s;
    for (std::size_t j = 0; j < i; ++j) {
      const EndpointSpec& o = endpoints[j];
      if ((o.name.empty() ? o.connector->endpoint() : o.name) == name) {
        return cc::invalid(at + ".name", cc::quoted(name),
                           "a name no other endpoint has (" + std::string(field) + "[" + std::to_string(j) + "] has it)");
      }
    }
  }
  return {};
}

Status ClusterConfig::validate() const {
  static constexpr std::pair<std::string_view, Policy> kPolicies[] = {{"round_robin", Policy::round_robin},
                                                                      {"least_outstanding", Policy::least_outstanding}};
  if (Status s = cc::choice("cluster.policy", policy, kPolicies); !s) return s;
  if (name.empty()) return cc::invalid("cluster.name", cc::quoted(name), "a non-empty name");
  if (Status s = validate_endpoints(endpoints); !s) return s;
  if (Status s = cc::duration("cluster.warmup", warmup, 0ms, 1h); !s) return s;
  if (Status s = outlier.validate(); !s) return s;
  if (Status s = routing.validate(); !s) return s;
  if (Status s = breaker.validate(); !s) return s;
  return pool.validate();
}

}  // namespace reservoir::cluster
