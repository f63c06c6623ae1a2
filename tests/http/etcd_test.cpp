// etcd through its v3 JSON gateway as a stateful REST workload: puts of unique keys while a
// fault proxy keeps resetting connections, half of the threads straight to etcd and half
// through nginx (which proxies /v3/ to etcd and closes keep-alive connections after 20 requests
// or 1 s idle). Every acknowledged put must be stored, and no put may be applied twice (a
// replayed non-idempotent request would make a key's version 2).
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <map>
#include <thread>

#include "fault_proxy.hpp"
#include "http_env.hpp"
#include "reservoir/run.hpp"
#include "reservoir/typed_pool.hpp"

namespace reservoir::http::test {
namespace {

using namespace std::chrono_literals;

std::string b64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string unb64(std::string_view in) {
  std::string out(3 * in.size() / 4 + 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return {};
  std::size_t pad = in.size() >= 2 ? (in[in.size() - 1] == '=') + (in[in.size() - 2] == '=') : 0;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

std::string put_body(const std::string& key) {
  boost::json::object o;
  o["key"] = b64(key);
  o["value"] = b64("v");
  return boost::json::serialize(o);
}

TEST(HttpEtcd, PutsUnderConnectionResetsAreStoredOnceAndNeverReplayed) {
  std::string url = etcd_url();
  NginxEnv nginx = nginx_env();
  ASSERT_FALSE(HasFailure());
  {
    auto probe = make_connector(nginx.url).connect(in_ms(2000));
    ASSERT_TRUE(probe) << probe.error().message();
    auto r = (*probe)->request(Request::post("/v3/kv/range", "{\"key\":\"AA==\"}"), in_ms(2000));
    ASSERT_TRUE(r && r->status == 200) << "nginx does not proxy /v3/ to etcd: start etcd before nginx "
                                          "(scripts/servers.sh start etcd nginx)";
  }
  tools::FaultProxy to_etcd("127.0.0.1", port_of(url));
  tools::FaultProxy to_nginx("127.0.0.1", port_of(nginx.url));
  PoolConfig config;
  config.name = "etcd";
  config.max_size = 4;
  config.min_idle = 0;
  auto direct_pool = TypedPool<Connector>::create(config, {}, make_connector(local_url(to_etcd.port()))).value();
  auto nginx_pool = TypedPool<Connector>::create(config, {}, make_connector(local_url(to_nginx.port()))).value();

  const std::string prefix = "reservoir-test/" + std::to_string(::getpid()) + "-" +
                             std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + "/";
  constexpr int kThreads = 8, kPuts = 1000;
  std::vector<std::vector<std::string>> acked(kThreads);
  std::map<std::string, int> errors_by_code;
  std::mutex errors_mu;
  std::atomic<bool> done{false};
  std::thread resetter([&] {
    while (!done) {
      std::this_thread::sleep_for(40ms);
      to_etcd.reset_all();
      to_nginx.reset_all();
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPuts; ++i) {
        std::string key = prefix + std::to_string(t) + "/" + std::to_string(i);
        std::string body = put_body(key);
        auto& pool = t % 2 ? nginx_pool : direct_pool;
        auto r = run(pool, [&](Connection& c, Attempt& a) { return c.call(Request::post("/v3/kv/put", body), a); },
                     {.timeout = 5s, .idempotent = false});
        if (r) {
          acked[t].push_back(key);
        } else {
          std::lock_guard lock(errors_mu);
          ++errors_by_code[std::string(to_string(r.error().kind())) + "/" + r.error().code()];
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  done = true;
  resetter.join();

  // Read everything under the prefix straight from etcd (not through the proxy).
  auto direct = make_connector(url);
  auto conn = direct.connect(in_ms(2000)).value();
  std::string end = prefix;
  end.back() = static_cast<char>(end.back() + 1);
  boost::json::object range;
  range["key"] = b64(prefix);
  range["range_end"] = b64(end);
  auto r = conn->call(Request::post("/v3/kv/range", boost::json::serialize(range)), in_ms(10000));
  ASSERT_TRUE(r) << r.error().message();
  auto doc = boost::json::parse(r->body).as_object();
  std::map<std::string, std::string> versions;
  if (auto* kvs = doc.if_contains("kvs")) {
    for (const auto& kv : kvs->as_array()) {
      const auto& o = kv.as_object();
      versions[unb64(o.at("key").as_string())] = std::string(o.at("version").as_string());
    }
  }
  std::size_t total_acked = 0, missing = 0, written_twice = 0;
  for (const auto& keys : acked) {
    total_acked += keys.size();
    for (const auto& k : keys) missing += versions.count(k) == 0;
  }
  for (const auto& [k, v] : versions) written_twice += v != "1";
  std::string errors;
  for (const auto& [code, n] : errors_by_code) errors += code + "=" + std::to_string(n) + " ";
  std::cout << "etcd: " << total_acked << " acknowledged of " << kThreads * kPuts << ", " << versions.size()
            << " stored, proxy resets " << to_etcd.counters().resets + to_nginx.counters().resets
            << ", errors: " << errors << "\n";
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(written_twice, 0u);
  EXPECT_GT(to_etcd.counters().resets, 0u);
  EXPECT_GT(to_nginx.counters().resets, 0u);
  EXPECT_GE(versions.size(), total_acked);
  EXPECT_GT(total_acked, static_cast<std::size_t>(kThreads * kPuts / 2));
}

}  // namespace
}  // namespace reservoir::http::test
