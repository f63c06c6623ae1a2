#include "pgha_env.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace reservoir::pg::test {

std::string server_setting(const std::string& file, const std::string& name) {
  if (const char* v = std::getenv(name.c_str()); v != nullptr && *v != '\0') return v;
  const char* dir = std::getenv("RESERVOIR_SERVERS_DIR");
  std::ifstream in(std::string(dir != nullptr ? dir : "/tmp/reservoir-servers") + "/" + file);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(name + "=")) return line.substr(name.size() + 1);
  }
  return {};
}

std::optional<ReplicaEnv> ReplicaEnv::load(std::string* why) {
  ReplicaEnv env{server_setting("pg-replica.env", "RESERVOIR_TEST_PG_PRIMARY_URL"),
                 server_setting("pg-replica.env", "RESERVOIR_TEST_PG_REPLICA_URL"),
                 server_setting("pg-replica.env", "RESERVOIR_TEST_PG_REPLICA_DATA"),
                 server_setting("pg-replica.env", "RESERVOIR_TEST_PG_PRIMARY_DATA")};
  if (env.primary_url.empty() || env.replica_url.empty()) {
    *why = "no primary + replica test servers: RESERVOIR_TEST_PG_PRIMARY_URL / _REPLICA_URL unset and pg-replica.env missing";
    return std::nullopt;
  }
  return env;
}

std::optional<PatroniEnv> PatroniEnv::load(std::string* why) {
  const auto get = [](const std::string& name) { return server_setting("patroni.env", "RESERVOIR_TEST_PATRONI_" + name); };
  PatroniEnv env;
  env.url = get("URL");
  for (int i = 0; i < 2; ++i) {
    const std::string n = "NODE" + std::to_string(i + 1) + "_";
    env.nodes[i] = {get(n + "PG_URL"), get(n + "REST"), get(n + "DATA")};
    if (env.nodes[i].rest.empty() || env.nodes[i].data.empty()) env.url.clear();
  }
  if (env.url.empty()) {
    *why = "no Patroni test cluster: RESERVOIR_TEST_PATRONI_* unset and patroni.env missing";
    return std::nullopt;
  }
  return env;
}

int pg_ctl(const std::string& data, const std::string& args) {
  const char* bin = std::getenv("RESERVOIR_PG_BIN");
  std::string cmd = std::string(bin != nullptr ? bin : "/usr/lib/postgresql/15/bin") + "/pg_ctl -D '" + data + "' " + args;
  struct stat st {};
  if (::geteuid() == 0 && ::stat(data.c_str(), &st) == 0 && st.st_uid != 0) {
    if (const passwd* owner = ::getpwuid(st.st_uid)) cmd = std::string("runuser -u ") + owner->pw_name + " -- " + cmd;
  }
  return std::system((cmd + " >/dev/null 2>&1").c_str());
}

int postmaster_pid(const std::string& data) {
  std::ifstream in(data + "/postmaster.pid");
  int pid = -1;
  if (!(in >> pid)) return -1;
  return pid;
}

}  // namespace reservoir::pg::test
