#include "reservoir/pg/role.hpp"

namespace reservoir::pg {

std::optional<TargetRole> parse_target_role(std::string_view text) noexcept {
  if (text == "any") return TargetRole::any;
  if (text == "primary" || text == "read-write") return TargetRole::primary;
  if (text == "standby") return TargetRole::standby;
  return std::nullopt;
}

}  // namespace reservoir::pg
