// reservoir_spike [REPS]: HikariCP's "Welcome to the Jungle" spike in the same shape as
// ../shared/peers/hikari_spike.sh: a stub connector whose connect takes 150 ms and whose query
// takes 2 ms, max_size 50, min_idle 5, 50 threads released at once, each acquire -> query ->
// release once. Prints one line per repetition and the medians:
//   all_done_ms  acquire_p50_ms  acquire_max_ms  conns_at_end  conns_after_1s
#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "reservoir/pool.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct StubConnection final : reservoir::Connection {};

class StubConnector final : public reservoir::Connector {
 public:
  reservoir::Result<std::unique_ptr<reservoir::Connection>> connect(reservoir::Deadline) override {
    std::this_thread::sleep_for(150ms);
    return std::unique_ptr<reservoir::Connection>(std::make_unique<StubConnection>());
  }
  reservoir::Status check(reservoir::Connection&, reservoir::CheckDepth, reservoir::Deadline) override { return {}; }
  reservoir::Status reset(reservoir::Connection&, reservoir::Deadline) override { return {}; }
  void close(std::unique_ptr<reservoir::Connection>, reservoir::Deadline) noexcept override {}
  std::string endpoint() const override { return "stub:1"; }
};

double ms(Clock::duration d);

struct Rep {
  double all_done_ms, p50_ms, max_ms;
  std::size_t at_end, after_1s;
};

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

Rep run_once() {
  reservoir::PoolConfig config;
  config.max_size = 50;
  config.min_idle = 5;
  config.init_mode = reservoir::InitMode::wait;
  config.keepalive_interval = 0ms;
  struct Trace final : reservoir::PoolListener {
    Clock::time_point t0 = Clock::now();
    void on_event(const reservoir::PoolEvent& e) noexcept override {
      if (e.kind == reservoir::PoolEventKind::connection_created)
        std::fprintf(stderr, "created at +%.1f ms\n", ms(Clock::now() - t0));
    }
  };
  reservoir::PoolOptions options;
  if (std::getenv("SPIKE_STATS")) options.listener = std::make_shared<Trace>();
  auto pool = std::move(reservoir::Pool::create(std::make_shared<StubConnector>(), config, options)).value();
  constexpr int kThreads = 50;
  std::vector<double> acquire_ms(kThreads);
  std::barrier start(kThreads + 1);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      const auto t0 = Clock::now();
      auto lease = pool.acquire(reservoir::Deadline::after(pool.clock(), 5s));
      acquire_ms[i] = ms(Clock::now() - t0);
      if (!lease) std::fprintf(stderr, "acquire failed: %s\n", lease.error().message().c_str());
      std::this_thread::sleep_for(2ms);  // the query
    });
  }
  start.arrive_and_wait();
  const auto t0 = Clock::now();
  for (auto& t : threads) t.join();
  const double all_done = ms(Clock::now() - t0);
  const std::size_t at_end = pool.load().open;
  std::this_thread::sleep_until(t0 + 1s);
  const std::size_t after_1s = pool.load().open;
  if (std::getenv("SPIKE_STATS")) std::fprintf(stderr, "%s\n", pool.stats().to_string().c_str());
  std::sort(acquire_ms.begin(), acquire_ms.end());
  return {all_done, acquire_ms[kThreads / 2], acquire_ms.back(), at_end, after_1s};
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
  std::vector<Rep> rows;
  std::printf("rep  all_done_ms  acquire_p50_ms  acquire_max_ms  conns_at_end  conns_after_1s\n");
  for (int i = 0; i < reps; ++i) {
    rows.push_back(run_once());
    const Rep& r = rows.back();
    std::printf("%3d  %11.2f  %14.2f  %14.2f  %12zu  %14zu\n", i + 1, r.all_done_ms, r.p50_ms, r.max_ms, r.at_end,
                r.after_1s);
  }
  auto median = [&](auto field) {
    std::vector<double> v;
    for (const Rep& r : rows) v.push_back(static_cast<double>(field(r)));
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf("med  %11.2f  %14.2f  %14.2f  %12g  %14g\n", median([](const Rep& r) { return r.all_done_ms; }),
              median([](const Rep& r) { return r.p50_ms; }), median([](const Rep& r) { return r.max_ms; }),
              median([](const Rep& r) { return r.at_end; }), median([](const Rep& r) { return r.after_1s; }));
}
