// tests/http_asio/async_env.hpp — running coroutines on an io_context in the http_asio tests.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>

#include "http_env.hpp"
#include "reservoir/http_asio/async_request.hpp"
#include "reservoir/typed_pool.hpp"

namespace reservoir::http::test {

// Runs `body` (a coroutine lambda, alive for the call) on `io` until it finishes.
template <class Body>
void run_on(boost::asio::io_context& io, Body& body) {
  bool done = false;
  boost::asio::co_spawn(io, body(), [&](std::exception_ptr e) {
    done = true;
    if (e) std::rethrow_exception(e);
  });
  io.run();
  io.restart();
  ASSERT_TRUE(done);
}

inline std::unique_ptr<Connection> open(Connector& c) {
  auto conn = c.connect(in_ms(2000));
  if (!conn) throw std::runtime_error(conn.error().message());
  return std::move(conn).value();
}

// A pool of up to `max_size` connections to `url`, none opened ahead, `max_waiters` queued.
inline TypedPool<Connector> pool_of(const std::string& url, std::size_t max_size, std::size_t max_waiters) {
  PoolConfig config;
  config.max_size = max_size;
  config.min_idle = 0;
  config.max_waiters = max_waiters;
  return TypedPool<Connector>::create(config, {}, make_connector(url)).value();
}

// One `GET path` through http::async_request on `io`.
inline Result<Response> async_get(boost::asio::io_context& io, Connection& conn, const char* path = "/small") {
  std::optional<Result<Response>> r;
  auto body = [&]() -> boost::asio::awaitable<void> {
    r.emplace(co_await async_request(conn, Request::get(path), in_ms(2000), boost::asio::use_awaitable));
  };
  run_on(io, body);
  if (!r) return Error::make(ErrorKind::internal, "the coroutine did not finish");
  return std::move(*r);
}

}  // namespace reservoir::http::test
