// reservoir/admin/server.hpp — AdminServer: an optional embedded HTTP endpoint for operators.
//
//   auto registry = std::make_shared<reservoir::metrics::Registry>();
//   registry->add_pool(pool);
//   auto admin = reservoir::admin::AdminServer::start(registry, {.port = 9187, .events = ring});
//
// Off unless started. Serves GET /metrics (Prometheus text 0.0.4), /healthz (200 or 503 with
// reasons, JSON), /stats.json (every stats field), /events (the EventRing's recent events) and
// /dashboard (one self-contained HTML page polling /stats.json). Runs on its own thread (Beast
// on Asio, one io_context): requests never run on, or wait for, a pool's threads, and reading
// a pool takes no pool lock. Bad requests get a status (404, 405, 431 for oversized headers,
// 400) and a client that is slow to send its request is cut off after `read_timeout`; each
// connection serves one request (Connection: close).
// Binds 127.0.0.1 by default: any other address needs allow_non_loopback = true.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "reservoir/admin/events.hpp"
#include "reservoir/clock.hpp"
#include "reservoir/error.hpp"
#include "reservoir/metrics/registry.hpp"

namespace reservoir::admin {

// Plain data; fields may be added later (always with a default).
struct AdminOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;                  // 0: any free port (see AdminServer::port())
  bool allow_non_loopback = false;         // must be true for an address other than loopback
  std::shared_ptr<EventRing> events;       // optional: /events and connect outcomes for /healthz
  Duration exhausted_threshold = std::chrono::seconds(10);  // /healthz: exhausted longer is 503
  Duration read_timeout = std::chrono::seconds(5);          // for the whole request (slowloris)
  std::size_t max_header_bytes = 8192;     // larger: 431
  std::size_t max_connections = 64;        // more at once are answered 503 and closed
};

class AdminServer {
 public:
  // Binds and starts serving. Errors: invalid_config (a non-loopback address without
  // allow_non_loopback, an unparsable address, zero limits), unavailable (bind failed).
  static Result<std::unique_ptr<AdminServer>> start(std::shared_ptr<metrics::Registry> registry, AdminOptions options = {});

  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;
  ~AdminServer();  // stop(std::chrono::seconds(1))

  std::uint16_t port() const noexcept;
  const std::string& address() const noexcept;
  // Stops accepting, closes every connection, and joins the thread. Requests in progress get
  // up to `grace` to finish; then the io_context is stopped. Idempotent.
  void stop(Duration grace = std::chrono::seconds(1));

  class Impl;
  explicit AdminServer(std::unique_ptr<Impl> impl) noexcept;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace reservoir::admin
