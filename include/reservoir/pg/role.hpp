// reservoir/pg/role.hpp — what a PostgreSQL server is (primary or hot standby) and which kind a
// connector hands out (ConnectorOptions::target_role, like libpq's target_session_attrs).
//
// A connection learns its server's role from the server itself: the `in_hot_standby` parameter
// status PostgreSQL 14+ reports at connect and again on a live session after a promotion (at
// the session's next statement), else `pg_is_in_recovery()` once at connect (older servers).
#pragma once

#include <optional>
#include <string_view>

namespace reservoir::pg {

enum class ServerRole { primary, standby };

// Which servers a connector accepts: any (default), only a primary (writes), only a standby.
enum class TargetRole { any, primary, standby };

constexpr std::string_view to_string(ServerRole r) noexcept { return r == ServerRole::primary ? "primary" : "standby"; }

constexpr std::string_view to_string(TargetRole r) noexcept {
  switch (r) {
    case TargetRole::any: return "any";
    case TargetRole::primary: return "primary";
    case TargetRole::standby: return "standby";
  }
  return "any";
}

// "any" / "primary" / "standby" (also libpq's "read-write" for primary); nullopt otherwise.
std::optional<TargetRole> parse_target_role(std::string_view text) noexcept;

constexpr bool accepts(TargetRole target, ServerRole role) noexcept {
  return target == TargetRole::any || (target == TargetRole::primary) == (role == ServerRole::primary);
}

}  // namespace reservoir::pg
