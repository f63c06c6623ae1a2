#include "transport.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>
#include <chrono>

namespace reservoir::http::detail {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// Completion handler for every operation shape (connect, handshake, read, write).
struct Done {
  error_code* ec;
  std::size_t* n;
  void operator()(error_code e) const { *ec = e; }
  void operator()(error_code e, std::size_t k) const {
    *ec = e;
    *n = k;
  }
  void operator()(error_code e, const tcp::endpoint&) const { *ec = e; }
};

bool is_ip_literal(const std::string& host) {
  error_code ec;
  (void)asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

Transport::Transport(const Host& h) : host(h) {
  if (host.tls_context() != nullptr) {
    tls.emplace(ioc, *host.tls_context());
  } else {
    plain.emplace(ioc);
  }
}

Transport::~Transport() { close(); }

template <class Start>
error_code Transport::run(Deadline deadline, Start start, std::size_t* bytes) {
  Duration left = deadline.remaining();
  if (left <= Duration::zero()) return beast::error::timeout;
  tcp().expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(left));
  error_code result = asio::error::would_block;
  std::size_t n = 0;
  start(Done{&result, &n});
  ioc.restart();
  ioc.run();
  if (bytes != nullptr) *bytes = n;
  return result;
}

error_code Transport::connect(Deadline deadline, std::string& cause) {
  const Origin& o = host.origin();
  error_code ec;
  tcp::resolver resolver(ioc);
  auto endpoints = resolver.resolve(o.host, std::to_string(o.port), ec);
  if (ec) {
    cause = "cannot resolve " + o.host + ": " + ec.message();
    return ec;
  }
  ec = run(deadline, [&](Done done) { tcp().async_connect(endpoints, done); });
  if (ec) {
    cause = ec == beast::error::timeout ? "connect timed out" : ec.message();
    return ec;
  }
  tcp().socket().set_option(tcp::no_delay(true), ec);
  if (!tls) return {};

  SSL* ssl = tls->native_handle();
  if (host.options().verify_tls) {
    if (is_ip_literal(o.host)) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), o.host.c_str());
    } else {
      SSL_set1_host(ssl, o.host.c_str());
    }
  }
  if (!is_ip_literal(o.host)) SSL_set_tlsext_host_name(ssl, o.host.c_str());
  ec = run(deadline, [&](Done done) { tls->async_handshake(asio::ssl::stream_base::client, done); });
  if (ec) {
    if (ec == beast::error::timeout) {
      cause = "TLS handshake timed out";
    } else {
      cause = "TLS handshake failed: " + ec.message();
      long verify = SSL_get_verify_result(ssl);
      if (verify != X509_V_OK) cause += " (" + std::string(X509_verify_cert_error_string(verify)) + ")";
    }
  }
  return ec;
}

error_code Transport::write(BeastRequest& req, Deadline deadline, std::size_t& written) {
  in_flight = true;
  return run(
      deadline,
      [&](Done done) {
        if (tls) beast::http::async_write(*tls, req, done);
        else beast::http::async_write(*plain, req, done);
      },
      &written);
}

error_code Transport::read_header(BeastParser& parser, Deadline deadline, bool& got) {
  error_code ec = run(deadline, [&](Done done) {
    if (tls) beast::http::async_read_header(*tls, buffer, parser, done);
    else beast::http::async_read_header(*plain, buffer, parser, done);
  });
  got = parser.got_some() || buffer.size() > 0;
  return ec;
}

error_code Transport::read_body(BeastParser& parser, Deadline deadline) {
  return run(deadline, [&](Done done) {
    if (tls) beast::http::async_read(*tls, buffer, parser, done);
    else beast::http::async_read(*plain, buffer, parser, done);
  });
}

PeekState Transport::peek() const noexcept {
  if (!is_open()) return PeekState::reset;
  // TLS data that arrived on an idle connection is unsolicited too (a close_notify alert).
  if (buffer.size() > 0) return PeekState::unsolicited;
  int fd = const_cast<Transport*>(this)->tcp().socket().native_handle();
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

void Transport::close() noexcept {
  error_code ec;
  if (is_open()) {
    tcp().socket().shutdown(tcp::socket::shutdown_both, ec);
    tcp().socket().close(ec);
  }
  broken = true;
}

bool Transport::is_open() const noexcept { return tcp().socket().is_open(); }

}  // namespace reservoir::http::detail
