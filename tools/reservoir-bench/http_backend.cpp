// The HTTP backends through reservoir::http: seed 000's memory workload on etcd (its v3 JSON
// gateway: /v3/kv/put, /v3/kv/range), and `get` (every operation a GET of one URL). The raw
// baseline is Beast itself: one blocking keep-alive connection per thread, no reservoir code.
#include <openssl/evp.h>

#include <charconv>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <boost/version.hpp>
#include <nlohmann/json.hpp>

#include "backend.hpp"
#include "pooled.hpp"
#include "reservoir/http/connector.hpp"

namespace bench {

namespace {

namespace http = reservoir::http;
namespace beast = boost::beast;
using tcp = boost::asio::ip::tcp;

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// What every operation of a run sends: the memory workload as etcd keys under `prefix`, or
// one GET.
struct HttpWork {
  bool etcd = true;
  std::string prefix;      // etcd: "<table>/"
  std::string prefix_end;  // etcd: the prefix with its last byte + 1 (a range over every key)
  std::string get_target;  // get: path and query
};

http::Request etcd_post(std::string target, const nlohmann::json& body, const Op& op) {
  http::Request r = http::Request::post(std::move(target), body.dump());
  // A put of the same value and a range read are safe to send twice: say so, so a stale
  // keep-alive connection may replay them (a plain POST never is).
  r.with_header("Idempotency-Key", op.key);
  return r;
}

http::Request request_for(const HttpWork& w, const Op& op) {
  if (!w.etcd) return http::Request::get(w.get_target);
  switch (op.kind) {
    case OpKind::store:
      return etcd_post("/v3/kv/put",
                       {{"key", base64(w.prefix + op.key)},
                        {"value", base64(op.content + "|" + std::to_string(op.created_ms))}},
                       op);
    case OpKind::retrieve: return etcd_post("/v3/kv/range", {{"key", base64(w.prefix + op.key)}}, op);
    case OpKind::stats:
      return etcd_post("/v3/kv/range",
                       {{"key", base64(w.prefix)}, {"range_end", base64(w.prefix_end)}, {"count_only", true}}, op);
  }
  return http::Request::get("/");
}

// Reads what an answered (2xx) operation saw. Errors: backend, for a body that is not etcd's.
reservoir::Status read_outcome(const HttpWork& w, const Op& op, std::string_view body, OpOutcome& outcome) {
  if (!w.etcd) {
    outcome.hit = true;
    return {};
  }
  if (op.kind == OpKind::store) return {};
  const auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return reservoir::Error::make(reservoir::ErrorKind::backend, "etcd answered with something that is not JSON");
  }
  // etcd's gateway writes int64 fields as strings and leaves out zero values.
  std::int64_t count = 0;
  if (const auto it = doc.find("count"); it != doc.end()) {
    const std::string text = it->is_string() ? it->get<std::string>() : it->dump();
    if (std::from_chars(text.data(), text.data() + text.size(), count).ec != std::errc()) {
      return reservoir::Error::make(reservoir::ErrorKind::backend, "etcd answered a count of \"" + text + "\"");
    }
  }
  if (op.kind == OpKind::retrieve) outcome.hit = count > 0;
  if (op.kind == OpKind::stats) outcome.count = count;
  return {};
}

// Found by PooledTarget / UnpooledTarget for an http::Connection (argument-dependent lookup,
// through HttpWork). A retrieve's body is parsed in read_outcome(): no RowBuffer.
reservoir::Status run_op(http::Connection& conn, const HttpWork& w, const Op& op, reservoir::Deadline deadline,
                         OpOutcome& outcome, RowBuffer* = nullptr) {
  auto r = conn.call(request_for(w, op), deadline);
  if (!r) return std::move(r).error();
  return read_outcome(w, op, r->body, outcome);
}

// Opens one keep-alive connection to host:port (blocking; the raw baseline has no deadlines).
reservoir::Result<tcp::socket> open_socket(boost::asio::io_context& io, const std::string& host, const std::string& port) {
  tcp::resolver resolver(io);
  boost::system::error_code ec;
  auto endpoints = resolver.resolve(host, port, ec);
  tcp::socket socket(io);
  if (!ec) boost::asio::connect(socket, endpoints, ec);
  if (ec) return reservoir::Error::unavailable(host + ":" + port, ec.message());
  socket.set_option(tcp::no_delay(true), ec);
  return socket;
}

// One thread's connection, as a plain Beast client keeps it: reused while the server keeps it
// alive, reopened after a response that closes it (nginx ends a keep-alive connection after
// keepalive_requests).
class RawHttpClient final : public Client {
 public:
  RawHttpClient(boost::asio::io_context& io, std::string host, std::string port, tcp::socket socket,
                const HttpWork& work, OpenCounter& counter)
      : io_(io), host_(std::move(host)), port_(std::move(port)), socket_(std::move(socket)), work_(work),
        counter_(counter) {}
  ~RawHttpClient() override { close(); }

  reservoir::Status run(const Op& op, OpOutcome& outcome, std::int64_t&) override {
    if (!socket_.is_open()) {
      auto s = open_socket(io_, host_, port_);
      if (!s) return std::move(s).error();
      socket_ = std::move(s).value();
      counter_.on_open();
    }
    const http::Request r = request_for(work_, op);
    beast::http::request<beast::http::string_body> req{beast::http::string_to_verb(r.method), r.target, 11};
    req.set(beast::http::field::host, host_ + ":" + port_);
    for (const auto& h : r.headers) req.set(h.name, h.value);
    req.body() = r.body;
    req.prepare_payload();
    beast::http::response<beast::http::string_body> res;
    boost::system::error_code ec;
    beast::http::write(socket_, req, ec);
    if (!ec) beast::http::read(socket_, buffer_, res, ec);
    if (ec) {
      close();
      return reservoir::Error::unavailable(host_ + ":" + port_, ec.message());
    }
    if (!res.keep_alive()) close();
    if (res.result_int() < 200 || res.result_int() >= 300) {
      return reservoir::Error(reservoir::ErrorKind::backend, "HTTP " + std::to_string(res.result_int()), false,
                              std::to_string(res.result_int()));
    }
    return read_outcome(work_, op, res.body(), outcome);
  }

 private:
  void close() noexcept {
    if (!socket_.is_open()) return;
    boost::system::error_code ignored;
    socket_.close(ignored);
    buffer_.clear();
    counter_.on_close();
  }

  boost::asio::io_context& io_;
  std::string host_, port_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  const HttpWork& work_;
  OpenCounter& counter_;
};

class RawHttpTarget final : public Target {
 public:
  RawHttpTarget(std::string host, std::string port, const HttpWork* work)
      : host_(std::move(host)), port_(std::move(port)), work_(work) {}

  reservoir::Result<std::unique_ptr<Client>> client() override {
    auto socket = open_socket(io_, host_, port_);
    if (!socket) return std::move(socket).error();
    counter_.on_open();
    return std::unique_ptr<Client>(
        std::make_unique<RawHttpClient>(io_, host_, port_, std::move(socket).value(), *work_, counter_));
  }
  TargetStats stats() const override { return TargetStats{counter_.max_open.load(), counter_.opened.load(), {}}; }
  reservoir::Status finish(std::chrono::milliseconds) override { return {}; }

 private:
  // Sockets only need it for their executor: blocking calls never run it.
  boost::asio::io_context io_;
  std::string host_, port_;
  const HttpWork* work_;
  OpenCounter counter_;
};

class HttpBackend final : public Backend {
 public:
  HttpBackend(http::Connector connector, std::string url, std::string host, std::string port, HttpWork work,
              const BackendOptions& options)
      : connector_(std::move(connector)),
        url_(std::move(url)),
        host_(std::move(host)),
        port_(std::move(port)),
        work_(std::move(work)),
        options_(options) {}

  std::string kind() const override { return work_.etcd ? "etcd" : "http"; }
  std::string endpoint() const override { return url_; }

  std::string refuses(const WorkloadConfig& w) const override {
    if (work_.etcd && w.kind != "memory") return "etcd+http:// runs the memory workload (use http://…/PATH for get)";
    if (!work_.etcd && w.kind != "get") return "http://…/PATH runs --workload get (use etcd+http:// for memory)";
    return {};
  }

  reservoir::Status prepare(const WorkloadConfig& w) override {
    if (work_.etcd) {
      work_.prefix = w.table + "/";
      work_.prefix_end = w.table + "0";  // '/' + 1 == '0': every key under the prefix
    }
    auto conn = open_one();
    if (!conn) return std::move(conn).error();
    if (auto v = (*conn)->call(http::Request::get(work_.etcd ? "/version" : work_.get_target), deadline()); !v) {
      return std::move(v).error();
    } else {
      version_ = work_.etcd ? v->body : std::string(v->header("Server").value_or(""));
    }
    if (!work_.etcd) return {};
    if (auto st = clear(**conn); !st) return st;
    // Every key once, so retrieves find their key (as the SQL backends' seed statement does).
    Op op{.kind = OpKind::store};
    OpOutcome ignored;
    for (std::int64_t k = 0; k < w.keys; ++k) {
      op.key = key_of(k);
      fill_content(op.content, op.key, 0, w.content_bytes);
      if (auto st = run_op(**conn, work_, op, deadline(), ignored); !st) return st;
    }
    prepared_ = true;
    return {};
  }

  reservoir::Result<std::unique_ptr<Target>> open(Mode mode, const RunSettings& s) override {
    switch (mode) {
      case Mode::pooled: return PooledTarget<http::Connector, HttpWork>::create(connector_, &work_, s);
      case Mode::unpooled:
        return std::unique_ptr<Target>(std::make_unique<UnpooledTarget<http::Connector, HttpWork>>(connector_, &work_, s));
      case Mode::raw: return std::unique_ptr<Target>(std::make_unique<RawHttpTarget>(host_, port_, &work_));
      case Mode::shared: break;  // not offered (offers())
    }
    return reservoir::Error::make(reservoir::ErrorKind::internal, "unknown mode");
  }

  nlohmann::json versions() override {
    nlohmann::json v{{"client", std::string("reservoir::http (Boost ") + BOOST_LIB_VERSION + ")"}};
    const auto server = nlohmann::json::parse(version_, nullptr, false);
    v["server"] = server.is_discarded() ? nlohmann::json(version_) : server;
    return v;
  }

  std::string cleanup(bool keep) override {
    if (keep || !prepared_) return {};
    auto conn = open_one();
    if (!conn) return "could not remove the keys: " + conn.error().message();
    if (auto st = clear(**conn); !st) return "could not remove the keys: " + st.error().message();
    return {};
  }

 private:
  reservoir::Deadline deadline() const {
    return reservoir::Deadline::after(reservoir::SteadyClock::instance(), options_.settings.connect_timeout);
  }
  reservoir::Result<std::unique_ptr<http::Connection>> open_one() { return connector_.connect(deadline()); }
  reservoir::Status clear(http::Connection& conn) {
    const nlohmann::json body{{"key", base64(work_.prefix)}, {"range_end", base64(work_.prefix_end)}};
    auto r = conn.call(http::Request::post("/v3/kv/deleterange", body.dump()), deadline());
    if (!r) return std::move(r).error();
    return {};
  }

  http::Connector connector_;
  std::string url_, host_, port_;
  HttpWork work_;
  BackendOptions options_;
  std::string version_;
  bool prepared_ = false;
};

// Splits `url` with Boost.URL. Errors: invalid_argument naming the URL and what is wrong.
reservoir::Status split(const std::string& url, std::string& host, std::string& port, std::string& target) {
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u || u->host().empty()) {
    return reservoir::Error::make(reservoir::ErrorKind::invalid_argument, "\"" + url + "\" is not an http:// URL with a host");
  }
  if (u->has_userinfo()) {
    return reservoir::Error::make(reservoir::ErrorKind::invalid_argument, "credentials in an http:// target are not supported");
  }
  host = u->host();
  port = u->has_port() ? std::string(u->port()) : "80";
  target = std::string(u->encoded_target());
  if (target.empty()) target = "/";
  return {};
}

reservoir::Result<std::unique_ptr<Backend>> make_http(const std::string& url, bool etcd, const BackendOptions& options) {
  std::string host, port, target;
  if (auto st = split(url, host, port, target); !st) return std::move(st).error();
  if (etcd && target != "/") {
    return reservoir::Error::make(reservoir::ErrorKind::invalid_argument,
                                  "etcd+http://HOST:PORT takes no path (got \"" + target + "\")");
  }
  http::ConnectorOptions co;
  // etcd serves /health; a plain URL is checked by asking for it.
  co.ping = co.deep = http::Request::get(etcd ? "/health" : target);
  auto connector = http::Connector::create("http://" + host + ":" + port, co);
  if (!connector) return std::move(connector).error();
  HttpWork work;
  work.etcd = etcd;
  work.get_target = target;
  const std::string shown = (etcd ? "etcd+" : "") + url;
  return std::unique_ptr<Backend>(
      std::make_unique<HttpBackend>(std::move(connector).value(), shown, host, port, std::move(work), options));
}

}  // namespace

reservoir::Result<std::unique_ptr<Backend>> make_etcd_backend(const std::string& origin, const BackendOptions& options) {
  return make_http(origin, true, options);
}

reservoir::Result<std::unique_ptr<Backend>> make_http_get_backend(const std::string& url, const BackendOptions& options) {
  return make_http(url, false, options);
}

}  // namespace bench
