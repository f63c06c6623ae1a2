// src/http/steps.hpp — the steps of one request on a Connection, shared by the blocking
// request() (connection.cpp) and the asynchronous http::async_request() (src/http_asio), so
// both keep one set of rules: the Retry-After gate, the stale keep-alive checks before a
// reuse, the failure stages and their errors, the body and header limits, the stale-reuse
// retry, idle learning. Only the waiting differs (a blocking socket, an awaited operation).
#pragma once

#include <optional>

#include "reservoir/http/connection.hpp"
#include "transport.hpp"

namespace reservoir::http::detail {

struct Steps {
  // The Retry-After gate: nullopt when open, else when it opens (before `deadline`).
  // Errors: backend (the status that closed it) when it opens past `deadline`.
  static Result<std::optional<TimePoint>> gate(Connection& c, const Request& req, Deadline deadline);

  // Before an attempt: true when the current transport is reused as is; false when a fresh one
  // must be opened (none, broken, closed by the peer, or past the learned idle timeout).
  static bool reuse(Connection& c);
  // A transport for a fresh connection (not connected yet).
  static std::unique_ptr<Transport> new_transport(Connection& c);
  // After a connect attempt of `t`: on success it becomes the connection's transport.
  // Errors: timeout, unavailable (stage before_write).
  static Status connected(Connection& c, std::unique_ptr<Transport> t, const error_code& ec, const std::string& cause);
  static Transport& transport(Connection& c) noexcept { return *c.transport_; }

  // The exchange. Before the write: an error when the transport cannot carry a request.
  static std::optional<Error> writable(Connection& c, const Request& req);
  static BeastRequest to_beast(Connection& c, const Request& req);
  static void prepare(Connection& c, BeastParser& parser, const Request& req);
  // After a response head: nullopt to read the body (or finish); `informational` set when it
  // was a 1xx to skip; an Error for a protocol violation.
  static std::optional<Error> on_head(Connection& c, BeastParser& parser, const Request& req, int count,
                                      bool& informational);
  static Response finish(Connection& c, BeastParser& parser);
  // A failed step: closes the transport, records the stage, returns the typed error.
  static Error fail(Connection& c, const Request& req, Stage stage, const error_code& ec);
  static Error cancelled(Connection& c, const Request& req, Stage stage);

  // After an exchange on a transport that was `reused` (idle `idle` before it).
  static void succeeded(Connection& c, const Response& r, bool reused, Duration idle);
  // After a failed exchange: nullopt to send it once more on a fresh connection (a stale
  // reuse, safe to replay), else the call's error. `retried`: a replay was already made.
  static std::optional<Error> after_failure(Connection& c, const Request& req, Error error, bool reused, bool& retried,
                                            Duration idle);
  // call(): a non-2xx status becomes Error{backend, code = status}, retryable for 429/502/503/504.
  static Result<Response> as_call(Connection& c, const Request& req, Result<Response> r);
  static Duration idle_for(const Connection& c) noexcept { return c.idle_for(); }
};

}  // namespace reservoir::http::detail
