// Picking an endpoint: the best tier that serves, then the policy within it.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "cluster_core.hpp"

namespace reservoir::cluster::detail {

namespace {
bool contains(const Avoid& set, const Endpoint* e) noexcept { return std::find(set.begin(), set.end(), e) != set.end(); }
}  // namespace

bool ClusterCore::serving_locked(const Endpoint& e) const noexcept {
  if (e.draining || e.ejected) return false;
  // An open breaker whose open time is over admits a probe: the endpoint serves again.
  return e.breaker->state() != BreakerState::open || e.breaker->time_until_probe() == Duration::zero();
}

double ClusterCore::effective_weight(const Endpoint& e, TimePoint now) const noexcept {
  const double w = e.weight;
  if (!e.ramps || config_.warmup.count() == 0) return w;
  const double age = static_cast<double>((now - e.added_at).count());
  const double share = std::clamp(age / static_cast<double>(config_.warmup.count()), 0.1, 1.0);
  return w * share;
}

std::shared_ptr<Endpoint> ClusterCore::pick_locked(TimePoint now, const Avoid& avoid, const Avoid& tried, Want want,
                                                   const Intent& intent) {
  refresh_ejections_locked(now);
  auto candidate = [&](const Endpoint& e) {
    return serving_locked(e) && !contains(tried, &e) && (want == Want::any || wanted_locked(e, want, intent, now));
  };
  std::uint32_t best_tier = std::numeric_limits<std::uint32_t>::max();
  for (const auto& e : endpoints_) {
    if (candidate(*e)) best_tier = std::min(best_tier, e->priority);
  }
  // Reused under mu_: a pick allocates nothing once they have grown to the endpoint count.
  std::vector<Endpoint*>& fresh = fresh_;
  std::vector<Endpoint*>& all = all_;
  fresh.clear();
  all.clear();
  for (const auto& e : endpoints_) {
    if (e->priority != best_tier || !candidate(*e)) continue;
    all.push_back(e.get());
    if (!contains(avoid, e.get())) fresh.push_back(e.get());
  }
  if (all.empty()) return nullptr;
  std::vector<Endpoint*>& among = fresh.empty() ? all : fresh;
  // A full endpoint (every connection leased) would queue the caller while another has room:
  // the policy picks among those with room, unless none has. A tenant registry over the
  // cluster counts on it, its permits being the sum of the pools.
  const auto full = [](const Endpoint* e) {
    const PoolLoad l = e->pool->load();
    return l.in_use + l.waiting >= l.max_size;
  };
  const auto with_room = std::count_if(among.begin(), among.end(), [&](const Endpoint* e) { return !full(e); });
  if (with_room > 0 && static_cast<std::size_t>(with_room) < among.size()) std::erase_if(among, full);
  Endpoint* chosen = choose_locked(among, now);
  for (const auto& e : endpoints_) {
    if (e.get() == chosen) return e;
  }
  return nullptr;
}

Endpoint* ClusterCore::choose_locked(const std::vector<Endpoint*>& c, TimePoint now) {
  if (c.size() == 1) return c.front();
  if (config_.policy == Policy::round_robin) {
    // nginx's smooth weighted round robin: interleaves, never bursts one endpoint.
    double total = 0;
    Endpoint* best = nullptr;
    for (Endpoint* e : c) {
      const double w = effective_weight(*e, now);
      total += w;
      e->rr_current += w;
      if (best == nullptr || e->rr_current > best->rr_current) best = e;
    }
    best->rr_current -= total;
    return best;
  }
  // Power of two choices over cost = (leased + queued + 1) x latency / weight. The latency
  // read here decays toward zero while no sample comes (Finagle's peak EWMA reads it so): an
  // endpoint that lost every draw on one slow sample is tried again, not starved for good.
  const double decay = static_cast<double>(config_.outlier.latency_decay.count());
  auto latency_now = [&](const Endpoint* e) {
    return e->latency_ns * std::exp(-static_cast<double>((now - e->latency_at).count()) / decay);
  };
  double sum = 0;
  int with = 0;
  for (Endpoint* e : c) {
    if (e->has_latency) {
      sum += latency_now(e);
      ++with;
    }
  }
  const double mean = with > 0 ? std::max(sum / with, 1.0) : 1.0;
  auto cost = [&](Endpoint* e) {
    const PoolLoad l = e->pool->load();
    const double latency = e->has_latency ? std::max(latency_now(e), 1.0) : mean;
    return static_cast<double>(l.in_use + l.waiting + 1) * latency / effective_weight(*e, now);
  };
  const auto n = static_cast<std::uint64_t>(c.size());
  const std::uint64_t i = random_.next() % n;
  std::uint64_t j = random_.next() % (n - 1);
  if (j >= i) ++j;
  return cost(c[j]) < cost(c[i]) ? c[j] : c[i];
}

Error ClusterCore::no_endpoint_error_locked(TimePoint now) const {
  std::size_t ejected = 0, open = 0, draining = 0;
  for (const auto& e : endpoints_) {
    if (e->draining) ++draining;
    else if (e->ejected && now < e->ejected_until) ++ejected;
    else if (!serving_locked(*e)) ++open;
  }
  std::string detail = config_.name + ": no endpoint serves (" + std::to_string(endpoints_.size()) + " endpoints: " +
                       std::to_string(open) + " circuit open, " + std::to_string(ejected) + " ejected, " +
                       std::to_string(draining) + " draining)";
  // Every endpoint's breaker refuses: fail fast, as one breaker would.
  if (open > 0 && ejected == 0 && draining == 0) return Error::make(ErrorKind::circuit_open, std::move(detail));
  return Error::make(ErrorKind::unavailable, std::move(detail));
}

}  // namespace reservoir::cluster::detail
