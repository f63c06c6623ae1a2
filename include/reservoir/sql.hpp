// reservoir/sql.hpp — the small query-helper shape shared by the SQL backends (PostgreSQL,
// SQLite), so workloads, examples and the bench tool are written once against both.
//
// Not an ORM: parameters are bound positionally ($1.. for PostgreSQL, ?1.. for SQLite), results
// are read by row and column. Each backend's connection type satisfies sql::SqlConnection and
// its transaction guard sql::SqlTransaction (below); each backend checks that with a
// static_assert, so a backend that drifts from the shared shape does not compile.
// Destroying a transaction guard without commit() rolls back.
#pragma once

#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "reservoir/deadline.hpp"
#include "reservoir/error.hpp"

namespace reservoir::sql {

// NULL, integer, real or text.
using Value = std::variant<std::monostate, std::int64_t, double, std::string>;

enum class Isolation { default_level, read_committed, repeatable_read, serializable };

struct TxOptions {
  Isolation isolation = Isolation::default_level;
  bool read_only = false;
};

// Column names of a result, shared by every result of the same statement.
using ColumnNames = std::shared_ptr<const std::vector<std::string>>;

// A fully read result set. Values are kept as the backend's text or typed form and converted
// on access; a conversion that cannot be made is an invalid_argument error.
class Rows {
 public:
  Rows() = default;
  // `values` holds the rows one after another (row-major), `row_count` rows of
  // columns.size() values each; a mismatch throws std::invalid_argument. One allocation for
  // the whole result rather than one per row.
  Rows(std::vector<std::string> columns, std::size_t row_count, std::vector<Value> values);
  // The same with column names shared between results (a backend keeps one list per cached
  // statement, so a query allocates none for its names). Null `columns` means no columns.
  // A named factory, not a constructor: `Rows({}, n, {})` must stay unambiguous.
  static Rows with_shared_columns(ColumnNames columns, std::size_t row_count, std::vector<Value> values);
  // Convenience for tests and small literals: one vector per row, each as wide as `columns`.
  Rows(std::vector<std::string> columns, const std::vector<std::vector<Value>>& rows);

  std::size_t size() const noexcept { return row_count_; }
  bool empty() const noexcept { return row_count_ == 0; }
  const std::vector<std::string>& columns() const noexcept;
  // Column index by name, or nullopt.
  std::optional<std::size_t> column(std::string_view name) const noexcept;

  // Throws std::out_of_range for a row or column outside the result.
  const Value& at(std::size_t row, std::size_t col) const;
  bool is_null(std::size_t row, std::size_t col) const { return std::holds_alternative<std::monostate>(at(row, col)); }
  Result<std::int64_t> get_int(std::size_t row, std::size_t col) const;
  Result<double> get_double(std::size_t row, std::size_t col) const;
  Result<std::string> get_text(std::size_t row, std::size_t col) const;

 private:
  std::size_t width() const noexcept { return columns_ ? columns_->size() : 0; }
  void check_shape() const;

  ColumnNames columns_;
  std::size_t row_count_ = 0;
  std::vector<Value> values_;
};

// Text of a value as SQL would print it ("NULL" for null); for messages and text parameters.
std::string to_text(const Value& v);

std::string_view isolation_sql(Isolation level) noexcept;  // "SERIALIZABLE", ...

// OK unless `sql` holds a NUL byte. Both engines read SQL text as a C string: SQLite stops
// preparing at a NUL and libpq sends the text up to it, so a NUL would silently end the
// statement there. Every backend refuses such text before running any of it.
// `text_params` are values the backend sends as C strings too (PostgreSQL's text parameters;
// SQLite binds with a length and keeps a NUL as data, so it passes none).
// Errors: invalid_argument `<where>: SQL text contains a NUL byte at offset 8 (...)`.
Status check_sql_text(std::string_view where, std::string_view sql, std::span<const Value> text_params = {});

// OK if `options` holds known values (an Isolation outside the enum is refused). Both
// backends' Transaction::begin() call it. Errors: invalid_argument naming the field.
Status check_tx_options(std::string_view where, const TxOptions& options);

// OK if `name` is a plain SQL identifier ([A-Za-z_][A-Za-z0-9_]*, at most `max_length`
// characters), safe to splice into SAVEPOINT / RELEASE / ROLLBACK TO. Errors: invalid_argument.
Status check_savepoint_name(std::string_view name, std::size_t max_length);

// One session of a SQL backend: statements with positional parameters, each bounded by a
// deadline. `is_broken()`: never to be reused (the pool closes it).
template <class C>
concept SqlConnection = requires(C& conn, const C& cconn, std::string_view text, std::span<const Value> params,
                                 Deadline deadline) {
  { conn.query(text, params, deadline) } -> std::same_as<Result<Rows>>;
  { conn.query(text, deadline) } -> std::same_as<Result<Rows>>;
  { conn.execute(text, params, deadline) } -> std::same_as<Result<std::int64_t>>;
  { conn.execute(text, deadline) } -> std::same_as<Result<std::int64_t>>;
  { cconn.in_transaction() } -> std::same_as<bool>;
  { cconn.is_broken() } -> std::same_as<bool>;
  conn.mark_broken();
};

// A backend's BEGIN..COMMIT guard on a SqlConnection: savepoints, commit, rollback, and whether
// it is still open (`active()`: neither commit() nor rollback() ran yet).
template <class T>
concept SqlTransaction =
    std::move_constructible<T> && SqlConnection<std::remove_cvref_t<decltype(std::declval<const T&>().connection())>> &&
    requires(T& tx, const T& ctx, std::string_view name, TxOptions options, Deadline deadline,
             std::remove_cvref_t<decltype(std::declval<const T&>().connection())>& conn) {
      { T::begin(conn, options, deadline) } -> std::same_as<Result<T>>;
      { tx.savepoint(name) } -> std::same_as<Status>;
      { tx.rollback_to(name) } -> std::same_as<Status>;
      { tx.release(name) } -> std::same_as<Status>;
      { tx.commit() } -> std::same_as<Status>;
      { tx.rollback() } -> std::same_as<Status>;
      { ctx.active() } -> std::same_as<bool>;
      { ctx.deadline() } -> std::same_as<Deadline>;
    };

}  // namespace reservoir::sql
