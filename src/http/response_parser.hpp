// src/http/response_parser.hpp — Beast's HTTP/1.1 response parser (beast::http::basic_parser,
// which does all the parsing and enforces the header and body limits) writing the message
// straight into a reservoir Response: no beast::http::fields container in between (an
// allocation and a tree insertion per header field, then a copy of each into the Response).
#pragma once

#include <algorithm>
#include <boost/beast/http/basic_parser.hpp>
#include <cstdint>

#include "reservoir/http/message.hpp"

namespace reservoir::http::detail {

class ResponseParser final : public boost::beast::http::basic_parser<false> {
 public:
  ResponseParser() { response_.headers.reserve(8); }

  int status() const noexcept { return response_.status; }
  int version() const noexcept { return version_; }
  // The response, once is_done().
  Response release() noexcept { return std::move(response_); }

 private:
  using string_view = boost::beast::string_view;
  using field = boost::beast::http::field;
  using verb = boost::beast::http::verb;
  using error_code = boost::system::error_code;
  // Reserved up front at most (a Content-Length is only a claim until the bytes arrive).
  static constexpr std::uint64_t kReserveCap = 64 * 1024;

  void on_request_impl(verb, string_view, string_view, int, error_code&) override {}
  void on_response_impl(int code, string_view reason, int version, error_code&) override {
    response_.status = code;
    response_.reason.assign(reason.data(), reason.size());
    version_ = version;
  }
  void on_field_impl(field, string_view name, string_view value, error_code&) override {
    response_.headers.push_back({std::string(name.data(), name.size()), std::string(value.data(), value.size())});
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
    if (length) response_.body.reserve(static_cast<std::size_t>(std::min(*length, kReserveCap)));
  }
  std::size_t on_body_impl(string_view body, error_code&) override {
    response_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
    response_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  Response response_;
  int version_ = 0;
};

}  // namespace reservoir::http::detail
