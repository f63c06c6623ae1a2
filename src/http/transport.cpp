#include "transport.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>

namespace reservoir::http::detail {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

error_code errno_code(int e) { return error_code(e, asio::error::get_system_category()); }

bool is_ip_literal(const std::string& host) {
  error_code ec;
  (void)asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

// ---- DeadlineSocket ---------------------------------------------------------------------

error_code DeadlineSocket::wait(bool reading) noexcept {
  pollfd p{socket_.native_handle(), static_cast<short>(reading ? POLLIN : POLLOUT), 0};
  for (;;) {
    if (deadline_ && deadline_->expired()) return beast::error::timeout;
    int timeout_ms = deadline_ ? deadline_->remaining_ms() : -1;
    int r = ::poll(&p, 1, timeout_ms);
    if (r > 0) return {};
    if (r < 0 && errno != EINTR) return errno_code(errno);
  }
}

long DeadlineSocket::syscall(bool reading, const void* iov, int count, bool may_block) noexcept {
  msghdr m{};
  m.msg_iov = static_cast<iovec*>(const_cast<void*>(iov));
  m.msg_iovlen = static_cast<std::size_t>(count);
  int flags = may_block ? 0 : MSG_DONTWAIT;
  return reading ? ::recvmsg(socket_.native_handle(), &m, flags)
                 : ::sendmsg(socket_.native_handle(), &m, flags | MSG_NOSIGNAL);
}

template <class Buffers>
std::size_t DeadlineSocket::io(bool reading, const Buffers& buffers, error_code& ec) {
  iovec iov[16];
  int count = 0;
  for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers) && count < 16; ++it) {
    asio::const_buffer b(*it);
    if (b.size() == 0) continue;
    iov[count].iov_base = const_cast<void*>(b.data());
    iov[count].iov_len = b.size();
    ++count;
  }
  ec = {};
  if (count == 0) return 0;
  if (loop_) come_home();
  if (!socket_.is_open()) {
    ec = asio::error::not_connected;
    return 0;
  }
  for (;;) {
    // With at least a slice left, the call itself blocks (SO_RCVTIMEO/SO_SNDTIMEO = one slice):
    // a request costs a send and a recv. Closer to the deadline it does not block, and poll()
    // waits exactly the time left.
    bool may_block = !deadline_ || deadline_->remaining() >= kBlockSlice;
    long r = syscall(reading, iov, count, may_block);
    if (r > 0) return static_cast<std::size_t>(r);
    if (r == 0 && reading) {
      ec = asio::error::eof;
      return 0;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (may_block) continue;  // a slice passed: look at the deadline again
      if ((ec = wait(reading))) return 0;
      continue;
    }
    ec = r < 0 ? errno_code(errno) : asio::error::connection_aborted;
    return 0;
  }
}

error_code DeadlineSocket::connect(const tcp::resolver::results_type& endpoints) {
  close();
  error_code last = asio::error::host_not_found;
  for (const auto& entry : endpoints) {
    error_code ec;
    socket_.close(ec);
    socket_.open(entry.endpoint().protocol(), ec);
    if (!ec) socket_.native_non_blocking(true, ec);
    if (ec) {
      last = ec;
      continue;
    }
    int fd = socket_.native_handle();
    if (::connect(fd, entry.endpoint().data(), static_cast<socklen_t>(entry.endpoint().size())) != 0) {
      if (errno != EINPROGRESS) {
        last = errno_code(errno);
        continue;
      }
      if ((ec = wait(false))) {
        socket_.close(ec);
        return beast::error::timeout;  // the only wait error that matters: the deadline
      }
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        last = errno_code(err);
        continue;
      }
    }
    configure(fd);
    protocol_ = entry.endpoint().protocol();
    socket_.native_non_blocking(false, ec);  // blocking from here on, in slices (see io())
    return {};
  }
  error_code ec;
  socket_.close(ec);
  return last;
}

void DeadlineSocket::configure(int fd) noexcept {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // Each blocking call bounded by one slice (see io()).
  timeval slice{0, static_cast<suseconds_t>(std::chrono::duration_cast<std::chrono::microseconds>(kBlockSlice).count())};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &slice, sizeof slice);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &slice, sizeof slice);
}

void DeadlineSocket::close() noexcept {
  if (loop_) std::exchange(loop_, nullptr)->close();
  error_code ec;
  socket_.close(ec);
}

std::shared_ptr<LoopSocket> DeadlineSocket::on_loop(const asio::any_io_executor& ex, error_code& ec) {
  ec = {};
  if (loop_ && loop_->on(ex)) return loop_;  // registered there by an earlier call: nothing to do
  int fd = -1;
  if (loop_) {
    fd = std::exchange(loop_, nullptr)->take();
  } else if (socket_.is_open()) {
    fd = socket_.release(ec);
    if (ec) return nullptr;
  }
  loop_ = LoopSocket::make(ex, protocol_, fd, ec);
  return loop_;
}

void DeadlineSocket::connected_on_loop() {
  error_code ec;
  protocol_ = loop_->socket().local_endpoint(ec).protocol();
  configure(loop_->socket().native_handle());
}

bool DeadlineSocket::come_home() noexcept {
  int fd = std::exchange(loop_, nullptr)->take();
  if (fd < 0) return false;
  error_code ec;
  socket_.assign(protocol_, fd, ec);
  if (ec) {
    ::close(fd);
    return false;
  }
  socket_.native_non_blocking(false, ec);  // Asio's asynchronous operations left it non-blocking
  return true;
}

// ---- Transport --------------------------------------------------------------------------

Transport::Transport(const Host& h) : host(h) {
  if (host.tls_context() != nullptr) {
    tls.emplace(host.io_context(), *host.tls_context());
  } else {
    plain.emplace(host.io_context());
  }
}

Transport::~Transport() { close(); }

error_code Transport::resolve(tcp::resolver::results_type& endpoints, std::string& cause) {
  const Origin& o = host.origin();
  error_code ec;
  tcp::resolver resolver(host.io_context());
  endpoints = resolver.resolve(o.host, std::to_string(o.port), ec);
  if (ec) cause = "cannot resolve " + o.host + ": " + ec.message();
  return ec;
}

void Transport::prepare_tls() noexcept {
  const Origin& o = host.origin();
  SSL* ssl = tls->native_handle();
  if (host.options().verify_tls) {
    if (is_ip_literal(o.host)) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), o.host.c_str());
    } else {
      SSL_set1_host(ssl, o.host.c_str());
    }
  }
  if (!is_ip_literal(o.host)) SSL_set_tlsext_host_name(ssl, o.host.c_str());
}

std::string Transport::handshake_failure(const error_code& ec) {
  if (ec == beast::error::timeout) return "TLS handshake timed out";
  std::string cause = "TLS handshake failed: " + ec.message();
  long verify = SSL_get_verify_result(tls->native_handle());
  if (verify != X509_V_OK) cause += " (" + std::string(X509_verify_cert_error_string(verify)) + ")";
  return cause;
}

error_code Transport::connect(Deadline deadline, std::string& cause) {
  tcp::resolver::results_type endpoints;
  error_code ec = resolve(endpoints, cause);
  if (ec) return ec;
  stream().set_deadline(deadline);
  if ((ec = stream().connect(endpoints))) {
    cause = ec == beast::error::timeout ? "connect timed out" : ec.message();
    return ec;
  }
  if (!tls) return {};
  prepare_tls();
  tls->handshake(asio::ssl::stream_base::client, ec);
  if (ec) cause = handshake_failure(ec);
  return ec;
}

error_code Transport::write(BeastRequest& req, Deadline deadline, std::size_t& written) {
  in_flight = true;
  stream().set_deadline(deadline);
  error_code ec;
  written = tls ? beast::http::write(*tls, req, ec) : beast::http::write(*plain, req, ec);
  return ec;
}

error_code Transport::read_header(BeastParser& parser, Deadline deadline, bool& got) {
  stream().set_deadline(deadline);
  error_code ec;
  if (tls) beast::http::read_header(*tls, buffer, parser, ec);
  else beast::http::read_header(*plain, buffer, parser, ec);
  got = parser.got_some() || buffer.size() > 0;
  return ec;
}

error_code Transport::read_body(BeastParser& parser, Deadline deadline) {
  stream().set_deadline(deadline);
  error_code ec;
  if (tls) beast::http::read(*tls, buffer, parser, ec);
  else beast::http::read(*plain, buffer, parser, ec);
  return ec;
}

PeekState Transport::peek() noexcept {
  if (!is_open()) return PeekState::reset;
  // Bytes left over after the last response: unsolicited.
  if (buffer.size() > 0) return PeekState::unsolicited;
  PeekState state = peek_socket();
  if (state == PeekState::unsolicited && tls) return drain_tls();
  return state;
}

PeekState Transport::peek_socket() noexcept {
  int fd = stream().native_handle();
  char c;
  for (;;) {
    ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return PeekState::unsolicited;
    if (n == 0) return PeekState::closed;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return PeekState::alive;
    return PeekState::reset;
  }
}

PeekState Transport::drain_tls() noexcept {
  // An expired deadline: DeadlineSocket reads what is there and never waits.
  stream().set_deadline(Deadline::after(SteadyClock::instance(), Duration::zero()));
  char c;
  error_code ec;
  std::size_t n = tls->read_some(asio::buffer(&c, 1), ec);
  if (n > 0) {
    buffer.commit(asio::buffer_copy(buffer.prepare(1), asio::buffer(&c, 1)));  // kept: never reused anyway
    return PeekState::unsolicited;
  }
  if (ec == beast::error::timeout) return PeekState::alive;  // only TLS records: consumed
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) return PeekState::closed;
  return PeekState::reset;
}

void Transport::close() noexcept {
  stream().close();
  broken = true;
}

bool Transport::is_open() const noexcept { return stream().is_open(); }

}  // namespace reservoir::http::detail
