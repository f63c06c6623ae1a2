#include "http_env.hpp"

#include <cstdlib>
#include <fstream>
#include <map>
#include <stdexcept>

namespace reservoir::http::test {
namespace {

std::map<std::string, std::string> read_env_file(const std::string& name) {
  const char* dir = std::getenv("RESERVOIR_SERVERS_DIR");
  std::ifstream in(std::string(dir != nullptr ? dir : "/tmp/reservoir-servers") + "/" + name);
  std::map<std::string, std::string> out;
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

std::string setting(const std::map<std::string, std::string>& file, const char* name) {
  if (const char* v = std::getenv(name); v != nullptr && *v != '\0') return v;
  auto it = file.find(name);
  return it == file.end() ? std::string() : it->second;
}

// True if `url` answers GET /healthz (nginx) or /health (etcd) with 200.
bool answers(const std::string& url, const std::string& path, const std::string& ca = {}) {
  ConnectorOptions o;
  o.ca_file = ca;
  auto c = Connector::create(url, o);
  if (!c) return false;
  auto conn = c->connect(in_ms(2000));
  if (!conn) return false;
  auto r = (*conn)->request(Request::get(path), in_ms(2000));
  return r && r->status == 200;
}

}  // namespace

NginxEnv nginx_env() {
  auto file = read_env_file("nginx.env");
  NginxEnv env{setting(file, "RESERVOIR_TEST_NGINX_URL"), setting(file, "RESERVOIR_TEST_NGINX_TLS_URL"),
               setting(file, "RESERVOIR_TEST_NGINX_BENCH_URL"), setting(file, "RESERVOIR_TEST_NGINX_CA"),
               setting(file, "RESERVOIR_TEST_NGINX_WRONG_CA")};
  if (env.url.empty() || env.tls_url.empty() || env.ca.empty()) {
    ADD_FAILURE() << "no nginx test server: run `scripts/servers.sh start nginx` (RESERVOIR_TEST_NGINX_URL unset, "
                     "nginx.env missing)";
    return env;
  }
  if (!answers(env.url, "/healthz")) ADD_FAILURE() << "nginx test server at " << env.url << " does not answer";
  return env;
}

std::string etcd_url() {
  auto file = read_env_file("etcd.env");
  std::string url = setting(file, "RESERVOIR_TEST_ETCD_URL");
  if (url.empty()) {
    ADD_FAILURE() << "no etcd test server: run `scripts/servers.sh start etcd` (RESERVOIR_TEST_ETCD_URL unset, etcd.env missing)";
  } else if (!answers(url, "/health")) {
    ADD_FAILURE() << "etcd test server at " << url << " does not answer";
  }
  return url;
}

Connector make_connector(const std::string& url, ConnectorOptions options) {
  auto c = Connector::create(url, std::move(options));
  if (!c) throw std::runtime_error(c.error().message());
  return std::move(c).value();
}

std::string local_url(std::uint16_t port) { return "http://127.0.0.1:" + std::to_string(port); }

std::uint16_t port_of(const std::string& url) {
  return static_cast<std::uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
}

}  // namespace reservoir::http::test
