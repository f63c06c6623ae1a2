// reservoir/http/connector.hpp — http::Connector: the PoolConnector for keep-alive HTTP/1.1 to
// one origin (Beast over Asio, Boost.URL, OpenSSL).
//
//   auto connector = http::Connector::create("https://api.example.com");
//   auto pool = TypedPool<http::Connector>::create({.max_size = 8}, {}, std::move(connector).value());
//   auto r = run(*pool, [](http::Connection& c, Attempt& a) { return c.call(http::Request::get("/v1/x"), a); },
//                {.timeout = 2s, .idempotent = true});
//
// Checks: fast = a non-blocking peek (closed by the peer?) plus the learned idle timeout, no
// round trip; ping = `options.ping` expecting 2xx (default GET /healthz; vector databases
// often serve /readyz); deep = `options.deep`. Reset: a connection whose response was not
// fully read, or that the server asked to close, is closed instead of reused.
//
// Learned idle timeout: when a server is found to have closed an idle connection, the idle
// time at which that was seen is recorded per origin (shared by every connection of this
// connector), as is the longest idle time a reused connection survived; connections idle
// longer than the estimate minus `idle_margin` are retired by check() and replaced before a
// request (a `Keep-Alive: timeout=N` response header, where sent, is used directly).
//
// Host names are resolved with a blocking getaddrinfo() before the deadline applies (as the
// PostgreSQL backend documents): use an IP address where a slow resolver must not delay connects.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "reservoir/clock.hpp"
#include "reservoir/connector.hpp"
#include "reservoir/http/connection.hpp"
#include "reservoir/http/message.hpp"

namespace reservoir::http {

struct ConnectorOptions {
  Request ping = Request::get("/healthz");  // check(ping): must answer 2xx
  Request deep = Request::get("/healthz");  // check(deep): must answer 2xx
  std::size_t max_header_bytes = 64 * 1024;      // a response header block above it is an error
  std::size_t max_body_bytes = 8 * 1024 * 1024;  // a response body above it is an error
  int max_informational = 8;                     // 1xx responses tolerated before the final one
  // TLS (https URLs): certificate and host-name verification are on unless turned off.
  bool verify_tls = true;
  std::string ca_file;  // PEM bundle; empty: the system's default paths
  std::string user_agent = "reservoir-http/0.1";
  // Retire idle connections this long before the host's learned idle timeout.
  Duration idle_margin = std::chrono::milliseconds(250);
  // Longest Retry-After honoured (a larger value is capped to it).
  Duration retry_after_cap = std::chrono::seconds(60);
  // Time for idle learning and the Retry-After gate (default SteadyClock::instance()); I/O
  // waits use the remaining time of each call's deadline. Must outlive the connector.
  const Clock* clock = nullptr;
};

class Connector {
 public:
  using connection = http::Connection;

  // Parses `url` (`http://host[:port]` or `https://...`; a path of "/" at most).
  // Errors: invalid_config naming the URL (any userinfo password replaced by ***), or a bad
  // option (a TLS CA file that does not load, a zero limit).
  static Result<Connector> create(std::string_view url, ConnectorOptions options = {});

  // Opens a connection (TCP connect, and for https the TLS handshake) before `deadline`.
  // Errors: unavailable (`host:port: cause`, TLS verification failures named), timeout.
  Result<std::unique_ptr<Connection>> connect(Deadline deadline);
  Status check(Connection& conn, CheckDepth depth, Deadline deadline);
  Status reset(Connection& conn, Deadline deadline);
  void close(std::unique_ptr<Connection> conn, Deadline deadline) noexcept;
  // After fork(): destroying the connection only closes this process's descriptor (no
  // shutdown(), no TLS close_notify), so the parent's connection is untouched.
  void abandon(std::unique_ptr<Connection> conn) noexcept { conn.reset(); }
  bool is_broken(const Connection& conn) const noexcept { return conn.is_broken(); }
  bool is_retryable(const Error& error) const noexcept { return error.retryable(); }
  std::string endpoint() const;
  // `scheme://host:port`.
  std::string to_string() const;

  // The learned idle-close estimate for this origin, if any server close was seen.
  std::optional<Duration> learned_idle_timeout() const noexcept;
  // When the Retry-After gate opens, if it is closed now.
  std::optional<TimePoint> not_before() const noexcept;

 private:
  explicit Connector(std::shared_ptr<detail::Host> host) noexcept : host_(std::move(host)) {}
  std::shared_ptr<detail::Host> host_;
};

}  // namespace reservoir::http
