#include "reservoir/admin/health.hpp"

#include <set>

#include "health_parts.hpp"

namespace reservoir::admin {
namespace {

bool exhausted(const PoolLoad& l) { return l.in_use >= l.max_size && l.waiting > 0; }

std::string ms_text(Duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

}  // namespace

HealthMonitor::HealthMonitor(std::shared_ptr<const metrics::Registry> registry, std::shared_ptr<const EventRing> events,
                             Duration exhausted_threshold, const Clock& clock)
    : registry_(std::move(registry)), events_(std::move(events)), exhausted_threshold_(exhausted_threshold),
      clock_(clock) {}

void HealthMonitor::sample() {
  const TimePoint now = clock_.now();
  std::set<const void*> alive;
  auto pools = registry_->live_pools();
  std::lock_guard g(mu_);
  for (const auto& entry : pools) {
    const void* id = entry.pool.get();
    alive.insert(id);
    if (exhausted(entry.pool->load())) exhausted_since_.try_emplace(id, now);
    else exhausted_since_.erase(id);
  }
  std::erase_if(exhausted_since_, [&](const auto& kv) { return !alive.contains(kv.first); });
}

HealthReport HealthMonitor::report() {
  sample();
  const TimePoint now = clock_.now();
  HealthReport report;
  for (const auto& entry : registry_->live_pools()) {
    const Pool& pool = *entry.pool;
    HealthReport::Component c{.kind = "pool", .name = redact_secrets(pool.config().name)};
    const PoolLoad load = pool.load();
    if (load.open == 0) {
      EventRing::ConnectOutcome last;
      const bool known = events_ != nullptr && events_->last_connect(pool.config().name, last);
      if (known && last.failed) c.reasons.push_back("no connection possible: " + last.error);
      else if (!known && pool.stats().failed_connects > 0 && pool.stats().created == 0)
        c.reasons.push_back("no connection possible: every connect failed");
    }
    {
      std::lock_guard g(mu_);
      auto it = exhausted_since_.find(entry.pool.get());
      if (it != exhausted_since_.end() && now - it->second >= exhausted_threshold_) {
        c.reasons.push_back("exhausted for " + ms_text(now - it->second) + ": " + std::to_string(load.in_use) + "/" +
                            std::to_string(load.max_size) + " in use, " + std::to_string(load.waiting) + " waiting");
      }
    }
    c.healthy = c.reasons.empty();
    report.healthy = report.healthy && c.healthy;
    report.components.push_back(std::move(c));
  }
  for (const auto& entry : registry_->live_breakers()) {
    const CircuitBreaker& b = *entry.breaker;
    HealthReport::Component c{.kind = "breaker", .name = redact_secrets(b.name())};
    if (b.state() == BreakerState::open) c.reasons.push_back("breaker open: next probe in " + ms_text(b.time_until_probe()));
    c.healthy = c.reasons.empty();
    report.healthy = report.healthy && c.healthy;
    report.components.push_back(std::move(c));
  }
  detail::add_cluster_health(*registry_, report);
  detail::add_tenants_health(*registry_, report);
  return report;
}

}  // namespace reservoir::admin
