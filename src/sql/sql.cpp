#include "reservoir/sql.hpp"

#include <charconv>
#include <cstdlib>
#include <stdexcept>

namespace reservoir::sql {

Rows::Rows(std::vector<std::string> columns, std::size_t row_count, std::vector<Value> values)
    : columns_(std::make_shared<const std::vector<std::string>>(std::move(columns))),
      row_count_(row_count),
      values_(std::move(values)) {
  check_shape();
}

Rows Rows::with_shared_columns(ColumnNames columns, std::size_t row_count, std::vector<Value> values) {
  Rows rows;
  rows.columns_ = std::move(columns);
  rows.row_count_ = row_count;
  rows.values_ = std::move(values);
  rows.check_shape();
  return rows;
}

Rows::Rows(std::vector<std::string> columns, const std::vector<std::vector<Value>>& rows)
    : columns_(std::make_shared<const std::vector<std::string>>(std::move(columns))), row_count_(rows.size()) {
  values_.reserve(row_count_ * width());
  for (const auto& row : rows) {
    if (row.size() != width()) throw std::invalid_argument("sql::Rows: a row is not as wide as the columns");
    values_.insert(values_.end(), row.begin(), row.end());
  }
}

void Rows::check_shape() const {
  if (values_.size() != row_count_ * width()) {
    throw std::invalid_argument("sql::Rows: " + std::to_string(values_.size()) + " values for " +
                                std::to_string(row_count_) + " rows of " + std::to_string(width()) + " columns");
  }
}

const std::vector<std::string>& Rows::columns() const noexcept {
  static const std::vector<std::string> kNone;
  return columns_ ? *columns_ : kNone;
}

const Value& Rows::at(std::size_t row, std::size_t col) const {
  if (row >= row_count_ || col >= width()) {
    throw std::out_of_range("sql::Rows: no value at row " + std::to_string(row) + " column " + std::to_string(col));
  }
  return values_[row * width() + col];
}

std::optional<std::size_t> Rows::column(std::string_view name) const noexcept {
  const auto& names = columns();
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return i;
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
    double out = 0;  // from_chars, as get_int: no spaces, no locale
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), out);
    if (ec == std::errc() && p == s->data() + s->size() && !s->empty()) return out;
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

namespace {
Error nul_error(std::string_view where, const std::string& what, std::size_t offset) {
  return Error::make(ErrorKind::invalid_argument, std::string(where) + ": " + what + " contains a NUL byte at offset " +
                                                      std::to_string(offset) + " (it would end the " +
                                                      (what == "SQL text" ? "text" : "value") + " there)");
}
}  // namespace

Status check_sql_text(std::string_view where, std::string_view sql, std::span<const Value> text_params) {
  if (auto at = sql.find('\0'); at != std::string_view::npos) return nul_error(where, "SQL text", at);
  for (std::size_t i = 0; i < text_params.size(); ++i) {
    const auto* s = std::get_if<std::string>(&text_params[i]);
    if (s == nullptr) continue;
    if (auto at = s->find('\0'); at != std::string::npos) return nul_error(where, "parameter $" + std::to_string(i + 1), at);
  }
  return {};
}

Status check_tx_options(std::string_view where, const TxOptions& options) {
  switch (options.isolation) {
    case Isolation::default_level:
    case Isolation::read_committed:
    case Isolation::repeatable_read:
    case Isolation::serializable:
      return {};
  }
  return Error::make(ErrorKind::invalid_argument,
                     std::string(where) + ": isolation=" + std::to_string(static_cast<int>(options.isolation)) +
                         ": allowed default_level, read_committed, repeatable_read, serializable");
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
