#include "reservoir/http/connector.hpp"

#include <boost/asio/ssl/context.hpp>

#include "host.hpp"

namespace reservoir::http {
namespace {

Result<std::shared_ptr<boost::asio::ssl::context>> make_tls_context(const ConnectorOptions& options) {
  namespace ssl = boost::asio::ssl;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  if (!options.verify_tls) {
    ctx->set_verify_mode(ssl::verify_none);
    return ctx;
  }
  ctx->set_verify_mode(ssl::verify_peer, ec);
  if (options.ca_file.empty()) {
    ctx->set_default_verify_paths(ec);
    if (ec) return Error::invalid_config("ca_file", "\"\"", "the system's CA paths did not load: " + ec.message());
  } else {
    ctx->load_verify_file(options.ca_file, ec);
    if (ec) return Error::invalid_config("ca_file", "\"" + options.ca_file + "\"", "cannot load a PEM CA bundle: " + ec.message());
  }
  return ctx;
}

Status validate(const ConnectorOptions& o) {
  if (o.max_header_bytes == 0) return Error::invalid_config("max_header_bytes", "0", "must be at least 1");
  if (o.max_body_bytes == 0) return Error::invalid_config("max_body_bytes", "0", "must be at least 1");
  if (o.max_informational < 0) {
    return Error::invalid_config("max_informational", std::to_string(o.max_informational), "must be 0 or more");
  }
  if (o.idle_margin < Duration::zero()) return Error::invalid_config("idle_margin", "negative", "must be 0 or more");
  if (o.retry_after_cap < Duration::zero()) return Error::invalid_config("retry_after_cap", "negative", "must be 0 or more");
  for (const Request* r : {&o.ping, &o.deep}) {
    if (r->method.empty() || r->target.empty() || r->target.front() != '/') {
      return Error::invalid_config(r == &o.ping ? "ping" : "deep", "\"" + r->method + " " + r->target + "\"",
                                   "a method and a target starting with /");
    }
  }
  return {};
}

}  // namespace

Result<Connector> Connector::create(std::string_view url, ConnectorOptions options) {
  auto origin = detail::parse_origin(url);
  if (!origin) return std::move(origin).error();
  if (auto s = validate(options); !s) return std::move(s).error();
  std::shared_ptr<boost::asio::ssl::context> tls;
  if (origin->tls) {
    auto ctx = make_tls_context(options);
    if (!ctx) return std::move(ctx).error();
    tls = std::move(ctx).value();
  }
  return Connector(std::make_shared<detail::Host>(std::move(origin).value(), std::move(options), std::move(tls)));
}

Result<std::unique_ptr<Connection>> Connector::connect(Deadline deadline) { return Connection::open(host_, deadline); }

Status Connector::check(Connection& conn, CheckDepth depth, Deadline deadline) {
  switch (depth) {
    case CheckDepth::fast: return conn.check_local();
    case CheckDepth::ping: return conn.check_request(host_->options().ping, deadline);
    case CheckDepth::deep: return conn.check_request(host_->options().deep, deadline);
  }
  return conn.check_local();
}

Status Connector::reset(Connection& conn, Deadline deadline) {
  (void)deadline;  // nothing to undo in HTTP; only a connection left mid-response is refused
  return conn.response_not_fully_read();
}

void Connector::close(std::unique_ptr<Connection> conn, Deadline deadline) noexcept {
  (void)deadline;  // closing a socket never blocks; no TLS close_notify round trip
  conn.reset();
}

std::string Connector::endpoint() const { return host_->origin().endpoint; }

std::string Connector::to_string() const {
  return std::string(host_->origin().tls ? "https://" : "http://") + host_->origin().endpoint;
}

std::optional<Duration> Connector::learned_idle_timeout() const noexcept { return host_->idle_estimate(); }

std::optional<TimePoint> Connector::not_before() const noexcept { return host_->gate(); }

}  // namespace reservoir::http
