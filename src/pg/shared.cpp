#include "shared.hpp"

namespace reservoir::pg::detail {

std::string Shared::redact(std::string_view text) const {
  std::string out(text);
  if (!password.empty()) {
    for (std::size_t at = out.find(password); at != std::string::npos; at = out.find(password, at + 3)) {
      out.replace(at, password.size(), "***");
    }
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ' || out.back() == '\t')) out.pop_back();
  return out;
}

std::string libpq_message(const Shared& shared, const char* raw) {
  std::string text = shared.redact(raw ? raw : "");
  // libpq 15 prefixes connect errors with `connection to server at "h" (a), port p failed: `;
  // the endpoint is already in our message.
  if (text.starts_with("connection to server")) {
    if (const auto at = text.find("failed: "); at != std::string::npos) text.erase(0, at + 8);
  }
  for (char& ch : text) {
    if (ch == '\n' || ch == '\t') ch = ' ';
  }
  // Server messages come as `FATAL:  text`: keep one space.
  for (std::size_t at = text.find("  "); at != std::string::npos; at = text.find("  ", at)) text.erase(at, 1);
  return text;
}

}  // namespace reservoir::pg::detail
