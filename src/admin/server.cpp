#include "reservoir/admin/server.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>

#include <condition_variable>
#include <array>
#include <list>
#include <mutex>
#include <optional>
#include <thread>

#include "dashboard.hpp"
#include "json.hpp"
#include "thread_prep.hpp"
#include "reservoir/admin/health.hpp"
#include "reservoir/metrics/exposition.hpp"

namespace reservoir::admin {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

using Response = http::response<http::string_body>;

class Session;

}  // namespace

class AdminServer::Impl {
 public:
  Impl(std::shared_ptr<metrics::Registry> registry, AdminOptions options)
      : registry_(std::move(registry)),
        options_(std::move(options)),
        health_(registry_, options_.events, options_.exhausted_threshold, SteadyClock::instance()) {}

  Status listen(const net::ip::address& address);
  void run_thread();
  void stop(Duration grace);
  Response handle(const http::request<http::empty_body>& req);
  // handle(), with any exception turned into a 500: nothing may escape into the io_context.
  Response handle_safely(const http::request<http::empty_body>& req) noexcept;

  // Read by sessions, on the io thread.
  std::size_t active_ = 0;
  std::list<std::weak_ptr<Session>> sessions_;
  std::shared_ptr<metrics::Registry> registry_;
  const AdminOptions options_;
  HealthMonitor health_;
  std::uint16_t port_ = 0;

 private:
  void accept();
  void schedule_sample();

  std::mutex stop_mu_;
  std::condition_variable done_cv_;
  bool done_ = false;

 public:
  // Declared last so it is destroyed first: handlers it still holds (sessions) may touch the
  // members above as they go.
  net::io_context ioc_{1};
  tcp::acceptor acceptor_{ioc_};
  net::steady_timer sampler_{ioc_};
  std::thread thread_;
};

namespace {

Response make_response(const http::request<http::empty_body>& req, http::status status, std::string_view type,
                       std::string body) {
  Response res{status, req.version()};
  res.set(http::field::server, "reservoir-admin");
  res.set(http::field::content_type, type);
  res.set(http::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  res.body() = std::move(body);
  return res;
}

Response bare_response(http::status status, std::string body) {
  Response res{status, 11};
  res.set(http::field::server, "reservoir-admin");
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.body() = std::move(body);
  return res;
}

// Text from backends (error messages) may hold invalid UTF-8: replaced, never thrown on.
std::string dump_json(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, AdminServer::Impl& server) : stream_(std::move(socket)), server_(server) {
    ++server_.active_;
  }
  ~Session() { --server_.active_; }

  void start() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_.options_.max_header_bytes));
    parser_->body_limit(0);
    // The whole request must arrive within read_timeout, however slowly it trickles in.
    stream_.expires_after(server_.options_.read_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void reply(Response res) {
    res_ = std::move(res);
    res_.set(http::field::connection, "close");
    res_.keep_alive(false);
    // HEAD: the headers GET would have, Content-Length included, and no body.
    const std::size_t length = res_.body().size();
    if (head_) res_.body().clear();
    res_.content_length(length);
    stream_.expires_after(server_.options_.read_timeout);
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      self->linger();
    });
  }

  // Half-closes, then reads what the client still sends until it closes too (bounded by
  // read_timeout): closing with unread bytes would reset the connection and could destroy
  // the response before the client reads it (a 431 to a client still sending headers).
  void linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(server_.options_.read_timeout);
    drain();
  }

  void drain() {
    stream_.async_read_some(net::buffer(drain_buf_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      self->drain();
    });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

 private:
  void on_read(beast::error_code ec) {
    if (ec == http::error::header_limit) return reply(bare_response(http::status::request_header_fields_too_large, "request headers too large\n"));
    // A request not complete within read_timeout: tcp_stream has closed the socket already.
    if (ec == beast::error::timeout) return close();
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted || ec == net::error::eof) return close();
    if (ec == http::error::body_limit) return reply(bare_response(http::status::payload_too_large, "no request body accepted\n"));
    if (ec) return reply(bare_response(http::status::bad_request, "bad request\n"));
    head_ = parser_->get().method() == http::verb::head;
    reply(server_.handle_safely(parser_->get()));
  }

  beast::tcp_stream stream_;
  AdminServer::Impl& server_;
  beast::flat_buffer buffer_{8192};
  std::optional<http::request_parser<http::empty_body>> parser_;
  Response res_;
  std::array<char, 4096> drain_buf_;
  bool head_ = false;
};

}  // namespace

Status AdminServer::Impl::listen(const net::ip::address& address) {
  beast::error_code ec;
  const tcp::endpoint endpoint{address, options_.port};
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return Error::unavailable(options_.address + ":" + std::to_string(options_.port), "admin endpoint: " + ec.message());
  }
  port_ = acceptor_.local_endpoint().port();
  accept();
  schedule_sample();
  return {};
}

void AdminServer::Impl::accept() {
  acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      auto session = std::make_shared<Session>(std::move(socket), *this);
      if (active_ > options_.max_connections) {
        session->reply(bare_response(http::status::service_unavailable, "too many admin connections\n"));
      } else {
        std::erase_if(sessions_, [](const std::weak_ptr<Session>& w) { return w.expired(); });
        sessions_.push_back(session);
        session->start();
      }
    }
    accept();
  });
}

void AdminServer::Impl::schedule_sample() {
  sampler_.expires_after(std::chrono::seconds(1));
  sampler_.async_wait([this](beast::error_code ec) {
    if (ec) return;
    health_.sample();
    schedule_sample();
  });
}

void AdminServer::Impl::run_thread() {
  thread_ = std::thread([this] {
    ioc_.run();
    std::lock_guard g(stop_mu_);
    done_ = true;
    done_cv_.notify_all();
  });
}

void AdminServer::Impl::stop(Duration grace) {
  if (!thread_.joinable()) return;
  net::post(ioc_, [this] {
    beast::error_code ec;
    acceptor_.close(ec);
    sampler_.cancel();
    for (auto& w : sessions_)
      if (auto s = w.lock()) s->close();
  });
  {
    std::unique_lock lk(stop_mu_);
    if (!done_cv_.wait_for(lk, grace, [&] { return done_; })) ioc_.stop();
  }
  thread_.join();
}

Response AdminServer::Impl::handle(const http::request<http::empty_body>& req) {
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    Response res = make_response(req, http::status::method_not_allowed, "text/plain; charset=utf-8", "GET only\n");
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  auto url = boost::urls::parse_origin_form(req.target());
  if (!url) return make_response(req, http::status::bad_request, "text/plain; charset=utf-8", "bad request target\n");
  const std::string path = url->path();
  Response res;
  if (path == "/metrics") {
    res = make_response(req, http::status::ok, metrics::kContentType, registry_->render());
  } else if (path == "/healthz") {
    const HealthReport report = health_.report();
    res = make_response(req, report.healthy ? http::status::ok : http::status::service_unavailable,
                        "application/json", dump_json(detail::health_json(report), 2) + "\n");
  } else if (path == "/stats.json") {
    res = make_response(req, http::status::ok, "application/json", dump_json(detail::stats_json(*registry_, health_.report())) + "\n");
  } else if (path == "/events") {
    std::uint64_t after = 0;
    auto params = url->params();
    if (auto it = params.find("after"); it != params.end() && (*it).has_value) {
      try {
        after = std::stoull(std::string((*it).value));
      } catch (...) {
        return make_response(req, http::status::bad_request, "text/plain; charset=utf-8", "after: a number\n");
      }
    }
    std::vector<EventRecord> events;
    if (options_.events) events = options_.events->recent(after);
    res = make_response(req, http::status::ok, "application/json", dump_json(detail::events_json(events)) + "\n");
  } else if (path == "/dashboard" || path == "/") {
    res = make_response(req, http::status::ok, "text/html; charset=utf-8", std::string(detail::dashboard_html()));
    // Nothing on the page may reach beyond this endpoint.
    res.set("Content-Security-Policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:");
  } else {
    return make_response(req, http::status::not_found, "text/plain; charset=utf-8",
                         "not found; try /metrics /healthz /stats.json /events /dashboard\n");
  }
  return res;
}

Response AdminServer::Impl::handle_safely(const http::request<http::empty_body>& req) noexcept {
  try {
    return handle(req);
  } catch (const std::exception& e) {
    return bare_response(http::status::internal_server_error, std::string("internal error: ") + e.what() + "\n");
  } catch (...) {
    return bare_response(http::status::internal_server_error, "internal error\n");
  }
}

Result<std::unique_ptr<AdminServer>> AdminServer::start(std::shared_ptr<metrics::Registry> registry, AdminOptions options) {
  if (!registry) return Error::make(ErrorKind::invalid_argument, "admin: a registry is required");
  beast::error_code ec;
  const net::ip::address address = net::ip::make_address(options.address, ec);
  if (ec) return Error::invalid_config("admin.address", options.address, "an IPv4 or IPv6 address");
  if (!address.is_loopback() && !options.allow_non_loopback) {
    return Error::invalid_config("admin.address", options.address,
                                 "a loopback address (127.0.0.1, ::1) unless allow_non_loopback is set");
  }
  if (options.max_header_bytes < 256) {
    return Error::invalid_config("admin.max_header_bytes", std::to_string(options.max_header_bytes), "256 or more");
  }
  if (options.max_connections == 0) return Error::invalid_config("admin.max_connections", "0", "1 or more");
  if (options.read_timeout <= Duration::zero()) return Error::invalid_config("admin.read_timeout", "0", "more than 0 ms");
  auto impl = std::make_unique<Impl>(std::move(registry), std::move(options));
  if (Status s = impl->listen(address); !s.ok()) return s.error();
  detail::prepare_shared_text_state();
  impl->run_thread();
  return std::make_unique<AdminServer>(std::move(impl));
}

AdminServer::AdminServer(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
AdminServer::~AdminServer() { stop(std::chrono::seconds(1)); }
std::uint16_t AdminServer::port() const noexcept { return impl_->port_; }
const std::string& AdminServer::address() const noexcept { return impl_->options_.address; }
void AdminServer::stop(Duration grace) { impl_->stop(grace); }

}  // namespace reservoir::admin
