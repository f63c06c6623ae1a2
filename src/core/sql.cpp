#include "reservoir/sql.hpp"

#include <charconv>
#include <cstdlib>

namespace reservoir::sql {

std::optional<std::size_t> Rows::column(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    if (columns_[i] == name) return i;
  }
  return std::nullopt;
}

namespace {
Error conversion_error(std::size_t row, std::size_t col, std::string_view want, const Value& v) {
  return Error::make(ErrorKind::invalid_argument, "row " + std::to_string(row) + " column " +
                                                      std::to_string(col) + ": cannot read " + to_text(v) + " as " + std::string(want));
}
}  // namespace

Result<std::int64_t> Rows::get_int(std::size_t row, std::size_t col) const {
  const Value& v = at(row, col);
  if (auto* i = std::get_if<std::int64_t>(&v)) return *i;
  if (auto* s = std::get_if<std::string>(&v)) {
    std::int64_t out = 0;
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), out);
    if (ec == std::errc() && p == s->data() + s->size()) return out;
  }
  return conversion_error(row, col, "integer", v);
}

Result<double> Rows::get_double(std::size_t row, std::size_t col) const {
  const Value& v = at(row, col);
  if (auto* d = std::get_if<double>(&v)) return *d;
  if (auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  if (auto* s = std::get_if<std::string>(&v)) {
    char* end = nullptr;
    double out = std::strtod(s->c_str(), &end);
    if (!s->empty() && end == s->c_str() + s->size()) return out;
  }
  return conversion_error(row, col, "real", v);
}

Result<std::string> Rows::get_text(std::size_t row, std::size_t col) const {
  const Value& v = at(row, col);
  if (std::holds_alternative<std::monostate>(v)) return conversion_error(row, col, "text", v);
  return to_text(v);
}

std::string to_text(const Value& v) {
  struct Visitor {
    std::string operator()(std::monostate) const { return "NULL"; }
    std::string operator()(std::int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const {
      char buf[32];
      auto [p, ec] = std::to_chars(buf, buf + sizeof buf, d);
      return std::string(buf, p);
    }
    std::string operator()(const std::string& s) const { return s; }
  };
  return std::visit(Visitor{}, v);
}

std::string_view isolation_sql(Isolation level) noexcept {
  switch (level) {
    case Isolation::read_committed: return "READ COMMITTED";
    case Isolation::repeatable_read: return "REPEATABLE READ";
    case Isolation::serializable: return "SERIALIZABLE";
    case Isolation::default_level: break;
  }
  return "";
}

Status check_savepoint_name(std::string_view name, std::size_t max_length) {
  bool ok = !name.empty() && name.size() <= max_length;
  for (std::size_t i = 0; ok && i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    ok = alpha || (i > 0 && c >= '0' && c <= '9');
  }
  if (ok) return {};
  return Error::make(ErrorKind::invalid_argument, "savepoint name '" + std::string(name) +
                                                      "': must match [A-Za-z_][A-Za-z0-9_]* (at most " +
                                                      std::to_string(max_length) + " characters)");
}

}  // namespace reservoir::sql
