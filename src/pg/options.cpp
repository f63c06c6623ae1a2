// ConnectorOptions: validation and the environment (connector.hpp).
#include <cstdlib>
#include <string>

#include "reservoir/config_check.hpp"
#include "reservoir/pg/connector.hpp"

namespace reservoir::pg {

namespace {
constexpr std::pair<std::string_view, ResetMode> kResetModes[] = {
    {"full", ResetMode::full}, {"tracked", ResetMode::tracked}, {"rollback", ResetMode::rollback}};
}  // namespace

std::string_view to_string(ResetMode mode) noexcept {
  for (const auto& [text, value] : kResetModes) {
    if (value == mode) return text;
  }
  return "unknown";
}

Status ConnectorOptions::validate() const {
  if (Status s = config_check::choice("reset", reset, kResetModes); !s) return s;
  // tracked with no statement to run would be rollback-only under another name.
  if (reset == ResetMode::tracked && reset_sql.empty()) {
    return config_check::invalid("reset_sql", config_check::quoted(reset_sql),
                                 "a statement when reset is tracked (reset = rollback resets nothing but the transaction)");
  }
  return {};
}

Result<ConnectorOptions> ConnectorOptions::from_env(std::string_view prefix, ConnectorOptions base) {
  const std::string name = std::string(prefix) + "RESET";
  if (const char* v = std::getenv(name.c_str())) {
    std::string allowed;
    bool found = false;
    for (const auto& [text, value] : kResetModes) {
      if (text == v) {
        base.reset = value;
        found = true;
      }
      allowed.append(allowed.empty() ? "" : ", ").append(text);
    }
    if (!found) return config_check::invalid(name, config_check::quoted(v), allowed);
  }
  if (Status s = base.validate(); !s) return std::move(s).error();
  return base;
}

Result<ConnectorOptions> ConnectorOptions::from_env(std::string_view prefix) { return from_env(prefix, ConnectorOptions{}); }

}  // namespace reservoir::pg
