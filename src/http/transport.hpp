// src/http/transport.hpp — one socket (plain or TLS) with blocking, deadline-bounded operations.
//
// DeadlineSocket is a Beast SyncReadStream/SyncWriteStream over a TCP socket whose blocking
// calls time out after one slice (SO_RCVTIMEO/SO_SNDTIMEO = kBlockSlice): while at least a
// slice is left on the current deadline a read or write blocks in the syscall itself; closer to
// the deadline it does not block and poll() waits exactly the time left (past it:
// beast::error::timeout). Beast's synchronous http::write/read and Asio's synchronous
// ssl::stream run on top of it, so a request costs a send and a recv, with no event loop in
// between (an io_context run per operation measured 5 epoll_wait and 2 timerfd_settime calls per
// request; poll-then-recv on a non-blocking socket, 3 syscalls).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <memory>
#include <optional>
#include <string>

#include "host.hpp"
#include "loop_socket.hpp"
#include "response_parser.hpp"
#include "reservoir/deadline.hpp"

namespace reservoir::http::detail {

namespace beast = boost::beast;
using error_code = boost::system::error_code;
using BeastRequest = beast::http::request<beast::http::string_body>;
using BeastParser = ResponseParser;

// Longest a single blocking send/recv waits before the deadline is looked at again.
inline constexpr Duration kBlockSlice = std::chrono::milliseconds(50);

class DeadlineSocket {
 public:
  using socket_type = boost::asio::ip::tcp::socket;
  using lowest_layer_type = socket_type;
  using executor_type = socket_type::executor_type;

  explicit DeadlineSocket(boost::asio::io_context& ioc) : socket_(ioc) {}
  DeadlineSocket(const DeadlineSocket&) = delete;
  DeadlineSocket& operator=(const DeadlineSocket&) = delete;
  ~DeadlineSocket() { close(); }

  lowest_layer_type& lowest_layer() noexcept { return socket_; }
  const lowest_layer_type& lowest_layer() const noexcept { return socket_; }
  // On a caller's loop, its executor: Beast's and Asio's composed operations run there.
  executor_type get_executor() noexcept { return loop_ ? loop_->socket().get_executor() : socket_.get_executor(); }

  // Open, here or on a caller's loop.
  bool is_open() const noexcept { return loop_ ? loop_->is_open() : socket_.is_open(); }
  // The descriptor, wherever it is (for a non-blocking peek).
  int native_handle() noexcept { return loop_ ? loop_->native_handle() : socket_.native_handle(); }
  // Closes it, wherever it is.
  void close() noexcept;

  // Bounds every following read_some/write_some.
  void set_deadline(Deadline deadline) noexcept { deadline_ = deadline; }

  // Connects to the first reachable endpoint before the deadline.
  error_code connect(const boost::asio::ip::tcp::resolver::results_type& endpoints);

  // Asynchronous use (reservoir::http_asio): the descriptor moves to a socket on the caller's
  // executor `ex` (a LoopSocket, see loop_socket.hpp) and stays there after the call, so the
  // next call on `ex` finds it registered and non-blocking. It comes back, blocking, at the
  // first blocking read or write; a call on another executor moves it there. When nothing is
  // open, the socket returned is a closed one on `ex`, for async_connect().
  // Returns the LoopSocket, whose socket() the async_* operations below use.
  std::shared_ptr<LoopSocket> on_loop(const boost::asio::any_io_executor& ex, error_code& ec);
  // After async_connect() on on_loop()'s socket: TCP_NODELAY and the blocking slices.
  void connected_on_loop();
  // Sets up a freshly connected descriptor: TCP_NODELAY, one-slice send/receive timeouts.
  static void configure(int fd) noexcept;

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return loop_->socket().async_read_some(buffers, std::forward<Token>(token));
  }
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return loop_->socket().async_write_some(buffers, std::forward<Token>(token));
  }

  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers, error_code& ec) {
    return io(/*reading=*/true, buffers, ec);
  }
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers) {
    error_code ec;
    auto n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers, error_code& ec) {
    return io(/*reading=*/false, buffers, ec);
  }
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers) {
    error_code ec;
    auto n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  template <class Buffers>
  std::size_t io(bool reading, const Buffers& buffers, error_code& ec);
  // One recvmsg/sendmsg over up to 16 buffers; -1 with errno on failure.
  long syscall(bool reading, const void* iov, int count, bool may_block) noexcept;
  // Waits for the socket to become readable/writable before the deadline.
  error_code wait(bool reading) noexcept;

  // Back from a caller's loop into socket_, blocking; false when it was closed there.
  bool come_home() noexcept;

  socket_type socket_;  // the descriptor when it is not on a caller's loop (blocking)
  std::shared_ptr<LoopSocket> loop_;  // the descriptor while on a caller's loop
  std::optional<Deadline> deadline_;
  boost::asio::ip::tcp protocol_ = boost::asio::ip::tcp::v4();
};

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
  // The pieces of connect() the asynchronous connect shares. resolve(): a blocking
  // getaddrinfo (an IP address resolves at once).
  error_code resolve(boost::asio::ip::tcp::resolver::results_type& endpoints, std::string& cause);
  // Before the handshake: SNI and the name or address the certificate must match.
  void prepare_tls() noexcept;
  std::string handshake_failure(const error_code& ec);
  DeadlineSocket& socket() noexcept { return stream(); }
  error_code write(BeastRequest& req, Deadline deadline, std::size_t& written);
  // Reads one response head (any status, 1xx included). `got` is true if any byte arrived.
  error_code read_header(BeastParser& parser, Deadline deadline, bool& got);
  error_code read_body(BeastParser& parser, Deadline deadline);
  // A non-blocking look at the socket, no round trip. With TLS, bytes on an idle connection are
  // first given to OpenSSL without waiting: protocol messages (TLS 1.3 session tickets, key
  // updates) are consumed and the connection is alive; a close_notify is a close; application
  // data is unsolicited.
  PeekState peek() noexcept;
  // Closes the socket (no TLS close_notify: never blocks).
  void close() noexcept;
  bool is_open() const noexcept;

  const Host& host;
  std::optional<DeadlineSocket> plain;
  std::optional<boost::asio::ssl::stream<DeadlineSocket>> tls;
  beast::flat_buffer buffer;
  bool broken = false;      // a failed or timed-out exchange: never reuse
  bool must_close = false;  // the server said Connection: close (or spoke HTTP/1.0)
  bool in_flight = false;   // a request was written and its response not fully read

 private:
  DeadlineSocket& stream() noexcept { return tls ? tls->next_layer() : *plain; }
  const DeadlineSocket& stream() const noexcept { return tls ? tls->next_layer() : *plain; }
  PeekState peek_socket() noexcept;
  PeekState drain_tls() noexcept;
};

}  // namespace reservoir::http::detail
