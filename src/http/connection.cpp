#include "reservoir/http/connection.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <charconv>
#include <ctime>

#include "host.hpp"
#include "steps.hpp"
#include "transport.hpp"

namespace reservoir::http {
namespace {

namespace bhttp = boost::beast::http;
using detail::error_code;

constexpr Duration kPeekAfterIdle = std::chrono::milliseconds(1);

long long ms(Duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

std::string what(const Request& req) { return req.method + " " + req.target; }

bool is_transport_error(const error_code& ec) {
  if (ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category())
    return ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message;
  return ec != boost::beast::error::timeout;
}

// Seconds from a Retry-After value: delta-seconds or an HTTP-date.
std::optional<Duration> parse_retry_after(std::string_view v) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  long long secs = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), secs);
  if (ec == std::errc() && end == v.data() + v.size() && secs >= 0) return std::chrono::seconds(secs);
  std::tm tm{};
  std::string s(v);
  if (::strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm) == nullptr) return std::nullopt;
  long long delta = static_cast<long long>(::timegm(&tm)) - static_cast<long long>(std::time(nullptr));
  return std::chrono::seconds(std::max(0LL, delta));
}

// `timeout=N` from a Keep-Alive header.
std::optional<Duration> parse_keepalive_timeout(std::string_view v) {
  auto pos = v.find("timeout=");
  if (pos == std::string_view::npos) return std::nullopt;
  v.remove_prefix(pos + 8);
  long long secs = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), secs);
  if (ec != std::errc() || secs <= 0) return std::nullopt;
  return std::chrono::seconds(secs);
}

detail::BeastRequest to_beast(const Request& req, const detail::Host& host) {
  detail::BeastRequest br;
  br.version(11);
  auto verb = bhttp::string_to_verb(req.method);
  if (verb == bhttp::verb::unknown) br.method_string(req.method);
  else br.method(verb);
  br.target(req.target);
  br.set(bhttp::field::host, host.origin().host_header);
  if (!host.options().user_agent.empty()) br.set(bhttp::field::user_agent, host.options().user_agent);
  for (const auto& h : req.headers) br.insert(h.name, h.value);
  br.body() = req.body;
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT" || req.method == "PATCH") br.prepare_payload();
  return br;
}

}  // namespace

Connection::Connection(std::shared_ptr<detail::Host> host) : host_(std::move(host)) {}

Connection::~Connection() = default;

const std::string& Connection::endpoint() const noexcept { return host_->origin().endpoint; }

bool Connection::is_broken() const noexcept {
  return !transport_ || transport_->broken || transport_->must_close || transport_->in_flight || !transport_->is_open();
}

Duration Connection::idle_for() const noexcept { return host_->clock().now() - last_used_; }

Result<std::unique_ptr<Connection>> Connection::open(std::shared_ptr<detail::Host> host, Deadline deadline) {
  std::unique_ptr<Connection> conn(new Connection(std::move(host)));
  if (auto s = conn->reconnect(deadline); !s) return std::move(s).error();
  conn->reconnects_ = 0;
  return conn;
}

Status Connection::reconnect(Deadline deadline) {
  transport_.reset();  // closes the old socket first: never two open for one lease
  auto t = detail::Steps::new_transport(*this);
  std::string cause;
  error_code ec = t->connect(deadline, cause);
  return detail::Steps::connected(*this, std::move(t), ec, cause);
}

Result<Response> Connection::exchange(const Request& req, Deadline deadline) {
  using detail::Steps;
  if (auto e = Steps::writable(*this, req)) return std::move(*e);
  auto& t = *transport_;
  auto br = Steps::to_beast(*this, req);
  std::size_t written = 0;
  if (error_code ec = t.write(br, deadline, written)) {
    return Steps::fail(*this, req, written == 0 ? Stage::before_write : Stage::written_no_response, ec);
  }
  for (int count = 0;; ++count) {
    detail::BeastParser parser;
    Steps::prepare(*this, parser, req);
    bool got = false;
    if (error_code ec = t.read_header(parser, deadline, got)) {
      return Steps::fail(*this, req, got ? Stage::partial_response : Stage::written_no_response, ec);
    }
    bool informational = false;
    if (auto e = Steps::on_head(*this, parser, req, count, informational)) return std::move(*e);
    if (informational) continue;
    if (!parser.is_done()) {
      if (error_code ec = t.read_body(parser, deadline)) return Steps::fail(*this, req, Stage::partial_response, ec);
    }
    return Steps::finish(*this, parser);
  }
}

Result<Response> Connection::request(const Request& req, Deadline deadline) {
  using detail::Steps;
  auto gate = Steps::gate(*this, req, deadline);
  if (!gate) return std::move(gate).error();
  if (*gate) deadline.clock().sleep_until(**gate);
  bool retried = false;
  for (;;) {
    bool reused = Steps::reuse(*this);
    if (!reused) {
      if (auto s = reconnect(deadline); !s) return std::move(s).error();
    }
    Duration idle = idle_for();
    auto r = exchange(req, deadline);
    if (r) {
      Steps::succeeded(*this, *r, reused, idle);
      return r;
    }
    if (auto e = Steps::after_failure(*this, req, std::move(r).error(), reused, retried, idle)) return std::move(*e);
  }
}

namespace detail {

Result<std::optional<TimePoint>> Steps::gate(Connection& c, const Request& req, Deadline deadline) {
  if (!c.host_->gate()) return std::optional<TimePoint>();  // open: no error text built per request
  auto until = c.host_->gate_until(deadline, what(req));
  if (!until) c.last_stage_ = Stage::before_write;
  return until;
}

bool Steps::reuse(Connection& c) {
  auto& t = c.transport_;
  if (!t || t->broken || t->must_close || !t->is_open()) return false;
  if (c.served_on_transport_ == 0) return true;  // fresh: nothing to look at
  // Replace, before anything is written, a connection the server already closed or is
  // about to close. A connection used within kPeekAfterIdle is not peeked (a syscall per
  // request on a busy pool); a close in that window is still caught by the stale retry.
  auto peek = c.idle_for() < kPeekAfterIdle ? PeekState::alive : t->peek();
  if (peek == PeekState::closed) c.host_->note_closed_idle(c.idle_for());
  auto retire = c.host_->retire_after();
  if (peek != PeekState::alive || (retire && c.idle_for() >= *retire)) {
    t.reset();  // closes the old socket first: never two open for one lease
    return false;
  }
  return true;
}

std::unique_ptr<Transport> Steps::new_transport(Connection& c) {
  c.transport_.reset();
  return std::make_unique<Transport>(*c.host_);
}

Status Steps::connected(Connection& c, std::unique_ptr<Transport> t, const error_code& ec, const std::string& cause) {
  c.last_used_ = c.host_->clock().now();
  c.served_on_transport_ = 0;
  ++c.reconnects_;
  if (ec) {
    c.last_stage_ = Stage::before_write;
    if (ec == boost::beast::error::timeout) {
      return Error(ErrorKind::timeout, c.endpoint() + ": " + cause + " (deadline passed)", true,
                   std::string(to_string(Stage::before_write)));
    }
    return Error(ErrorKind::unavailable, c.endpoint() + ": " + cause, true, std::string(to_string(Stage::before_write)));
  }
  c.transport_ = std::move(t);
  return {};
}

std::optional<Error> Steps::writable(Connection& c, const Request& req) {
  auto& t = *c.transport_;
  if (t.broken || t.must_close || !t.is_open()) return fail(c, req, Stage::before_write, boost::asio::error::not_connected);
  return std::nullopt;
}

BeastRequest Steps::to_beast(Connection& c, const Request& req) { return http::to_beast(req, *c.host_); }

void Steps::prepare(Connection& c, BeastParser& parser, const Request& req) {
  const auto& opts = c.host_->options();
  parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(opts.max_header_bytes, UINT32_MAX)));
  parser.body_limit(opts.max_body_bytes);
  if (req.method == "HEAD") parser.skip(true);
}

std::optional<Error> Steps::on_head(Connection& c, BeastParser& parser, const Request& req, int count,
                                    bool& informational) {
  auto protocol = [&](std::string why) -> Error {
    c.last_stage_ = Stage::partial_response;
    c.transport_->close();
    return Error(ErrorKind::backend, c.endpoint() + ": " + what(req) + ": " + why, false, "protocol_error");
  };
  int status = parser.status();
  informational = status >= 100 && status < 200;
  if (!informational) return std::nullopt;
  if (status == 101) return protocol("101 Switching Protocols: this client does not upgrade");
  const int max = c.host_->options().max_informational;
  if (count >= max) return protocol("more than max_informational=" + std::to_string(max) + " 1xx responses");
  return std::nullopt;
}

Response Steps::finish(Connection& c, BeastParser& parser) {
  auto& t = *c.transport_;
  if (parser.version() != 11 || !parser.keep_alive()) t.must_close = true;
  t.in_flight = false;
  c.last_stage_ = Stage::none;
  return parser.release();
}

Error Steps::fail(Connection& c, const Request& req, Stage stage, const error_code& ec) {
  const auto& opts = c.host_->options();
  c.last_stage_ = stage;
  if (c.transport_) c.transport_->close();
  std::string head = c.endpoint() + ": " + what(req) + ": ";
  std::string stage_name(to_string(stage));
  if (ec == boost::beast::error::timeout) {
    return Error(ErrorKind::timeout, head + "deadline passed (" + stage_name + "); connection closed", true, stage_name);
  }
  if (ec == bhttp::error::body_limit) {
    return Error(ErrorKind::backend, head + "response body exceeds max_body_bytes=" + std::to_string(opts.max_body_bytes),
                 false, "body_limit");
  }
  if (ec == bhttp::error::header_limit) {
    return Error(ErrorKind::backend,
                 head + "response header block exceeds max_header_bytes=" + std::to_string(opts.max_header_bytes), false,
                 "header_limit");
  }
  if (!is_transport_error(ec)) {
    return Error(ErrorKind::backend, head + "not a valid HTTP/1.1 response: " + ec.message() + " (" + stage_name + ")",
                 false, "protocol_error");
  }
  return Error(ErrorKind::unavailable, head + ec.message() + " (" + stage_name + ")", true, stage_name);
}

Error Steps::cancelled(Connection& c, const Request& req, Stage stage) {
  c.last_stage_ = stage;
  if (c.transport_) c.transport_->close();
  return Error(ErrorKind::cancelled,
               c.endpoint() + ": " + what(req) + ": cancelled (" + std::string(to_string(stage)) + "); connection closed",
               false, std::string(to_string(stage)));
}

void Steps::succeeded(Connection& c, const Response& r, bool reused, Duration idle) {
  if (reused && c.served_on_transport_ > 0) c.host_->note_survived_idle(idle);
  ++c.requests_;
  ++c.served_on_transport_;
  c.last_used_ = c.host_->clock().now();
  c.note_response(r);
}

std::optional<Error> Steps::after_failure(Connection& c, const Request& req, Error error, bool reused, bool& retried,
                                          Duration idle) {
  const Stage stage = c.last_stage_;
  bool stale = reused && c.served_on_transport_ > 0 && !retried && error.kind() == ErrorKind::unavailable &&
               (stage == Stage::before_write || stage == Stage::written_no_response);
  if (!stale) return error;
  if (stage == Stage::written_no_response && !req.replayable()) {
    return Error(ErrorKind::backend,
                 c.endpoint() + ": " + what(req) + ": the reused keep-alive connection (idle " + std::to_string(ms(idle)) +
                     " ms) failed after the request was written, before any response: not replayed (" + req.method +
                     " is not idempotent and has no Idempotency-Key); the request may or may not have been processed",
                 false, "stale_connection");
  }
  retried = true;
  return std::nullopt;
}

}  // namespace detail

void Connection::note_response(const Response& r) {
  if (auto ka = r.header("Keep-Alive")) {
    if (auto t = parse_keepalive_timeout(*ka)) host_->note_keepalive_hint(*t);
  }
  if (r.status != 429 && r.status != 503) return;
  auto ra = r.header("Retry-After");
  if (!ra) return;
  auto wait = parse_retry_after(*ra);
  if (!wait) return;
  host_->close_gate(host_->clock().now() + std::min(*wait, host_->options().retry_after_cap), r.status);
}

Result<Response> Connection::call(const Request& req, Deadline deadline) {
  return detail::Steps::as_call(*this, req, request(req, deadline));
}

Result<Response> detail::Steps::as_call(Connection& c, const Request& req, Result<Response> r) {
  if (!r || r->ok()) return r;
  int s = r->status;
  bool retryable = s == 429 || s == 502 || s == 503 || s == 504;
  return Error(ErrorKind::backend, c.endpoint() + ": " + what(req) + ": " + std::to_string(s) + " " + r->reason, retryable,
               std::to_string(s));
}

Result<Response> Connection::call(const Request& req, Attempt& attempt) {
  auto r = call(req, attempt.deadline());
  if (!r && last_stage_ == Stage::before_write) attempt.set_request_sent(false);
  return r;
}

Status Connection::check_local() {
  if (is_broken()) return Error::unavailable(endpoint(), "connection closed or not reusable");
  switch (transport_->peek()) {
    case detail::PeekState::alive: break;
    case detail::PeekState::closed:
      host_->note_closed_idle(idle_for());
      transport_->close();
      return Error::unavailable(endpoint(), "closed by the server while idle (" + std::to_string(ms(idle_for())) + " ms)");
    case detail::PeekState::reset:
      transport_->close();
      return Error::unavailable(endpoint(), "connection reset while idle");
    case detail::PeekState::unsolicited:
      transport_->close();
      return Error::unavailable(endpoint(), "unsolicited bytes on an idle connection");
  }
  if (auto retire = host_->retire_after(); retire && served_on_transport_ > 0 && idle_for() >= *retire) {
    transport_->close();
    return Error::unavailable(endpoint(), "idle " + std::to_string(ms(idle_for())) +
                                              " ms, retired before the server's learned idle timeout (~" +
                                              std::to_string(ms(*host_->idle_estimate())) + " ms)");
  }
  return {};
}

Status Connection::check_request(const Request& req, Deadline deadline) {
  if (auto s = check_local(); !s) return s;
  Duration idle = idle_for();
  bool reused = served_on_transport_ > 0;
  auto r = exchange(req, deadline);
  if (!r) {
    if (reused && last_stage_ == Stage::written_no_response) host_->note_closed_idle(idle);
    return std::move(r).error();
  }
  if (reused) host_->note_survived_idle(idle);
  ++requests_;
  ++served_on_transport_;
  last_used_ = host_->clock().now();
  if (!r->ok()) {
    return Error::unavailable(endpoint(), "health check " + what(req) + " answered " + std::to_string(r->status));
  }
  return {};
}

Status Connection::response_not_fully_read() const {
  if (!transport_ || !transport_->is_open() || transport_->broken) return Error::unavailable(endpoint(), "connection closed");
  if (transport_->in_flight) return Error::unavailable(endpoint(), "a response was not fully read: closed, not reused");
  if (transport_->must_close) return Error::unavailable(endpoint(), "the server asked to close (Connection: close)");
  return {};
}

}  // namespace reservoir::http
