#include "reservoir/error.hpp"

namespace reservoir {

std::string_view to_string(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::timeout: return "timeout";
    case ErrorKind::unavailable: return "unavailable";
    case ErrorKind::exhausted: return "exhausted";
    case ErrorKind::circuit_open: return "circuit_open";
    case ErrorKind::shutting_down: return "shutting_down";
    case ErrorKind::quota_exceeded: return "quota_exceeded";
    case ErrorKind::backend: return "backend";
    case ErrorKind::invalid_config: return "invalid_config";
    case ErrorKind::invalid_argument: return "invalid_argument";
    case ErrorKind::busy: return "busy";
    case ErrorKind::cancelled: return "cancelled";
    case ErrorKind::internal: return "internal";
  }
  return "unknown";
}

bool Error::default_retryable(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::timeout:
    case ErrorKind::unavailable:
    case ErrorKind::exhausted:
    case ErrorKind::busy:
      return true;
    default:
      return false;
  }
}

Error Error::unavailable(std::string_view endpoint, std::string_view cause) {
  std::string d;
  d.reserve(endpoint.size() + cause.size() + 2);
  d.append(endpoint).append(": ").append(cause);
  return make(ErrorKind::unavailable, std::move(d));
}

Error Error::invalid_config(std::string_view field, std::string_view value, std::string_view allowed) {
  std::string d;
  d.append(field).append("=").append(value).append(": ").append(allowed);
  return Error(ErrorKind::invalid_config, std::move(d), default_retryable(ErrorKind::invalid_config), std::string(field));
}

std::string Error::message() const {
  std::string m(to_string(kind_));
  m.append(": ").append(detail_);
  return m;
}

}  // namespace reservoir
