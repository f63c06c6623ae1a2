// The dashboard in headless Chromium (Debian `chromium`) while a load runs: the page renders
// its figures, they change between two loads of the page, and every request the page makes
// stays on the endpoint (Chromium's net log). A missing chromium FAILS.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "reservoir/admin/server.hpp"

namespace reservoir::admin {
namespace {

using namespace std::chrono_literals;

struct NullConnection final : Connection {};
struct NullConnector final : Connector {
  Result<std::unique_ptr<Connection>> connect(Deadline) override { return std::unique_ptr<Connection>(new NullConnection); }
  Status check(Connection&, CheckDepth, Deadline) override { return {}; }
  Status reset(Connection&, Deadline) override { return {}; }
  void close(std::unique_ptr<Connection>, Deadline) noexcept override {}
  std::string endpoint() const override { return "null:0"; }
};

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Loads `url` in a fresh headless Chromium for `budget_ms` of virtual time (the page's timers
// run, fetches complete) and returns the DOM; the net log goes to `netlog`.
std::string dump_dom(const std::string& url, int budget_ms, const std::filesystem::path& netlog) {
  char tmpl[] = "/tmp/reservoir-chromium-XXXXXX";
  const char* profile = ::mkdtemp(tmpl);
  EXPECT_NE(profile, nullptr);
  const std::filesystem::path out = std::filesystem::path(profile) / "dom.html";
  const std::string cmd =
      "timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking "
      "--disable-component-update --disable-sync --disable-extensions --disable-default-apps --no-pings "
      "--host-resolver-rules='MAP * ~NOTFOUND , EXCLUDE 127.0.0.1' "
      "--user-data-dir=" + std::string(profile) + "/profile --log-net-log=" + netlog.string() +
      " --virtual-time-budget=" + std::to_string(budget_ms) + " --dump-dom '" + url + "' > " + out.string() +
      " 2> " + std::string(profile) + "/stderr.log";
  const int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << cmd << "\n" << read_file(std::filesystem::path(profile) / "stderr.log");
  std::string dom = read_file(out);
  std::error_code ec;
  std::filesystem::remove_all(profile, ec);
  return dom;
}

// The text of the element carrying `attribute` (e.g. data-figure="acquires").
std::string figure(const std::string& dom, const std::string& attribute) {
  const std::regex re(attribute + R"([^>]*>([^<]*)<)");
  std::smatch m;
  return std::regex_search(dom, m, re) ? m[1].str() : std::string();
}

TEST(DashboardInChromium, RendersFiguresThatMoveWithTheLoad) {
  ASSERT_EQ(std::system("command -v chromium >/dev/null"), 0) << "chromium missing (scripts/setup.sh installs it)";
  PoolConfig config;
  config.name = "dash";
  config.max_size = 2;
  config.min_idle = 0;
  auto pool = std::make_shared<Pool>(Pool::create(std::make_shared<NullConnector>(), config).value());
  auto registry = std::make_shared<metrics::Registry>();
  registry->add_pool(pool);
  auto breaker = CircuitBreaker::create("db:5432", {}, SteadyClock::instance()).value();
  registry->add_breaker(breaker);
  auto events = std::make_shared<EventRing>();
  auto server = AdminServer::start(registry, {.events = events}).value();

  std::atomic<bool> stop{false};
  std::vector<std::thread> load;
  for (int i = 0; i < 4; ++i) {
    load.emplace_back([&] {
      while (!stop) {
        if (auto lease = pool->acquire(Deadline::after(SteadyClock::instance(), 1s))) std::this_thread::sleep_for(1ms);
        std::this_thread::sleep_for(500us);
      }
    });
  }
  const std::string origin = "http://127.0.0.1:" + std::to_string(server->port());
  const auto netlog = std::filesystem::temp_directory_path() / ("reservoir-netlog-" + std::to_string(::getpid()) + ".json");
  const std::string first = dump_dom(origin + "/dashboard", 3000, netlog);
  const std::string second = dump_dom(origin + "/dashboard", 3000, netlog);
  stop = true;
  for (auto& t : load) t.join();

  for (const std::string* dom : {&first, &second}) {
    EXPECT_NE(dom->find("data-pool=\"dash\""), std::string::npos) << *dom;
    EXPECT_NE(dom->find("<canvas"), std::string::npos);
    EXPECT_NE(dom->find("data-breaker=\"db:5432\""), std::string::npos);
    EXPECT_GE(std::atoi(figure(*dom, "id=\"polls\"").c_str()), 2) << "the page polled /stats.json";
    EXPECT_EQ(figure(*dom, "data-figure=\"max_size\""), "2");
  }
  const long a1 = std::atol(figure(first, "data-figure=\"acquires\"").c_str());
  const long a2 = std::atol(figure(second, "data-figure=\"acquires\"").c_str());
  EXPECT_GT(a1, 0);
  EXPECT_GT(a2, a1) << "the acquires figure moved with the load";

  // Every request the page made (initiator: the dashboard's origin) went to the endpoint.
  const auto log = nlohmann::json::parse(read_file(netlog), nullptr, false);
  ASSERT_FALSE(log.is_discarded()) << "unreadable net log";
  int page_requests = 0;
  for (const auto& e : log["events"]) {
    if (!e.contains("params")) continue;
    const auto& p = e["params"];
    if (!p.contains("url") || !p.contains("initiator") || p["initiator"] != origin) continue;
    ++page_requests;
    EXPECT_EQ(p["url"].get<std::string>().rfind(origin + "/", 0), 0u) << p["url"];
  }
  EXPECT_GT(page_requests, 0) << "the net log shows the page's fetches";
  std::filesystem::remove(netlog);
}

}  // namespace
}  // namespace reservoir::admin
