// reservoir/connector.hpp — what a backend gives the pool: how to open, check, reset and close
// one connection, and how to classify its errors.
//
// The pool core knows no backend. It holds opaque Connection objects and calls a Connector
// (type-erased, virtual). Backends are written against the `PoolConnector` concept with their
// own typed connection; `ConnectorAdapter` bridges the two, and `TypedPool` (typed_pool.hpp)
// gives callers their typed connection back.
#pragma once

#include <concepts>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "reservoir/deadline.hpp"
#include "reservoir/error.hpp"

namespace reservoir {

// How hard a health check looks.
enum class CheckDepth {
  fast,  // local state only, no round trip (< 1 us): handle open, socket not closed by peer
  ping,  // one round trip (empty query, SELECT 1, HEAD)
  deep,  // a configurable real read
};

std::string_view to_string(CheckDepth depth) noexcept;

// An opaque pooled connection. Backends derive from it (or use ConnectorAdapter).
class Connection {
 public:
  virtual ~Connection() = default;
};

// One of a backend's own counters (PostgreSQL's statement cache hits, ...), summed over the
// connections its connector opened. `name` is snake_case from a fixed set the backend declares
// (never data; name and help point to static text): the metrics exposition makes it
// reservoir_backend_<name>_total{pool}.
struct BackendCounter {
  std::string_view name;
  std::string_view help;
  std::uint64_t value = 0;
};

class Connector {
 public:
  virtual ~Connector() = default;

  // Opens a connection. Errors: unavailable (`<endpoint>: <cause>`), timeout.
  virtual Result<std::unique_ptr<Connection>> connect(Deadline deadline) = 0;
  // Health check at `depth`. An error means the connection must not be reused.
  virtual Status check(Connection& conn, CheckDepth depth, Deadline deadline) = 0;
  // Restores a clean session before the next borrower; runs on every return, on the
  // releasing thread. It may START the reset and return without waiting for the server (it
  // must never block the releasing thread on the server); the connection then completes it
  // before any later use (statement, check, close). A reset that turns out to have failed
  // makes the connection broken (is_broken() true); the statement that discovered it fails
  // with a retryable `unavailable` error ("session reset failed: ...") without having run, so
  // run() retries on a fresh connection: never on another borrower's state. A
  // CheckDepth::fast check consumes a reset result that has already arrived, without
  // blocking, and reports a failure, so the pool replaces the connection before handing it
  // out. An error from reset() itself means the connection is closed instead of reused.
  virtual Status reset(Connection& conn, Deadline deadline) = 0;
  // Closes politely (e.g. sends a protocol goodbye). Never throws.
  virtual void close(std::unique_ptr<Connection> conn, Deadline deadline) noexcept = 0;
  // Releases a connection inherited across fork() without touching its peer: the parent
  // still owns the session. The default leaks the object on purpose: its destructor might
  // speak to the server.
  virtual void abandon(std::unique_ptr<Connection> conn) noexcept { (void)conn.release(); }
  // Cheap, local, noexcept: did this connection break (bb8's has_broken)? Runs on every return.
  virtual bool is_broken(const Connection& conn) const noexcept { (void)conn; return false; }
  // Whether retrying an operation that failed with `error` can help (Go's driver.ErrBadConn).
  virtual bool is_retryable(const Error& error) const noexcept { return error.retryable(); }
  // `host:port`, a path, or another name for messages. Never contains secrets.
  virtual std::string endpoint() const = 0;
  // The backend's own counters (none by default). Cheap and lock-free: read on every scrape.
  virtual std::vector<BackendCounter> backend_counters() const { return {}; }
};

// The contract a typed backend connector meets. `connection` is the backend's own type.
template <class C>
concept PoolConnector = requires(C& c, const C& cc, typename C::connection& conn,
                                 const typename C::connection& cconn,
                                 std::unique_ptr<typename C::connection> owned, Deadline d,
                                 CheckDepth depth, const Error& e) {
  typename C::connection;
  { c.connect(d) } -> std::same_as<Result<std::unique_ptr<typename C::connection>>>;
  { c.check(conn, depth, d) } -> std::same_as<Status>;
  { c.reset(conn, d) } -> std::same_as<Status>;
  { c.close(std::move(owned), d) } noexcept;
  { cc.is_broken(cconn) } noexcept -> std::same_as<bool>;
  { cc.is_retryable(e) } noexcept -> std::same_as<bool>;
  { cc.endpoint() } -> std::convertible_to<std::string>;
};

// A typed connection held as an opaque pooled Connection.
template <class T>
class TypedConnection final : public Connection {
 public:
  explicit TypedConnection(std::unique_ptr<T> value) : value_(std::move(value)) {}
  T& get() noexcept { return *value_; }
  const T& get() const noexcept { return *value_; }
  std::unique_ptr<T> take() noexcept { return std::move(value_); }

 private:
  std::unique_ptr<T> value_;
};

// Adapts a PoolConnector to the pool's type-erased Connector.
template <PoolConnector C>
class ConnectorAdapter final : public Connector {
 public:
  using connection = typename C::connection;
  using Holder = TypedConnection<connection>;

  template <class... Args>
  explicit ConnectorAdapter(Args&&... args) : inner_(std::forward<Args>(args)...) {}

  C& inner() noexcept { return inner_; }
  const C& inner() const noexcept { return inner_; }

  Result<std::unique_ptr<Connection>> connect(Deadline deadline) override {
    auto r = inner_.connect(deadline);
    if (!r) return std::move(r).error();
    return std::unique_ptr<Connection>(std::make_unique<Holder>(std::move(r).value()));
  }
  Status check(Connection& conn, CheckDepth depth, Deadline deadline) override {
    return inner_.check(cast(conn), depth, deadline);
  }
  Status reset(Connection& conn, Deadline deadline) override { return inner_.reset(cast(conn), deadline); }
  void close(std::unique_ptr<Connection> conn, Deadline deadline) noexcept override {
    inner_.close(static_cast<Holder&>(*conn).take(), deadline);
  }
  void abandon(std::unique_ptr<Connection> conn) noexcept override {
    if constexpr (requires(C& c, std::unique_ptr<connection> p) { c.abandon(std::move(p)); }) {
      inner_.abandon(static_cast<Holder&>(*conn).take());
    } else {
      (void)static_cast<Holder&>(*conn).take().release();
    }
  }
  bool is_broken(const Connection& conn) const noexcept override {
    return inner_.is_broken(static_cast<const Holder&>(conn).get());
  }
  bool is_retryable(const Error& error) const noexcept override { return inner_.is_retryable(error); }
  std::string endpoint() const override { return inner_.endpoint(); }
  // Optional in the concept: a backend with counters of its own defines backend_counters().
  std::vector<BackendCounter> backend_counters() const override {
    if constexpr (requires(const C& c) { { c.backend_counters() } -> std::same_as<std::vector<BackendCounter>>; }) {
      return inner_.backend_counters();
    } else {
      return {};
    }
  }

  static connection& cast(Connection& conn) noexcept { return static_cast<Holder&>(conn).get(); }

 private:
  C inner_;
};

}  // namespace reservoir
