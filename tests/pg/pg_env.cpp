#include "pg_env.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <stdexcept>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "env_file.hpp"

namespace reservoir::pg::test {

namespace {

using reservoir::testing::read_env_file;

std::string setting(const std::map<std::string, std::string>& file, const char* name) {
  if (const char* v = std::getenv(name); v != nullptr && std::getenv("RESERVOIR_TEST_PG_URL") != nullptr) return v;
  auto it = file.find(name);
  return it == file.end() ? std::string() : it->second;
}

}  // namespace

std::optional<PgEnv> PgEnv::load(std::string* why) {
  const char* dir = std::getenv("RESERVOIR_SERVERS_DIR");
  const std::string file_path = std::string(dir != nullptr ? dir : "/tmp/reservoir-servers") + "/postgres.env";
  const auto file = read_env_file(file_path);
  PgEnv env{setting(file, "RESERVOIR_TEST_PG_URL"), setting(file, "RESERVOIR_TEST_PG_SECRET_URL"),
            setting(file, "RESERVOIR_TEST_PG_DATA"), setting(file, "RESERVOIR_TEST_PG_BIN"),
            setting(file, "RESERVOIR_TEST_PG_USER"), setting(file, "RESERVOIR_TEST_PG_TLS_URL"),
            setting(file, "RESERVOIR_TEST_PG_CA"), setting(file, "RESERVOIR_TEST_PG_WRONG_CA")};
  if (env.url.empty()) {
    *why = "no PostgreSQL test server: RESERVOIR_TEST_PG_URL is unset and " + file_path + " is missing";
    return std::nullopt;
  }
  if (!env.wait_ready(std::chrono::milliseconds(5000))) {
    *why = "PostgreSQL test server at " + make_connector(env.url).endpoint() + " does not answer";
    return std::nullopt;
  }
  return env;
}

bool PgEnv::wait_ready(std::chrono::milliseconds limit) const {
  Connector c = make_connector(url);
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    auto conn = c.connect(in_ms(1000));
    if (conn && conn.value()->query("SELECT 1", in_ms(1000))) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

int PgEnv::postmaster_pid() const {
  std::ifstream in(data + "/postmaster.pid");
  int pid = -1;
  in >> pid;
  return in ? pid : -1;
}

int PgEnv::pg_ctl(const std::string& args) const {
  std::string cmd = bin + "/pg_ctl -D '" + data + "' " + args;
  if (::geteuid() == 0 && !os_user.empty() && os_user != "root") cmd = "runuser -u " + os_user + " -- " + cmd;
  return std::system((cmd + " >/dev/null 2>&1").c_str());
}

std::string with_param(const std::string& url, const std::string& key, const std::string& value) {
  std::ostringstream encoded;
  for (unsigned char ch : value) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.') encoded << ch;
    else encoded << '%' << std::uppercase << std::hex << (ch >> 4) << (ch & 15) << std::dec;
  }
  return url + (url.find('?') == std::string::npos ? "?" : "&") + key + "=" + encoded.str();
}

Connector make_connector(const std::string& url, ConnectorOptions options) {
  auto c = Connector::create(url, std::move(options));
  if (!c) throw std::runtime_error(c.error().message());
  return std::move(c).value();
}

std::unique_ptr<Connection> must_connect(Connector& connector) {
  auto c = connector.connect(in_ms(5000));
  if (!c) throw std::runtime_error(c.error().message());
  return std::move(c).value();
}

KeepsServerRunning::~KeepsServerRunning() {
  if (env_.wait_ready(std::chrono::milliseconds(3000))) return;
  (void)env_.pg_ctl("start -w -t 30 -l '" + env_.data + "/../server.log'");
  (void)env_.wait_ready(std::chrono::milliseconds(10000));
}

std::string text_of(Connection& conn, const std::string& sql) {
  auto r = conn.query(sql, in_ms(5000));
  if (!r) return "error: " + r.error().message();
  if (r->empty()) return "<no rows>";
  if (r->is_null(0, 0)) return "NULL";
  return r->get_text(0, 0).value();
}

FrozenServer::FrozenServer(const PgEnv& env) : postmaster_(env.postmaster_pid()) { signal_all(SIGSTOP); }

FrozenServer::~FrozenServer() { signal_all(SIGCONT); }

// The postmaster and every process whose parent it is (backends, background workers).
void FrozenServer::signal_all(int sig) const {
  if (postmaster_ <= 0) return;
  ::kill(postmaster_, sig);
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return;
  while (dirent* e = ::readdir(proc)) {
    const int pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::ifstream stat("/proc/" + std::string(e->d_name) + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state = 0;
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid == postmaster_) ::kill(pid, sig);
  }
  ::closedir(proc);
}

}  // namespace reservoir::pg::test
