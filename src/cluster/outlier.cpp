// Outlier ejection (after Envoy's detector), fed by every outcome; no timer thread: expired
// ejections end at the next pick, and the interval judgements run on the first outcome after
// the interval ends.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "cluster_core.hpp"

namespace reservoir::cluster::detail {

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

// The median of the values of every endpoint but `self`.
double peers_median(const std::vector<std::pair<Endpoint*, double>>& all, const Endpoint* self) {
  std::vector<double> peers;
  for (const auto& [e, v] : all) {
    if (e != self) peers.push_back(v);
  }
  return median(std::move(peers));
}

std::string ms_text(double ns) {
  return format_duration(std::chrono::duration_cast<std::chrono::microseconds>(Duration(static_cast<Duration::rep>(ns))));
}

std::string percent(double rate) { return std::to_string(static_cast<int>(std::lround(rate * 100))) + "%"; }

}  // namespace

void ClusterCore::record(Endpoint& e, bool failed, std::optional<Duration> latency) noexcept {
  Logs logs;
  {
    std::lock_guard g(mu_);
    const TimePoint now = clock_.now_coarse();
    ++e.interval_calls;
    if (failed) {
      ++e.failures;
      ++e.interval_failures;
      ++e.consecutive;
    } else {
      ++e.successes;
      e.consecutive = 0;
    }
    if (latency && !failed) {
      const auto x = static_cast<double>(latency->count());
      if (!e.has_latency) {
        e.latency_ns = x;
        e.has_latency = true;
      } else {
        const double dt = static_cast<double>((now - e.latency_at).count());
        const double keep = std::exp(-dt / static_cast<double>(config_.outlier.latency_decay.count()));
        e.latency_ns = keep * e.latency_ns + (1.0 - keep) * x;
      }
      e.latency_at = now;
    }
    const auto threshold = config_.outlier.consecutive_failures;
    if (threshold != 0 && e.consecutive >= threshold && !e.ejected && !e.draining) {
      eject_locked(e, now, std::to_string(e.consecutive) + " consecutive failures", logs);
    }
    if (now >= next_evaluation_) evaluate_locked(now, logs);
  }
  flush(logs);
}

void ClusterCore::refresh_ejections_locked(TimePoint now) const noexcept {
  for (auto& e : endpoints_) {
    if (!e->ejected || now < e->ejected_until) continue;
    // Back with a clean slate, as Envoy: old latency must not eject it again at once.
    e->ejected = false;
    e->consecutive = 0;
    e->has_latency = false;
    e->interval_calls = e->interval_failures = 0;
  }
}

bool ClusterCore::eject_locked(Endpoint& e, TimePoint now, const std::string& why, Logs& logs) {
  std::size_t live = 0, ejected = 0;
  for (const auto& x : endpoints_) {
    if (x->draining) continue;
    ++live;
    if (x->ejected) ++ejected;
  }
  const auto pct = config_.outlier.max_ejection_percent;
  std::size_t allowed = pct == 0 ? 0 : std::max<std::size_t>(1, live * pct / 100);
  allowed = std::min(allowed, live > 0 ? live - 1 : 0);  // one always serves
  if (ejected >= allowed) {
    logs.push_back(config_.name + ": " + e.name + " not ejected (" + why + "): " + std::to_string(ejected) + " of " +
                   std::to_string(live) + " already ejected, max_ejection_percent=" + std::to_string(pct));
    return false;
  }
  ++e.ejection_level;
  ++e.ejections;
  const Duration base = config_.outlier.base_ejection_time;
  const Duration time = std::min<Duration>(base * e.ejection_level, config_.outlier.max_ejection_time);
  e.ejected = true;
  e.ejected_until = now + time;
  e.consecutive = 0;
  logs.push_back(config_.name + ": ejected " + e.name + " for " + format_duration(time) + " (" + why + ")");
  return true;
}

void ClusterCore::evaluate_locked(TimePoint now, Logs& logs) {
  refresh_ejections_locked(now);
  const OutlierConfig& oc = config_.outlier;
  std::vector<std::pair<Endpoint*, double>> rates, latencies;
  for (auto& e : endpoints_) {
    if (e->draining || e->ejected) continue;
    if (e->interval_calls >= oc.minimum_requests) {
      rates.emplace_back(e.get(), static_cast<double>(e->interval_failures) / static_cast<double>(e->interval_calls));
    }
    if (e->has_latency) latencies.emplace_back(e.get(), e->latency_ns);
  }
  std::vector<std::pair<Endpoint*, std::string>> outliers;
  if (oc.failure_rate_min > 0 && rates.size() >= 2) {
    for (const auto& [e, rate] : rates) {
      const double peers = peers_median(rates, e);
      if (rate >= oc.failure_rate_min && rate >= oc.failure_rate_factor * peers) {
        outliers.emplace_back(e, "failure rate " + percent(rate) + " against the peers' median " + percent(peers));
      }
    }
  }
  if (oc.latency_factor > 0 && latencies.size() >= 2) {
    for (const auto& [e, latency] : latencies) {
      const double peers = peers_median(latencies, e);
      if (latency > oc.latency_factor * peers && latency >= static_cast<double>(oc.latency_floor.count())) {
        outliers.emplace_back(e, "latency " + ms_text(latency) + " against the peers' median " + ms_text(peers));
      }
    }
  }
  for (auto& [e, why] : outliers) {
    if (!e->ejected) eject_locked(*e, now, why, logs);
  }
  for (auto& e : endpoints_) {
    // A quiet interval forgives one ejection: the next one is shorter again.
    if (!e->ejected && e->interval_failures == 0 && e->ejection_level > 0) --e->ejection_level;
    e->interval_calls = e->interval_failures = 0;
  }
  next_evaluation_ = now + oc.interval;
}

void ClusterCore::flush(Logs& logs) noexcept {
  for (const auto& line : logs) logger_->log(LogLevel::warn, line);
}

}  // namespace reservoir::cluster::detail
