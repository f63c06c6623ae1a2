// reservoir/error.hpp — errors as values: Error, Result<T> and Status.
//
// One error type with a kind that carries a retry meaning (after abseil's status codes) and a
// message that names the endpoint and the cause. Messages never contain secrets: backends
// redact before they build one.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <optional>
#include <variant>

namespace reservoir {

enum class ErrorKind {
  timeout,          // a deadline passed; the operation may still have completed server-side
  unavailable,      // endpoint unreachable or connection broken; retry with backoff
  exhausted,        // no connection free within the deadline; every slot in use
  circuit_open,     // the endpoint's breaker rejects calls for now; fail fast
  shutting_down,    // the pool is closing; never retry
  quota_exceeded,   // a session or budget limit was hit
  backend,          // the backend answered with an error (SQLSTATE, HTTP status, ...)
  invalid_config,   // a configuration value is not allowed; a caller bug
  invalid_argument, // a call's argument is not allowed; a caller bug
  busy,             // a resource is held by someone else (e.g. a store lock)
  cancelled,        // the caller withdrew the request (e.g. PendingAcquire::cancel())
  internal,         // a bug in reservoir
};

std::string_view to_string(ErrorKind kind) noexcept;

class Error {
 public:
  Error(ErrorKind kind, std::string detail, bool retryable, std::string code = {})
      : kind_(kind), detail_(std::move(detail)), code_(std::move(code)), retryable_(retryable) {}

  // The conventional retry meaning of `kind` (unavailable, timeout and exhausted retry;
  // caller bugs and shutdown never do).
  static bool default_retryable(ErrorKind kind) noexcept;

  static Error make(ErrorKind kind, std::string detail) {
    return Error(kind, std::move(detail), default_retryable(kind));
  }
  // `unavailable: <endpoint>: <cause>`
  static Error unavailable(std::string_view endpoint, std::string_view cause);
  static Error timeout(std::string detail) { return make(ErrorKind::timeout, std::move(detail)); }
  // `<field>=<value>: <allowed>`. Components build it through config_check.hpp, which words
  // every one alike (`field=value: allowed ...`).
  // code() is `field`, so a caller can tell which field without parsing the text.
  static Error invalid_config(std::string_view field, std::string_view value, std::string_view allowed);

  ErrorKind kind() const noexcept { return kind_; }
  // The text after the kind: endpoint, cause, counts.
  const std::string& detail() const noexcept { return detail_; }
  // Backend-specific code: SQLSTATE for PostgreSQL, the HTTP status, the SQLite result code;
  // for invalid_config, the field named (`max_size`, `backoff.cap`), so no caller parses text.
  const std::string& code() const noexcept { return code_; }
  bool retryable() const noexcept { return retryable_; }

  // A fact about the failed operation, not about its retry meaning: its request certainly did
  // not run on the server (it never left, or the server skipped it: a PostgreSQL statement
  // queued behind a session reset that failed). run() may then retry even a non-idempotent
  // operation (retry.hpp), since a retry cannot make it run twice. Backends set it only where
  // they know; the default is the safe assumption that it may have run.
  bool not_executed() const noexcept { return not_executed_; }
  Error&& mark_not_executed() && noexcept {
    not_executed_ = true;
    return std::move(*this);
  }

  // `<kind>: <detail>`, e.g. `unavailable: 127.0.0.1:5432: connection refused`.
  std::string message() const;

 private:
  ErrorKind kind_;
  std::string detail_;
  std::string code_;
  bool retryable_;
  bool not_executed_ = false;
};

// Holds a T or an Error. Small and allocation-free on the success path (C++20 has no
// std::expected).
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { assert(!ok()); return std::get<1>(v_); }
  Error&& error() && { assert(!ok()); return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

// Success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::in_place, std::move(error)) {}

  bool ok() const noexcept { return !error_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  const Error& error() const& { assert(!ok()); return *error_; }
  Error&& error() && { assert(!ok()); return std::move(*error_); }

 private:
  std::optional<Error> error_;
};

using Status = Result<void>;

}  // namespace reservoir
