// reservoir/http/connection.hpp — http::Connection: one keep-alive HTTP/1.1 connection (plain
// or TLS) to one origin, one request in flight, every call bounded by a deadline.
//
//   auto lease = pool->acquire();
//   auto r = (*lease)->call(http::Request::get("/v1/items"), deadline);   // non-2xx -> Error
//
// request() returns any status; call() turns a non-2xx status into an Error classified for
// run(): 429/502/503/504 retryable, other statuses not (kind backend, the status in code()).
//
// Stale keep-alive connections. A server may close an idle connection just as it is reused
// (Go #22158, hyper #2136). Before a request on a reused connection idle for more than 1 ms, a
// non-blocking peek sees a close that already arrived, and a connection idle longer than the
// host's learned idle timeout (minus a margin) is replaced, both before anything is written. A request that then
// fails on a reused connection before one response byte arrived is sent once more on a fresh
// connection (in place: the lease stays valid) when that is safe: nothing was written, or
// Request::replayable(). Otherwise (a POST whose bytes may have left) it fails with kind
// `backend`, code `stale_connection`, never replayed; that kind is outside run()'s default
// breaker failures, because the endpoint answered (it closed an idle connection), so a stale
// reuse never counts toward the endpoint's circuit breaker.
//
// Retry-After on 429/503 sets a host-level "not before T" gate (capped by
// ConnectorOptions::retry_after_cap) that every request to the origin honours: a caller whose
// deadline ends first fails at once with that status and the wait it would have needed.
//
// A Connection is used by one thread at a time (the lease holder). Its asynchronous form,
// http::async_request() (reservoir/http_asio/async_request.hpp), follows the same rules.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "reservoir/deadline.hpp"
#include "reservoir/error.hpp"
#include "reservoir/http/message.hpp"
#include "reservoir/retry.hpp"

namespace reservoir::http {

namespace detail {
class Host;
struct Transport;
struct Steps;
}  // namespace detail

class Connection {
 public:
  // Opens a connection to `host`'s origin before `deadline`. Used by Connector::connect().
  static Result<std::unique_ptr<Connection>> open(std::shared_ptr<detail::Host> host, Deadline deadline);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();  // closes the socket; never blocks

  // Sends `req` and reads the whole response (any status) before `deadline`. Errors:
  // timeout (the connection is closed), unavailable (connect/transport failure; code() is
  // the Stage), backend (protocol error, a header block or body over its limit, a stale
  // non-replayable request (`stale_connection`), or the Retry-After gate past the deadline).
  Result<Response> request(const Request& req, Deadline deadline);
  // request(), then a non-2xx status becomes Error{backend, code = status}, retryable for
  // 429, 502, 503 and 504.
  Result<Response> call(const Request& req, Deadline deadline);
  // call() within `attempt`'s deadline; tells run() when the request never left (so even a
  // non-idempotent operation may be retried).
  Result<Response> call(const Request& req, Attempt& attempt);

  // Where the last failed request failed (Stage::none after a success).
  Stage last_stage() const noexcept { return last_stage_; }
  // Requests answered on this connection object (across in-place reconnects).
  std::uint64_t requests() const noexcept { return requests_; }
  // Fresh connections opened in place of a stale or retired one.
  std::uint64_t reconnects() const noexcept { return reconnects_; }
  // Broken, timed out, or the server said `Connection: close`: never reused.
  bool is_broken() const noexcept;
  // `host:port`.
  const std::string& endpoint() const noexcept;

 private:
  friend class Connector;
  friend struct detail::Steps;  // the steps of a request, shared with http::async_request()
  explicit Connection(std::shared_ptr<detail::Host> host);

  // One exchange on the current transport: write, then read a whole response.
  Result<Response> exchange(const Request& req, Deadline deadline);
  Status reconnect(Deadline deadline);
  // Local health, no round trip: open, not closed by the peer, not past the learned idle
  // timeout. Errors: unavailable.
  Status check_local();
  Status check_request(const Request& req, Deadline deadline);
  Status response_not_fully_read() const;
  // Learns from a response: Keep-Alive timeout hint, Retry-After on 429/503.
  void note_response(const Response& r);
  Duration idle_for() const noexcept;

  std::shared_ptr<detail::Host> host_;
  std::unique_ptr<detail::Transport> transport_;
  Stage last_stage_ = Stage::none;
  std::uint64_t requests_ = 0;
  std::uint64_t reconnects_ = 0;
  std::uint64_t served_on_transport_ = 0;  // responses on the current socket (0: fresh)
  TimePoint last_used_{};
};

}  // namespace reservoir::http
