#include "cluster_pg_env.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <stdexcept>
#include <thread>

#include "env_file.hpp"
#include "reservoir/pg/connector.hpp"

namespace reservoir::cluster::pgtest {

namespace {

using reservoir::testing::read_env_file;

Deadline in_ms(long ms) { return Deadline::after(SteadyClock::instance(), std::chrono::milliseconds(ms)); }

}  // namespace

std::optional<PgServer> PgServer::load(const std::string& prefix, const std::string& file, std::string* why) {
  const char* dir = std::getenv("RESERVOIR_SERVERS_DIR");
  const std::string path = std::string(dir != nullptr ? dir : "/tmp/reservoir-servers") + "/" + file;
  const auto values = read_env_file(path);
  const bool from_env = std::getenv((prefix + "_URL").c_str()) != nullptr;
  auto get = [&](const std::string& name) -> std::string {
    const std::string key = prefix + "_" + name;
    if (from_env) {
      const char* v = std::getenv(key.c_str());
      return v != nullptr ? v : "";
    }
    auto it = values.find(key);
    return it == values.end() ? "" : it->second;
  };
  PgServer s{get("URL"), get("SECRET_URL"), get("DATA"), get("BIN"), get("USER")};
  if (s.url.empty()) {
    *why = "no PostgreSQL test server: " + prefix + "_URL is unset and " + path + " is missing";
    return std::nullopt;
  }
  if (!s.answers(std::chrono::milliseconds(5000))) {
    *why = "PostgreSQL test server " + prefix + " (port " + std::to_string(s.port()) + ") does not answer";
    return std::nullopt;
  }
  return s;
}

int PgServer::port() const {
  const auto at = url.find('@');
  const auto colon = url.find(':', at);
  return colon == std::string::npos ? 0 : std::atoi(url.c_str() + colon + 1);
}

bool PgServer::answers(std::chrono::milliseconds limit) const {
  auto c = pg::Connector::create(url);
  if (!c) return false;
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    auto conn = c->connect(in_ms(1000));
    if (conn && conn.value()->query("SELECT 1", in_ms(1000))) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

void PgServer::exec(const std::string& sql) const {
  auto c = pg::Connector::create(url);
  if (!c) throw std::runtime_error(c.error().message());
  auto conn = c->connect(in_ms(5000));
  if (!conn) throw std::runtime_error(conn.error().message());
  if (auto r = conn.value()->execute(sql, in_ms(5000)); !r) throw std::runtime_error(r.error().message());
  c->close(std::move(conn).value(), in_ms(1000));
}

int PgServer::pg_ctl(const std::string& args) const {
  std::string cmd = bin + "/pg_ctl -D '" + data + "' " + args;
  if (::geteuid() == 0 && !os_user.empty() && os_user != "root") cmd = "runuser -u " + os_user + " -- " + cmd;
  return std::system((cmd + " >/dev/null 2>&1").c_str());
}

KeepsRunning::~KeepsRunning() {
  if (s_.answers(std::chrono::milliseconds(1000))) return;
  (void)s_.pg_ctl("start -w -t 30 -l '" + s_.data + "/../server.log'");
  (void)s_.answers(std::chrono::milliseconds(10000));
}

}  // namespace reservoir::cluster::pgtest
