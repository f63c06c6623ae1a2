// The admin endpoint's JSON documents (/stats.json, /events, /healthz).
#pragma once

#include <nlohmann/json.hpp>

#include "reservoir/admin/events.hpp"
#include "reservoir/admin/health.hpp"
#include "reservoir/metrics/registry.hpp"

namespace reservoir::admin::detail {

nlohmann::json stats_json(const metrics::Registry& registry, const HealthReport& health);
nlohmann::json events_json(const std::vector<EventRecord>& events);
nlohmann::json health_json(const HealthReport& health);

}  // namespace reservoir::admin::detail
