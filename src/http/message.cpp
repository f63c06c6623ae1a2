#include "reservoir/http/message.hpp"

#include <boost/beast/core/string.hpp>

namespace reservoir::http {

bool Request::replayable() const noexcept {
  for (std::string_view m : {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
    if (method == m) return true;
  for (const auto& h : headers)
    if (boost::beast::iequals(h.name, "Idempotency-Key")) return true;
  return false;
}

std::optional<std::string_view> Response::header(std::string_view name) const noexcept {
  for (const auto& h : headers)
    if (boost::beast::iequals(h.name, name)) return std::string_view(h.value);
  return std::nullopt;
}

std::string_view to_string(Stage stage) noexcept {
  switch (stage) {
    case Stage::none: return "none";
    case Stage::before_write: return "before_write";
    case Stage::written_no_response: return "written_no_response";
    case Stage::partial_response: return "partial_response";
  }
  return "unknown";
}

}  // namespace reservoir::http
