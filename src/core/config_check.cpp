#include "reservoir/config_check.hpp"

#include <charconv>

namespace reservoir::config_check {

Error invalid(std::string_view field, std::string_view value, std::string_view allowed) {
  std::string text("allowed ");
  text.append(allowed);
  return Error::invalid_config(field, value, text);
}

std::string quoted(std::string_view text) {
  std::string q("\"");
  q.append(text).push_back('"');
  return q;
}

std::string number_text(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

Status count(std::string_view field, std::uint64_t v, std::uint64_t lo, std::uint64_t hi) {
  if (v >= lo && v <= hi) return {};
  return invalid(field, std::to_string(v), std::to_string(lo) + ".." + std::to_string(hi));
}

Status number(std::string_view field, double v, double lo, double hi) {
  if (v >= lo && v <= hi) return {};  // false for NaN
  return invalid(field, number_text(v), number_text(lo) + ".." + number_text(hi));
}

}  // namespace reservoir::config_check
