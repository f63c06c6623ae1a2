#include "reservoir/tenant/stats.hpp"

#include "reservoir/duration.hpp"

namespace reservoir::tenant {

std::string TenantStats::to_string() const {
  std::string s = "tenant=" + tenant;
  auto add = [&s](const char* key, std::uint64_t v) { s.append(" ").append(key).append("=").append(std::to_string(v)); };
  add("active", active);
  add("waiting", waiting);
  s.append(" oldest_waiter_age_ms=").append(std::to_string(ceil_ms(oldest_waiter_age)));
  add("operations", operations);
  add("window_operations", window_operations);
  add("committed", committed);
  add("aborted", aborted);
  add("quota_rejections", quota_rejections);
  add("early_refusals", early_refusals);
  add("timeouts", timeouts);
  add("failures", failures);
  return s;
}

}  // namespace reservoir::tenant
