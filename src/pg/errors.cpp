#include "reservoir/pg/errors.hpp"

#include <string>

namespace reservoir::pg {

bool is_connection_sqlstate(std::string_view s) noexcept {
  return s.starts_with("08") || s == "57P01" || s == "57P02" || s == "57P03";
}

bool is_retryable_sqlstate(std::string_view s) noexcept {
  return is_connection_sqlstate(s) || s == "53300" || s == "40001" || s == "40P01";
}

bool is_transaction_conflict(const Error& error) noexcept {
  return error.code() == "40001" || error.code() == "40P01";
}

bool is_standby_write(const Error& error) noexcept {
  return error.kind() == ErrorKind::unavailable && error.code() == "25006";
}

Error server_error(std::string_view endpoint, std::string_view sqlstate, std::string_view message) {
  std::string detail;
  detail.append(endpoint).append(": ").append(message);
  if (!sqlstate.empty()) detail.append(" (SQLSTATE ").append(sqlstate).append(")");
  const bool connection_level = is_connection_sqlstate(sqlstate) || sqlstate == "53300";
  const ErrorKind kind = connection_level ? ErrorKind::unavailable : ErrorKind::backend;
  return Error(kind, std::move(detail), is_retryable_sqlstate(sqlstate), std::string(sqlstate));
}

}  // namespace reservoir::pg
