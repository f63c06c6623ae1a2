#include "backend.hpp"

namespace bench {

std::string_view to_string(Mode mode) noexcept {
  switch (mode) {
    case Mode::pooled: return "pooled";
    case Mode::raw: return "raw";
    case Mode::unpooled: return "unpooled";
    case Mode::shared: return "shared";
  }
  return "?";
}

reservoir::Result<std::unique_ptr<Backend>> make_backend(const std::string& uri, const BackendOptions& options) {
  if (uri.starts_with("sqlite:")) return make_sqlite_backend(uri.substr(7), options);
  if (uri.starts_with("postgresql://") || uri.starts_with("postgres://")) return make_pg_backend(uri, options);
  if (uri.starts_with("etcd+http://")) return make_etcd_backend(uri.substr(5), options);
  if (uri.starts_with("http://")) return make_http_get_backend(uri, options);
  const auto colon = uri.find(':');
  const std::string scheme = colon == std::string::npos ? uri : uri.substr(0, colon + 1);
  return reservoir::Error::make(reservoir::ErrorKind::invalid_argument,
                                "unsupported scheme \"" + scheme +
                                    "\": expected sqlite:[PATH], postgresql://…, etcd+http://… or http://…");
}

}  // namespace bench
