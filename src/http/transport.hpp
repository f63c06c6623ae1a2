// src/http/transport.hpp — one socket (plain or TLS) with blocking, deadline-bounded operations.
//
// Each operation is started asynchronously on the transport's own io_context and run to
// completion on the calling thread, with beast::tcp_stream's expiry set to the time left on
// the call's deadline: past it the socket is closed and the operation ends with
// beast::error::timeout. (Beast's synchronous calls have no timeouts.)
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <optional>
#include <string>

#include "host.hpp"
#include "reservoir/deadline.hpp"

namespace reservoir::http::detail {

namespace beast = boost::beast;
using error_code = boost::system::error_code;
using BeastRequest = beast::http::request<beast::http::string_body>;
using BeastParser = beast::http::response_parser<beast::http::string_body>;

enum class PeekState {
  alive,        // nothing to read: idle as it should be
  closed,       // the peer sent a FIN
  reset,        // the peer reset the connection, or the socket failed
  unsolicited,  // bytes arrived on an idle connection (e.g. a 408 before the server closes)
};

struct Transport {
  explicit Transport(const Host& host);
  ~Transport();

  // TCP connect to `host`'s origin, then the TLS handshake for https.
  // Errors carry a readable cause (TLS verification failures: the X.509 reason).
  error_code connect(Deadline deadline, std::string& cause);
  error_code write(BeastRequest& req, Deadline deadline, std::size_t& written);
  // Reads one response head (any status, 1xx included). `got` is true if any byte arrived.
  error_code read_header(BeastParser& parser, Deadline deadline, bool& got);
  error_code read_body(BeastParser& parser, Deadline deadline);
  // A non-blocking look at the socket, no round trip.
  PeekState peek() const noexcept;
  // Closes the socket (RST-free, no TLS close_notify: never blocks).
  void close() noexcept;

  bool is_open() const noexcept;

  const Host& host;
  boost::asio::io_context ioc{1};
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  bool broken = false;       // a failed or timed-out exchange: never reuse
  bool must_close = false;   // the server said Connection: close (or spoke HTTP/1.0)
  bool in_flight = false;    // a request was written and its response not fully read

 private:
  beast::tcp_stream& tcp() noexcept { return tls ? beast::get_lowest_layer(*tls) : *plain; }
  const beast::tcp_stream& tcp() const noexcept { return tls ? beast::get_lowest_layer(*tls) : *plain; }
  template <class Start>
  error_code run(Deadline deadline, Start start, std::size_t* bytes = nullptr);
};

}  // namespace reservoir::http::detail
