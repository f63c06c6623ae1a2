#include "reservoir/tenant/config.hpp"

#include <chrono>

#include "reservoir/config_check.hpp"

namespace reservoir::tenant {

namespace cc = config_check;
using namespace std::chrono;

namespace {

Status check_tenant(const std::string& prefix, const TenantConfig& t, std::size_t capacity) {
  if (auto s = cc::count(prefix + ".weight", t.weight, 1, 1000); !s) return s;
  if (auto s = cc::count(prefix + ".guarantee", t.guarantee, 0, capacity); !s) return s;
  if (t.max_leases != 0) {
    const std::size_t lo = t.guarantee > 0 ? t.guarantee : 1;
    if (t.max_leases < lo || t.max_leases > capacity) {
      return cc::invalid(prefix + ".max_leases", std::to_string(t.max_leases),
                         "0 (the source's capacity) or " + std::to_string(lo) + ".." + std::to_string(capacity) +
                             " (at least the guarantee, at most the capacity)");
    }
  }
  if (auto s = cc::duration(prefix + ".operations_window", t.operations_window, milliseconds(1), hours(24),
                            cc::ZeroIsOff::yes);
      !s) {
    return s;
  }
  return cc::count(prefix + ".max_waiting", t.max_waiting, 0, 1'000'000);
}

}  // namespace

Status TenantsConfig::validate(std::size_t capacity) const {
  if (auto s = check_tenant("defaults", defaults, capacity); !s) return s;
  if (defaults.guarantee != 0) {
    return cc::invalid("defaults.guarantee", std::to_string(defaults.guarantee),
                       "0 (tenants created on first use reserve nothing)");
  }
  std::size_t sum = 0;
  for (const auto& [id, t] : tenants) {
    const std::string prefix = "tenants[" + cc::quoted(id) + "]";
    if (id.empty()) return cc::invalid("tenants", cc::quoted(id), "non-empty tenant ids");
    if (auto s = check_tenant(prefix, t, capacity); !s) return s;
    sum += t.guarantee;
  }
  if (sum > capacity) {
    return cc::invalid("tenants.guarantee_sum", std::to_string(sum),
                       "0.." + std::to_string(capacity) + " (the source's capacity)");
  }
  if (auto s = cc::duration("idle_ttl", idle_ttl, milliseconds(1), hours(24)); !s) return s;
  return cc::count("min_hold_samples", min_hold_samples, 1, 100'000);
}

}  // namespace reservoir::tenant
