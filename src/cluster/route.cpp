// Read/write routing: which endpoints an intent may use, and the checks made on a checked-out
// connection (role, lag, read-your-writes) before it is handed out. See routing.hpp.
#include <chrono>
#include <string>
#include <utility>

#include "cluster_core.hpp"

namespace reservoir::cluster::detail {

bool ClusterCore::wanted_locked(const Endpoint& e, Want want, const Intent& intent, TimePoint now) const noexcept {
  const RoutingConfig& r = config_.routing;
  switch (want) {
    case Want::any: return true;
    case Want::primary: return e.role != EndpointRole::replica;
    case Want::stale_replica: return e.role == EndpointRole::replica && now - e.role_at >= r.status_interval;
    case Want::replica: break;
  }
  if (e.role == EndpointRole::primary) return false;
  // Unknown role, or a status due for a probe: the checkout decides (admit_read).
  if (e.role == EndpointRole::unknown || !e.has_status || now - e.status_at >= r.status_interval) return true;
  if (lagging_locked(e)) return false;
  // Behind the token: only worth a try when the read may wait there for it.
  return !intent.after || e.replayed >= intent.after->position || r.read_your_writes_wait != Duration::zero();
}

std::shared_ptr<Endpoint> ClusterCore::pick_routed_locked(TimePoint now, const Avoid& avoid, Avoid& tried,
                                                          const Avoid& primaries, const Intent& intent, bool& fallback) {
  if (!routed(intent)) return pick_locked(now, avoid, tried);
  if (intent.access == Access::write) {
    if (auto e = pick_locked(now, avoid, tried, Want::primary, intent)) return e;
    // No primary serves: a replica not heard of for a while may have been promoted.
    return pick_locked(now, avoid, tried, Want::stale_replica, intent);
  }
  // Primaries met while looking for a replica are skipped in that search, not in the fallback.
  const std::size_t failed = tried.size();
  tried.insert(tried.end(), primaries.begin(), primaries.end());
  auto e = pick_locked(now, avoid, tried, Want::replica, intent);
  tried.resize(failed);
  if (e) return e;
  fallback = true;
  return pick_locked(now, avoid, tried, Want::primary, intent);
}

void ClusterCore::set_role_locked(Endpoint& e, EndpointRole role, TimePoint now, Logs& logs) noexcept {
  e.role_at = now;
  if (e.role == role) return;
  if (e.role != EndpointRole::unknown) {
    ++e.role_changes;
    logs.push_back(config_.name + ": " + e.name + " is now a " + std::string(to_string(role)) + " (was a " +
                   std::string(to_string(e.role)) + ")");
  }
  e.role = role;
  e.has_status = false;  // a new replica's lag is measured afresh
}

void ClusterCore::observe(Endpoint& e, Connection& conn) noexcept {
  if (roles() == nullptr) return;
  const auto seen = roles()->observe(conn);
  if (!seen || *seen == EndpointRole::unknown) return;
  Logs logs;
  {
    std::lock_guard g(mu_);
    set_role_locked(e, *seen, clock_.now_coarse(), logs);
  }
  flush(logs);
}

EndpointRole ClusterCore::role_of(const Endpoint& e) const noexcept {
  std::lock_guard g(mu_);
  return e.role;
}

void ClusterCore::wrong_role(Endpoint& e) noexcept {
  Logs logs;
  {
    std::lock_guard g(mu_);
    ++write_reroutes_;
    set_role_locked(e, EndpointRole::replica, clock_.now_coarse(), logs);
  }
  flush(logs);
}

Error ClusterCore::no_primary_error_locked() const {
  std::size_t replicas = 0, serving = 0;
  for (const auto& e : endpoints_) {
    if (e->role == EndpointRole::replica) ++replicas;
    if (serving_locked(*e)) ++serving;
  }
  return Error::make(ErrorKind::unavailable, config_.name + ": no primary serves (" + std::to_string(endpoints_.size()) +
                                                 " endpoints: " + std::to_string(serving) + " serving, " +
                                                 std::to_string(replicas) + " replicas)");
}

bool ClusterCore::lagging_locked(const Endpoint& e) const noexcept {
  const Duration bound = config_.routing.max_replica_lag;
  return e.beyond_bound || (bound != Duration::zero() && e.lag > bound);
}

Error ClusterCore::no_reader_error_locked(const Walk& w, TimePoint now) const {
  const Duration bound = config_.routing.max_replica_lag;
  std::string why;
  for (const auto& e : endpoints_) {
    std::string reason;
    for (const auto& [refused, message] : w.refusals) {
      if (refused == e.get()) reason = message;
    }
    if (!reason.empty()) {
    } else if (e->draining) {
      reason = "draining";
    } else if (e->ejected && now < e->ejected_until) {
      reason = "ejected";
    } else if (!serving_locked(*e)) {
      const Status open = e->breaker->check();
      reason = open ? "circuit open" : open.error().message();
      if (!e->last_error.empty()) reason += " (last error: " + e->last_error + ")";
    } else if (e->role == EndpointRole::replica && e->has_status && e->beyond_bound) {
      reason = "lagging beyond the role source's bound";
    } else if (e->role == EndpointRole::replica && e->has_status && lagging_locked(*e)) {
      reason = "lagging " + format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(e->lag)) +
               " behind, beyond max_replica_lag=" + format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(bound));
    } else {
      reason = "not eligible";
    }
    if (!why.empty()) why += "; ";
    why += e->name + " (" + std::string(to_string(e->role)) + "): " + reason;
  }
  // The last endpoint's kind (a deadline that ran out stays a timeout); none tried: unavailable.
  return Error::make(w.last ? w.last->kind() : ErrorKind::unavailable, config_.name + ": no endpoint serves a read: " + why);
}

// A probe or wait that failed: the endpoint did not answer (its connection goes), or the read
// could not wait long enough (the connection stays). Either way another endpoint serves.
bool ClusterCore::refused(Endpoint& e, Lease& lease, const Error& error) noexcept {
  if (error.kind() == ErrorKind::unavailable) {
    lease.discard();
    record(e, true, std::nullopt);
  }
  return false;
}

bool ClusterCore::admit(Endpoint& e, Lease& lease, const Intent& intent, Deadline deadline, bool& fallback) {
  Connection& conn = RotatingConnector::inner(lease.connection());
  observe(e, conn);
  if (intent.access == Access::read) return admit_read(e, conn, lease, intent, deadline, fallback);
  std::lock_guard g(mu_);
  return e.role != EndpointRole::replica;
}

bool ClusterCore::admit_read(Endpoint& e, Connection& conn, Lease& lease, const Intent& intent, Deadline deadline,
                             bool& fallback) {
  const RoutingConfig& r = config_.routing;
  bool probe = false;
  {
    std::lock_guard g(mu_);
    const TimePoint now = clock_.now_coarse();
    // Picked as a replica (its role unknown until now): a replica may still serve the read.
    if (e.role == EndpointRole::primary) return fallback;
    // Claimed before the round trip: concurrent reads use the last status meanwhile.
    probe = e.role == EndpointRole::unknown || !e.has_status || now - e.status_at >= r.status_interval;
    if (probe) e.status_at = now;
  }
  if (probe && !probe_status(e, conn, lease, deadline)) return false;
  std::uint64_t replayed = 0;
  {
    std::lock_guard g(mu_);
    if (e.role == EndpointRole::primary) return fallback;
    if (e.role != EndpointRole::replica) return false;
    if (lagging_locked(e)) {
      ++e.lag_skips;
      return false;
    }
    replayed = e.replayed;
  }
  fallback = false;  // picked as a fallback of unknown role, it turned out a replica
  if (!intent.after || replayed >= intent.after->position) return true;
  auto reached = roles()->wait_for(conn, *intent.after, r.read_your_writes_wait, deadline);
  if (!reached) return refused(e, lease, reached.error());
  std::lock_guard g(mu_);
  if (*reached > e.replayed) e.replayed = *reached;
  return true;
}

bool ClusterCore::probe_status(Endpoint& e, Connection& conn, Lease& lease, Deadline deadline) {
  auto report = roles()->probe(conn, deadline);
  if (!report) return refused(e, lease, report.error());
  Logs logs;
  {
    std::lock_guard g(mu_);
    const TimePoint now = clock_.now_coarse();
    set_role_locked(e, report->role, now, logs);
    e.status_at = now;
    e.has_status = report->role == EndpointRole::replica;
    e.replayed = report->replayed;
    e.lag = report->lag;
    e.beyond_bound = report->beyond_bound;
  }
  flush(logs);
  return true;
}

}  // namespace reservoir::cluster::detail
