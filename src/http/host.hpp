// src/http/host.hpp — what every connection to one origin shares: the parsed origin, options,
// the TLS context, the learned idle timeout and the Retry-After gate.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>

#include "reservoir/clock.hpp"
#include "reservoir/error.hpp"
#include "reservoir/http/connector.hpp"

namespace reservoir::http::detail {

struct Origin {
  bool tls = false;
  std::string host;  // a name or an IP address (IPv6 without brackets)
  std::uint16_t port = 0;
  std::string endpoint;     // host:port ([v6]:port)
  std::string host_header;  // Host: value (port omitted when it is the scheme's default)
};

// Parses an origin URL with Boost.URL. Errors: invalid_config naming the URL, redacted.
Result<Origin> parse_origin(std::string_view url);
// `url` with the password of any userinfo replaced by *** (works on malformed URLs too).
std::string redact_url(std::string_view url);

class Host {
 public:
  Host(Origin origin, ConnectorOptions options, std::shared_ptr<boost::asio::ssl::context> tls);

  const Origin& origin() const noexcept { return origin_; }
  const ConnectorOptions& options() const noexcept { return options_; }
  const Clock& clock() const noexcept { return *clock_; }
  boost::asio::ssl::context* tls_context() const noexcept { return tls_.get(); }
  // Owns the sockets' reactor registration; never run (all I/O is synchronous, see transport.hpp).
  boost::asio::io_context& io_context() const noexcept { return io_; }

  // Idle learning. `idle` is how long a connection had been idle when the server's close (a
  // FIN, not a reset) was seen, or when a reuse succeeded.
  void note_closed_idle(Duration idle) noexcept;
  void note_survived_idle(Duration idle) noexcept;
  void note_keepalive_hint(Duration timeout) noexcept;
  std::optional<Duration> idle_estimate() const noexcept;
  // Idle connections older than this are retired; nullopt while nothing was learned.
  std::optional<Duration> retire_after() const noexcept;

  // Retry-After gate: no request to this origin before `until` (the max of all calls).
  void close_gate(TimePoint until, int status) noexcept;
  std::optional<TimePoint> gate() const noexcept;
  // When the gate opens (nullopt: open now), to be waited for on the deadline's clock; fails
  // at once if the deadline ends first: backend, code = the status that closed it.
  Result<std::optional<TimePoint>> gate_until(Deadline deadline, std::string_view what) const;

 private:
  static constexpr std::int64_t kNone = std::numeric_limits<std::int64_t>::max();
  static constexpr std::int64_t kNeverClosed = std::numeric_limits<std::int64_t>::min();
  Origin origin_;
  ConnectorOptions options_;
  const Clock* clock_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  mutable boost::asio::io_context io_;
  std::atomic<std::int64_t> min_closed_ns_{kNone};
  std::atomic<std::int64_t> max_survived_ns_{0};
  std::atomic<std::int64_t> hint_ns_{kNone};
  std::atomic<std::int64_t> not_before_ns_{kNeverClosed};
  std::atomic<int> gate_status_{0};
};

}  // namespace reservoir::http::detail
