// Runtime changes: endpoints added (their pool started first), removed (drained), re-weighted;
// credentials rotated. Each is validated whole before anything changes.
#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include "cluster_core.hpp"
#include "reservoir/config_check.hpp"

namespace reservoir::cluster::detail {

namespace cc = reservoir::config_check;

namespace {

std::string name_of(const EndpointSpec& s) { return s.name.empty() ? s.connector->endpoint() : s.name; }

std::string names(const std::vector<std::shared_ptr<Endpoint>>& endpoints) {
  std::string out;
  for (const auto& e : endpoints) out += (out.empty() ? "" : ", ") + cc::quoted(e->name);
  return out;
}

}  // namespace

Result<std::shared_ptr<Endpoint>> ClusterCore::make_endpoint(const EndpointSpec& spec, bool ramps, std::size_t index) {
  auto e = std::make_shared<Endpoint>();
  e->name = name_of(spec);
  e->weight = spec.weight;
  e->priority = spec.priority;
  e->ramps = ramps;
  e->added_at = clock_.now();
  e->connector = std::make_shared<RotatingConnector>(spec.connector);
  auto breaker = CircuitBreaker::create(e->name, config_.breaker, clock_);
  if (!breaker) return std::move(breaker).error();
  e->breaker = std::move(breaker).value();
  PoolConfig pc = config_.pool;
  pc.name = config_.name + "/" + e->name;
  PoolOptions po;
  po.clock = &clock_;
  po.logger = logger_;
  po.start_maintainer = options_.start_maintainers;
  po.seed = options_.seed != 0 ? options_.seed + index + 1 : 0;
  po.connect_gate = e->breaker;
  auto pool = Pool::create(e->connector, std::move(pc), std::move(po));
  if (!pool) {
    Error err = std::move(pool).error();
    return Error(err.kind(), "endpoint " + cc::quoted(e->name) + ": " + err.detail(), err.retryable(), err.code());
  }
  e->pool = std::make_unique<Pool>(std::move(pool).value());
  return e;
}

std::vector<EndpointSpec> ClusterCore::specs_locked() const {
  std::vector<EndpointSpec> out;
  for (const auto& e : endpoints_) {
    if (e->draining) continue;  // on its way out (another change is draining it)
    out.push_back({.name = e->name, .connector = e->connector->current(), .weight = e->weight, .priority = e->priority});
  }
  return out;
}

Status ClusterCore::update(std::vector<EndpointSpec> desired, Duration grace) {
  if (Status s = validate_endpoints(desired); !s) return s;
  for (auto& spec : desired) spec.name = name_of(spec);
  std::lock_guard change(change_mu_);
  std::vector<std::string> current;
  bool initial = false;
  {
    std::lock_guard g(mu_);
    for (const auto& e : endpoints_) current.push_back(e->name);  // none drains: change_mu_ is ours
    initial = endpoints_made_ == 0;
  }
  // Pools of new endpoints start before anything changes: one that cannot start refuses all.
  std::vector<std::shared_ptr<Endpoint>> added;
  for (const auto& spec : desired) {
    if (std::find(current.begin(), current.end(), spec.name) != current.end()) continue;
    auto e = make_endpoint(spec, !initial, endpoints_made_ + added.size());
    if (!e) return std::move(e).error();  // `added` shuts its pools down as it goes
    added.push_back(std::move(e).value());
  }
  std::vector<std::shared_ptr<Endpoint>> removed;
  {
    std::lock_guard g(mu_);
    endpoints_made_ += added.size();
    std::vector<std::shared_ptr<Endpoint>> next;
    for (auto& e : endpoints_) {
      auto it = std::find_if(desired.begin(), desired.end(), [&](const EndpointSpec& s) { return s.name == e->name; });
      if (it == desired.end()) {
        e->draining = true;  // no new acquire picks it from now on; stats show it draining
        removed.push_back(e);
        next.push_back(e);
        continue;
      }
      e->weight = it->weight;
      e->priority = it->priority;
      next.push_back(e);
    }
    for (auto& e : added) next.push_back(e);
    // Keep the configured order (it orders ties and stats).
    std::stable_sort(next.begin(), next.end(), [&](const auto& a, const auto& b) {
      auto pos = [&](const std::string& n) {
        return std::find_if(desired.begin(), desired.end(), [&](const EndpointSpec& s) { return s.name == n; }) - desired.begin();
      };
      return pos(a->name) < pos(b->name);
    });
    endpoints_ = std::move(next);
  }
  for (auto& e : removed) {
    // Drain: leases out finish within `grace`; later ones are closed as they come back.
    if (Status s = e->pool->shutdown(grace); !s) {
      logger_->log(LogLevel::warn, config_.name + ": endpoint " + e->name + " removed with leases still out: " + s.error().message());
    }
  }
  if (!removed.empty()) {
    std::lock_guard g(mu_);
    std::erase_if(endpoints_, [](const std::shared_ptr<Endpoint>& e) { return e->draining; });
  }
  return {};
}

Status ClusterCore::add(EndpointSpec spec) {
  std::vector<EndpointSpec> desired;
  {
    std::lock_guard g(mu_);
    desired = specs_locked();
  }
  desired.push_back(std::move(spec));
  return update(std::move(desired), Duration::zero());
}

Status ClusterCore::remove(std::string_view name, Duration grace) {
  std::vector<EndpointSpec> desired;
  {
    std::lock_guard g(mu_);
    desired = specs_locked();
    auto it = std::find_if(desired.begin(), desired.end(), [&](const EndpointSpec& s) { return s.name == name; });
    if (it == desired.end()) return cc::invalid("cluster.remove_endpoint", cc::quoted(name), "one of " + names(endpoints_));
    desired.erase(it);
  }
  if (desired.empty()) return cc::invalid("cluster.endpoints", "[]", "1 or more endpoints (cannot remove the last)");
  return update(std::move(desired), grace);
}

Status ClusterCore::rotate(std::string_view name, std::shared_ptr<Connector> connector, Duration window) {
  using namespace std::chrono_literals;
  if (!connector) return cc::invalid("rotate_credentials.connector", "null", "a connector");
  if (Status s = cc::duration("rotate_credentials.window", window, 0ms, 24h); !s) return s;
  std::lock_guard change(change_mu_);
  std::shared_ptr<Endpoint> e;
  {
    std::lock_guard g(mu_);
    for (const auto& x : endpoints_) {
      if (x->name == name && !x->draining) e = x;
    }
    if (!e) return cc::invalid("rotate_credentials.name", cc::quoted(name), "one of " + names(endpoints_));
    ++e->rotations;
  }
  e->connector->replace(std::move(connector));  // every connect from now on
  const std::size_t old = e->pool->retire_connections(window);
  logger_->log(LogLevel::info, config_.name + ": " + e->name + ": credentials rotated; " + std::to_string(old) +
                                   " connections retire within " + format_duration(window));
  return {};
}

}  // namespace reservoir::cluster::detail
