// A real Prometheus (scripts/servers.sh start prometheus) scrapes the admin endpoint; its
// HTTP API then returns the pool's series. The server reads its targets from files: this test
// writes one naming its endpoint's port, and removes it at the end. A missing server FAILS.
#include <gtest/gtest.h>

#include <boost/url/url.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "http_client.hpp"
#include "reservoir/admin/server.hpp"

namespace reservoir::admin {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

struct PromEnv {
  std::uint16_t port = 0;
  std::string targets_dir;
};

// From the environment, else from servers.sh's prometheus.env.
PromEnv prometheus_env() {
  std::string url = std::getenv("RESERVOIR_TEST_PROMETHEUS_URL") ? std::getenv("RESERVOIR_TEST_PROMETHEUS_URL") : "";
  std::string dir = std::getenv("RESERVOIR_TEST_PROMETHEUS_TARGETS_DIR") ? std::getenv("RESERVOIR_TEST_PROMETHEUS_TARGETS_DIR") : "";
  if (url.empty() || dir.empty()) {
    const char* state = std::getenv("RESERVOIR_SERVERS_DIR");
    std::ifstream in(std::string(state ? state : "/tmp/reservoir-servers") + "/prometheus.env");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("RESERVOIR_TEST_PROMETHEUS_URL=", 0) == 0) url = line.substr(line.find('=') + 1);
      if (line.rfind("RESERVOIR_TEST_PROMETHEUS_TARGETS_DIR=", 0) == 0) dir = line.substr(line.find('=') + 1);
    }
  }
  PromEnv env;
  const auto colon = url.rfind(':');
  if (colon != std::string::npos) env.port = static_cast<std::uint16_t>(std::atoi(url.c_str() + colon + 1));
  env.targets_dir = dir;
  return env;
}

// The target file, removed however the test ends.
struct TargetFile {
  std::filesystem::path path;
  ~TargetFile() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

TEST(Prometheus, ScrapesTheAdminEndpointAndAnswersAQuery) {
  const PromEnv env = prometheus_env();
  ASSERT_NE(env.port, 0) << "no Prometheus: run scripts/servers.sh start prometheus (it writes prometheus.env)";
  ASSERT_FALSE(env.targets_dir.empty());

  struct NullConnection final : Connection {};
  struct NullConnector final : Connector {
    Result<std::unique_ptr<Connection>> connect(Deadline) override { return std::unique_ptr<Connection>(new NullConnection); }
    Status check(Connection&, CheckDepth, Deadline) override { return {}; }
    Status reset(Connection&, Deadline) override { return {}; }
    void close(std::unique_ptr<Connection>, Deadline) noexcept override {}
    std::string endpoint() const override { return "null:0"; }
  };
  PoolConfig config;
  config.name = "scrape-" + std::to_string(::getpid());
  config.max_size = 3;
  config.min_idle = 0;
  auto pool = std::make_shared<Pool>(Pool::create(std::make_shared<NullConnector>(), config).value());
  { auto lease = pool->acquire(); }
  auto registry = std::make_shared<metrics::Registry>();
  registry->add_pool(pool);
  auto server = AdminServer::start(registry).value();

  TargetFile target{std::filesystem::path(env.targets_dir) / (config.name + ".json")};
  {
    const auto tmp = target.path.string() + ".tmp";
    std::ofstream(tmp) << json::array({{{"targets", {"127.0.0.1:" + std::to_string(server->port())}}}}).dump();
    std::filesystem::rename(tmp, target.path);  // Prometheus never reads half a file
  }

  boost::urls::url query("/api/v1/query");
  query.params().append({"query", "reservoir_pool_max_connections{pool=\"" + config.name + "\"}"});
  json result;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto reply = testing::http_get(env.port, std::string(query.buffer()));
    ASSERT_EQ(reply.status, 200) << reply.body;
    result = json::parse(reply.body);
    if (!result["data"]["result"].empty()) break;
    std::this_thread::sleep_for(250ms);
  }
  ASSERT_EQ(result["status"], "success") << result.dump();
  ASSERT_EQ(result["data"]["result"].size(), 1u) << "no series within 60 s: " << result.dump();
  const json& series = result["data"]["result"][0];
  EXPECT_EQ(series["metric"]["__name__"], "reservoir_pool_max_connections");
  EXPECT_EQ(series["metric"]["pool"], config.name);
  EXPECT_EQ(series["metric"]["job"], "reservoir");
  EXPECT_EQ(series["value"][1], "3");
}

}  // namespace
}  // namespace reservoir::admin
