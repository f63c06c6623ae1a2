// reservoir/http_asio/async_request.hpp — http::async_request(): Connection::request() as an
// Asio asynchronous operation on the caller's executor, for any completion token.
//
//   auto lease = co_await reservoir::asio::async_acquire(pool, deadline, asio::use_awaitable);
//   Result<http::Response> r = co_await http::async_request(*lease, http::Request::get("/v1/x"), deadline,
//                                                           asio::use_awaitable);
//
// The same connection type and the same rules as the blocking request() (one implementation
// of them, src/http/steps.hpp): the Retry-After gate (awaited on the deadline's clock, never
// blocking the thread), the stale keep-alive checks before a reuse, the typed failure stages,
// the header and body limits, the once-only replay of a stale reuse when it is safe (nothing
// written, or Request::replayable(); a POST is never replayed), idle learning. Completes with
// void(Result<Response>), any status (errors are values: use_awaitable never throws for a
// failed request); async_call() turns a non-2xx status into an Error as Connection::call().
//
// How the socket runs on the caller's executor: the first call on an executor moves the
// connection's descriptor to a socket there (registered with that loop, non-blocking; Beast's
// asynchronous read/write, and Asio's asynchronous TLS over the connection's own TLS session),
// and it stays there between calls, so the next call on the same executor costs no syscall to
// get it (moving it costs 2 epoll_ctl and an ioctl each way). It moves back, blocking, at the
// connection's next blocking read or write (a request, a ping or deep check; the fast check's
// peek leaves it), and to another executor at a call there. When
// the loop's execution context is destroyed first, it hands the descriptor back to the
// connection (still open, usable); a connection closed by the pool leaves nothing registered.
// The executor: the completion handler's associated executor (a coroutine's, for
// use_awaitable), or the one passed explicitly. The outcome is delivered there, never inline
// in the initiating call.
// Deadline: covers the gate, connect, TLS handshake, write and read; when it passes, the
// connection is closed and the call completes with `timeout` (the connection is not reused).
// Cancellation: the handler's cancellation slot (any type) closes the connection and completes
// the call with `cancelled`, with the stage it had reached (not reused either).
// The connection (the lease) must stay alive and unused until the call completes.
#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <utility>

#include "reservoir/http/connection.hpp"
#include "reservoir/http/connector.hpp"
#include "reservoir/typed_pool.hpp"

namespace reservoir::http {

namespace detail {

using AsyncRequestHandler = boost::asio::any_completion_handler<void(Result<Response>)>;

// Compiled once (src/http_asio): every token goes through the type-erased handler.
void start_async_request(Connection& conn, Request req, Deadline deadline, bool as_call,
                         boost::asio::any_io_executor io, AsyncRequestHandler handler);

struct InitiateRequest {
  Connection* conn;
  template <class Handler>
  void operator()(Handler&& handler, Request req, Deadline deadline, bool as_call,
                  std::optional<boost::asio::any_io_executor> io) const {
    boost::asio::any_io_executor ex = io ? *io : boost::asio::any_io_executor(boost::asio::get_associated_executor(handler));
    start_async_request(*conn, std::move(req), deadline, as_call, std::move(ex),
                        AsyncRequestHandler(std::forward<Handler>(handler)));
  }
};

template <class Token>
auto initiate_request(Connection& conn, Request req, Deadline deadline, bool as_call,
                      std::optional<boost::asio::any_io_executor> io, Token&& token) {
  return boost::asio::async_initiate<Token, void(Result<Response>)>(InitiateRequest{&conn}, token, std::move(req),
                                                                    deadline, as_call, std::move(io));
}

}  // namespace detail

// Sends `req` on `conn` and reads the whole response (any status) before `deadline`, on the
// token's associated executor. Errors: as Connection::request(), and cancelled.
template <class Token>
auto async_request(Connection& conn, Request req, Deadline deadline, Token&& token) {
  return detail::initiate_request(conn, std::move(req), deadline, false, std::nullopt, std::forward<Token>(token));
}
template <class Token>
auto async_request(TypedLease<Connector>& lease, Request req, Deadline deadline, Token&& token) {
  return async_request(*lease, std::move(req), deadline, std::forward<Token>(token));
}
// The same on `io` (for a callback without an associated executor).
template <class Token>
auto async_request(boost::asio::any_io_executor io, Connection& conn, Request req, Deadline deadline, Token&& token) {
  return detail::initiate_request(conn, std::move(req), deadline, false, std::move(io), std::forward<Token>(token));
}

// async_request(), then a non-2xx status becomes Error{backend, code = status}, retryable for
// 429, 502, 503 and 504 (as Connection::call()).
template <class Token>
auto async_call(Connection& conn, Request req, Deadline deadline, Token&& token) {
  return detail::initiate_request(conn, std::move(req), deadline, true, std::nullopt, std::forward<Token>(token));
}
template <class Token>
auto async_call(TypedLease<Connector>& lease, Request req, Deadline deadline, Token&& token) {
  return async_call(*lease, std::move(req), deadline, std::forward<Token>(token));
}

}  // namespace reservoir::http
