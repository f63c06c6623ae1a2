// reservoir/http/message.hpp — http::Request and http::Response: plain values, no Beast types,
// so callers include no Boost headers.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace reservoir::http {

struct Header {
  std::string name;
  std::string value;
};

struct Request {
  std::string method = "GET";
  std::string target = "/";  // origin-form: path and query
  std::vector<Header> headers;
  std::string body;

  static Request get(std::string target) { return Request{"GET", std::move(target), {}, {}}; }
  static Request post(std::string target, std::string body, std::string content_type = "application/json") {
    Request r{"POST", std::move(target), {}, std::move(body)};
    r.headers.push_back({"Content-Type", std::move(content_type)});
    return r;
  }
  Request& with_header(std::string name, std::string value) {
    headers.push_back({std::move(name), std::move(value)});
    return *this;
  }

  // Safe to send twice: an idempotent method (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) or an
  // `Idempotency-Key` header. Only such a request is replayed after a stale keep-alive
  // connection failed it once its bytes may have left.
  bool replayable() const noexcept;
};

struct Response {
  int status = 0;
  std::string reason;
  std::vector<Header> headers;
  std::string body;

  // The first header named `name` (case-insensitive).
  std::optional<std::string_view> header(std::string_view name) const noexcept;
  bool ok() const noexcept { return status >= 200 && status < 300; }
};

// Where a request failed, for callers deciding whether it may have had an effect.
enum class Stage {
  none,                 // no failure
  before_write,         // nothing was written: the server never saw the request
  written_no_response,  // the request may have been sent; not one response byte came back
  partial_response,     // a response started and broke off
};

std::string_view to_string(Stage stage) noexcept;

}  // namespace reservoir::http
