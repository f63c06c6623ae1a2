#include "scenario.hpp"

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cmath>
#include <latch>
#include <mutex>
#include <thread>

#include "pooled.hpp"

namespace bench {

std::string ScenarioSpec::describe() const {
  const std::string who = std::to_string(clients) + (clients == 1 ? " client" : " clients");
  if (duration.count() > 0) return who + ", " + std::to_string(duration.count() / 1000.0).substr(0, 4) + " s";
  if (bursts > 0) {
    return std::to_string(bursts) + " bursts of " + who + " x " + std::to_string(burst_ops) + " ops, " +
           std::to_string(burst_gap.count()) + " ms apart";
  }
  return who + ", " + std::to_string(ops) + " ops";
}

std::uint64_t ScenarioSpec::requested() const {
  if (duration.count() > 0) return 0;
  if (bursts > 0) return static_cast<std::uint64_t>(bursts) * static_cast<std::uint64_t>(clients) * static_cast<std::uint64_t>(burst_ops);
  return ops;
}

Figures figures_of(std::vector<std::int64_t>& s) {
  Figures f;
  if (s.empty()) return f;
  std::sort(s.begin(), s.end());
  auto pct = [&](double p) { return s[static_cast<std::size_t>(std::max(0.0, std::ceil(p * static_cast<double>(s.size())) - 1))]; };
  f.count = s.size();
  f.min = s.front();
  f.max = s.back();
  f.p50 = pct(0.50);
  f.p95 = pct(0.95);
  f.p99 = pct(0.99);
  long double sum = 0;
  for (auto v : s) sum += v;
  f.avg = static_cast<double>(sum / static_cast<long double>(s.size()));
  return f;
}

namespace {

using Clock = std::chrono::steady_clock;

// One client thread's record; only its thread writes it until the scenario ends.
struct alignas(64) Recorder {
  std::atomic<std::uint64_t> done{0};  // read by the progress reporter
  std::uint64_t failed = 0;
  std::vector<std::int64_t> latency;
  std::vector<std::int64_t> acquire;
  std::vector<std::int64_t> acquire_idle;
  std::array<std::uint64_t, kOpKinds> by_kind{};
  std::uint64_t hits = 0;
  std::map<std::string, std::uint64_t> errors;
  std::string first_error;
  std::vector<std::uint64_t> per_second;
  std::string setup_error;

  void one(Client& client, OpSource& source, Op& op, Clock::time_point start) {
    source.next(op);
    OpOutcome outcome;
    std::int64_t acquire_ns = -1;
    const std::int64_t t0 = steady_ns();
    reservoir::Status st = client.run(op, outcome, acquire_ns);
    const std::int64_t t1 = steady_ns();
    latency.push_back(t1 - t0);
    if (acquire_ns >= 0) acquire.push_back(acquire_ns);
    if (acquire_ns >= 0 && !outcome.acquire_connected) acquire_idle.push_back(acquire_ns);
    ++by_kind[static_cast<std::size_t>(op.kind)];
    if (outcome.hit) ++hits;
    if (st) {
      if (!per_second.empty()) {
        const auto sec = static_cast<std::size_t>(std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start).count());
        if (sec < per_second.size()) ++per_second[sec];
      }
    } else {
      ++failed;
      ++errors[std::string(reservoir::to_string(st.error().kind()))];
      if (first_error.empty()) first_error = st.error().message();
    }
    done.store(done.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
};

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::vector<std::pair<double, double>> cdf_of(const std::vector<std::int64_t>& sorted) {
  std::vector<std::pair<double, double>> out;
  if (sorted.empty()) return out;
  // Dense near the tail, where the distribution's shape matters.
  for (double p = 0; p <= 100.0 + 1e-9;) {
    const auto i = std::min(sorted.size() - 1, static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1)));
    out.emplace_back(p, static_cast<double>(sorted[i]) / 1000.0);
    p += p < 90 ? 1.0 : p < 99 ? 0.1 : 0.01;
  }
  return out;
}

struct Shared {
  const ScenarioSpec& spec;
  const WorkloadConfig& workload;
  std::atomic<std::uint64_t> next{0};
  std::atomic<bool> stop{false};
  Clock::time_point start;
};

void merge(ScenarioResult& r, std::vector<Recorder>& recs) {
  std::vector<std::int64_t> lat, acq, acq_idle;
  for (auto& rec : recs) {
    r.ops_done += rec.done.load();
    r.ops_failed += rec.failed;
    lat.insert(lat.end(), rec.latency.begin(), rec.latency.end());
    acq.insert(acq.end(), rec.acquire.begin(), rec.acquire.end());
    acq_idle.insert(acq_idle.end(), rec.acquire_idle.begin(), rec.acquire_idle.end());
    for (int k = 0; k < kOpKinds; ++k) r.by_kind[k] += rec.by_kind[k];
    r.retrieve_hits += rec.hits;
    for (auto& [kind, n] : rec.errors) r.errors_by_kind[kind] += n;
    if (r.first_error.empty()) r.first_error = rec.first_error;
    if (r.per_second.size() < rec.per_second.size()) r.per_second.resize(rec.per_second.size());
    for (std::size_t i = 0; i < rec.per_second.size(); ++i) r.per_second[i] += rec.per_second[i];
  }
  r.latency = figures_of(lat);
  r.acquire = figures_of(acq);
  r.acquire_idle = figures_of(acq_idle);
  r.cdf = cdf_of(lat);
}

}  // namespace

reservoir::Result<ScenarioResult> run_scenario(Backend& backend, Mode mode, const ScenarioSpec& spec,
                                               const WorkloadConfig& workload, const RunSettings& settings,
                                               const RunnerSettings& runner) {
  auto target = backend.open(mode, settings);
  if (!target) return std::move(target).error();
  ScenarioResult r;
  r.spec = spec;
  r.mode = mode;

  const int n = spec.clients;
  std::vector<Recorder> recs(static_cast<std::size_t>(n));
  const std::uint64_t per_client_hint = spec.requested() / static_cast<std::uint64_t>(n) + 16;
  const auto timed_seconds = static_cast<std::size_t>(spec.duration.count() / 1000 + 2);
  for (auto& rec : recs) {
    rec.latency.reserve(spec.duration.count() > 0 ? 1 << 16 : per_client_hint);
    if (mode == Mode::pooled) rec.acquire.reserve(spec.duration.count() > 0 ? 1 << 16 : per_client_hint);
    if (spec.duration.count() > 0) rec.per_second.assign(timed_seconds, 0);
  }
  Shared shared{spec, workload};
  std::latch ready(n);                             // every client connected (raw) or failed
  std::barrier<> burst_sync(n + 1);                // bursts: start and end of each burst
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int c = 0; c < n; ++c) {
    threads.emplace_back([&, c] {
      Recorder& rec = recs[static_cast<std::size_t>(c)];
      auto client = (*target)->client();
      if (!client) rec.setup_error = client.error().message();
      ready.count_down();
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      if (!client || shared.stop.load()) {
        if (spec.bursts > 0) {
          for (int b = 0; b < spec.bursts; ++b) {
            burst_sync.arrive_and_wait();
            burst_sync.arrive_and_wait();
          }
        }
        return;
      }
      OpSource source(workload, runner.seed * 1000003u + static_cast<std::uint64_t>(c));
      Op op;
      if (spec.bursts > 0) {
        for (int b = 0; b < spec.bursts; ++b) {
          burst_sync.arrive_and_wait();
          for (int i = 0; i < spec.burst_ops && !shared.stop.load(std::memory_order_relaxed); ++i) {
            rec.one(**client, source, op, shared.start);
          }
          burst_sync.arrive_and_wait();
        }
      } else if (spec.duration.count() > 0) {
        while (!shared.stop.load(std::memory_order_relaxed)) rec.one(**client, source, op, shared.start);
      } else {
        while (!shared.stop.load(std::memory_order_relaxed) &&
               shared.next.fetch_add(1, std::memory_order_relaxed) < spec.ops) {
          rec.one(**client, source, op, shared.start);
        }
      }
    });
  }
  ready.wait();
  for (auto& rec : recs) {
    if (!rec.setup_error.empty()) shared.stop.store(true);
  }
  shared.start = Clock::now();
  go.store(true, std::memory_order_release);

  auto report_progress = [&](const std::string& label) {
    if (runner.progress == nullptr) return;
    std::uint64_t done = 0;
    for (auto& rec : recs) done += rec.done.load(std::memory_order_relaxed);
    const double elapsed = seconds(Clock::now() - shared.start);
    double share = spec.duration.count() > 0 ? elapsed / (static_cast<double>(spec.duration.count()) / 1000.0)
                   : spec.requested() > 0    ? static_cast<double>(done) / static_cast<double>(spec.requested())
                                             : 0;
    runner.progress(runner.progress_ctx, label, std::min(share, 1.0));
  };
  const std::string label = spec.name + " " + std::string(to_string(mode));
  const auto deadline = shared.start + runner.max_time;
  Clock::duration busy{0};
  if (spec.bursts > 0) {
    for (int b = 0; b < spec.bursts; ++b) {
      if (b > 0) std::this_thread::sleep_for(spec.burst_gap);
      if (Clock::now() >= deadline) shared.stop.store(true);
      const auto t0 = Clock::now();
      burst_sync.arrive_and_wait();
      burst_sync.arrive_and_wait();
      busy += Clock::now() - t0;
      report_progress(label);
    }
    for (auto& t : threads) t.join();
  } else {
    const auto stop_at = spec.duration.count() > 0 ? shared.start + spec.duration : deadline;
    std::atomic<int> finished{0};
    std::thread watcher([&] {
      while (finished.load() == 0) {
        if (Clock::now() >= std::min(stop_at, deadline)) shared.stop.store(true);
        report_progress(label);
        std::this_thread::sleep_for(std::chrono::milliseconds(shared.stop.load() ? 1 : 20));
      }
    });
    for (auto& t : threads) t.join();
    busy = Clock::now() - shared.start;
    finished.store(1);
    watcher.join();
  }
  report_progress(label);

  for (auto& rec : recs) {
    if (!rec.setup_error.empty()) {
      (void)(*target)->finish(std::chrono::seconds(2));
      return reservoir::Error::make(reservoir::ErrorKind::unavailable, rec.setup_error);
    }
  }
  merge(r, recs);
  r.elapsed_s = seconds(busy);
  r.ops_per_s = r.elapsed_s > 0 ? static_cast<double>(r.ops_done - r.ops_failed) / r.elapsed_s : 0;
  r.capped = spec.requested() > 0 && r.ops_done < spec.requested();
  if (spec.duration.count() > 0) {
    // Drop the partial last second(s): they count a fraction of a second.
    const auto whole = static_cast<std::size_t>(spec.duration.count() / 1000);
    if (r.per_second.size() > whole) r.per_second.resize(whole);
  }
  // The row count through the same target: the `stats` operation, once, after the load.
  if (auto client = (*target)->client()) {
    Op op;
    op.kind = OpKind::stats;
    OpOutcome outcome;
    std::int64_t ignored = -1;
    if ((*client)->run(op, outcome, ignored)) r.final_count = outcome.count;
  }
  r.target = (*target)->stats();
  if (auto st = (*target)->finish(std::chrono::seconds(5)); !st) return std::move(st).error();
  r.target.pool = (*target)->stats().pool;  // after shutdown: every connection closed
  return r;
}

}  // namespace bench
