// A blocking loopback HTTP client for the admin tests (Beast), every call bounded by 10 s.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <string>

namespace reservoir::admin::testing {

struct Reply {
  int status = 0;
  std::string content_type;
  std::string csp;
  std::string body;
  std::size_t content_length = 0;
};

inline Reply http_get(std::uint16_t port, const std::string& target, std::string method = "GET",
                      std::size_t extra_header_bytes = 0) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(std::chrono::seconds(10));
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  http::request<http::empty_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "127.0.0.1");
  if (extra_header_bytes > 0) req.set("X-Padding", std::string(extra_header_bytes, 'a'));
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  if (method == "HEAD") parser.skip(true);  // headers only, whatever Content-Length says
  http::read(stream, buffer, parser);
  const auto& res = parser.get();
  Reply r;
  r.status = static_cast<int>(res.result_int());
  r.content_type = std::string(res[http::field::content_type]);
  r.csp = std::string(res["Content-Security-Policy"]);
  r.body = res.body();
  r.content_length = res.has_content_length() ? std::stoul(std::string(res[http::field::content_length])) : 0;
  return r;
}

}  // namespace reservoir::admin::testing
