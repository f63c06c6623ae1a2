// Cluster and ClusterLease: thin handles over ClusterCore; the acquire path; stats.
#include "reservoir/cluster/cluster.hpp"

#include <chrono>
#include <sstream>
#include <utility>

#include "cluster_core.hpp"

namespace reservoir::cluster {

namespace detail {

ClusterCore::ClusterCore(ClusterConfig config, ClusterOptions options)
    : config_(std::move(config)),
      clock_(options.clock != nullptr ? *options.clock : SteadyClock::instance()),
      logger_(options.logger ? options.logger : stderr_logger(LogLevel::warn)),
      options_(std::move(options)),
      random_(options_.seed != 0 ? Random(options_.seed) : Random::from_os()) {
  next_evaluation_ = clock_.now() + config_.outlier.interval;
}

ClusterCore::~ClusterCore() { shutdown(); }

Status ClusterCore::start() { return update(config_.endpoints, Duration::zero()); }

void ClusterCore::shutdown() noexcept {
  closed_.store(true, std::memory_order_release);
  std::vector<std::shared_ptr<Endpoint>> all;
  {
    std::lock_guard g(mu_);
    all = endpoints_;
  }
  for (auto& e : all) (void)e->pool->shutdown(Duration::zero());
}

namespace {

// Refusals that happen before anything reached the endpoint: another one may serve.
bool moves_on(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::unavailable:
    case ErrorKind::timeout:
    case ErrorKind::circuit_open:
    case ErrorKind::shutting_down:
    case ErrorKind::exhausted:
      return true;
    default:
      return false;
  }
}

bool endpoint_fault(ErrorKind kind) noexcept { return kind == ErrorKind::unavailable || kind == ErrorKind::timeout; }

}  // namespace

Result<std::shared_ptr<Endpoint>> ClusterCore::next_endpoint(Walk& w, const Avoid& avoid, const Intent& intent) {
  std::lock_guard g(mu_);
  // Coarse time (a few ns, ms resolution) is precise enough for ejection expiries and the
  // latency decay; the latency samples themselves are timed precisely by run().
  const TimePoint now = clock_.now_coarse();
  w.fallback = false;
  auto e = pick_routed_locked(now, avoid, w.tried, w.primaries, intent, w.fallback);
  if (!e) {
    if (!w.last && !(routed(intent) && intent.access == Access::write)) ++no_endpoint_;
    if (routed(intent) && intent.access == Access::read) return no_reader_error_locked(w, now);
    if (w.last) return std::move(*w.last);
    if (routed(intent) && intent.access == Access::write) return no_primary_error_locked();
    return no_endpoint_error_locked(now);
  }
  ++e->picks;
  if (w.last) ++failovers_;
  return e;
}

void ClusterCore::passed_over(Walk& w, Endpoint& e, const Intent& intent) {
  const bool primary = intent.access == Access::read && !w.fallback && role_of(e) == EndpointRole::primary;
  (primary ? w.primaries : w.tried).push_back(&e);
}

bool ClusterCore::failed_on(Walk& w, Endpoint& e, Error error, Deadline deadline) {
  w.tried.push_back(&e);
  w.refusals.emplace_back(&e, error.message());
  {
    std::lock_guard g(mu_);
    e.last_error = w.refusals.back().second;
  }
  const ErrorKind kind = error.kind();
  if (endpoint_fault(kind)) record(e, true, std::nullopt);
  w.last.emplace(std::move(error));
  return moves_on(kind) && !deadline.expired() && !closed_.load(std::memory_order_acquire);
}

void ClusterCore::count_fallback(const Walk& w) {
  if (!w.fallback) return;
  std::lock_guard g(mu_);
  ++read_fallbacks_;
}

Result<ClusterCore::Picked> ClusterCore::acquire(Deadline deadline, SourceLocation where, const Avoid& avoid,
                                                 const Intent& intent) {
  Walk w;
  for (;;) {
    auto e = next_endpoint(w, avoid, intent);
    if (!e) return std::move(e).error();
    auto lease = (*e)->pool->acquire(deadline, where);
    if (lease && (!routed(intent) || admit(**e, *lease, intent, deadline, w.fallback))) {
      count_fallback(w);
      return Picked{std::move(lease).value(), std::move(e).value()};
    }
    if (lease) {  // the wrong role or too far behind: the lease goes back as is
      passed_over(w, **e, intent);
      continue;
    }
    if (!failed_on(w, **e, std::move(lease).error(), deadline)) return std::move(*w.last);
  }
}

Result<ClusterLease> ClusterCore::acquire_lease(Deadline deadline, SourceLocation where, const Intent& intent) {
  auto picked = acquire(deadline, where, {}, intent);
  if (!picked) return std::move(picked).error();
  return ClusterLease(std::move(picked->lease), shared_from_this(), std::move(picked->endpoint));
}

ClusterStats ClusterCore::stats() const {
  ClusterStats out;
  std::lock_guard g(mu_);
  const TimePoint now = clock_.now_coarse();
  refresh_ejections_locked(now);
  for (const auto& e : endpoints_) {
    EndpointStats s;
    s.name = e->name;
    s.weight = e->weight;
    s.priority = e->priority;
    s.state = e->draining                                 ? EndpointState::draining
              : e->ejected                                ? EndpointState::ejected
              : !serving_locked(*e)                       ? EndpointState::circuit_open
                                                          : EndpointState::serving;
    s.picks = e->picks;
    s.successes = e->successes;
    s.failures = e->failures;
    s.ejections = e->ejections;
    s.ejection_level = e->ejection_level;
    s.latency_ewma = e->has_latency ? Duration(static_cast<Duration::rep>(e->latency_ns)) : Duration::zero();
    s.credential_rotations = e->rotations;
    s.load = e->pool->load();
    s.role = e->role;
    s.replica_lag = e->has_status ? e->lag : Duration::zero();
    s.replayed = e->has_status ? e->replayed : 0;
    s.role_changes = e->role_changes;
    s.lag_skips = e->lag_skips;
    out.endpoints.push_back(std::move(s));
  }
  out.failovers = failovers_;
  out.no_endpoint = no_endpoint_;
  out.routing = roles() != nullptr;
  out.read_fallbacks = read_fallbacks_;
  out.write_reroutes = write_reroutes_;
  return out;
}

std::size_t ClusterCore::endpoint_count() const {
  std::lock_guard g(mu_);
  return endpoints_.size();
}

std::size_t ClusterCore::capacity() const noexcept {
  std::lock_guard g(mu_);
  std::size_t n = 0;
  for (const auto& e : endpoints_) {
    if (!e->draining) n += e->pool->load().max_size;
  }
  return n;
}

std::vector<EndpointParts> ClusterCore::endpoint_parts() const {
  std::vector<EndpointParts> out;
  std::lock_guard g(mu_);
  out.reserve(endpoints_.size());
  for (const auto& e : endpoints_) {
    // Aliasing pointers: the pool (a unique_ptr member) lives as long as its endpoint.
    out.push_back({e->name, std::shared_ptr<const Pool>(e, e->pool.get()), e->breaker});
  }
  return out;
}

}  // namespace detail

std::string_view to_string(EndpointState state) noexcept {
  switch (state) {
    case EndpointState::serving: return "serving";
    case EndpointState::ejected: return "ejected";
    case EndpointState::circuit_open: return "circuit_open";
    case EndpointState::draining: return "draining";
  }
  return "unknown";
}

std::string ClusterStats::to_string() const {
  std::ostringstream os;
  os << "failovers=" << failovers << " no_endpoint=" << no_endpoint;
  if (routing) os << " read_fallbacks=" << read_fallbacks << " write_reroutes=" << write_reroutes;
  for (const auto& e : endpoints) {
    os << "; " << e.name << ": " << cluster::to_string(e.state);
    if (routing) {
      os << " role=" << cluster::to_string(e.role);
      if (e.role == EndpointRole::replica) {
        os << " lag=" << format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(e.replica_lag))
           << " lag_skips=" << e.lag_skips;
      }
    }
    os << " picks=" << e.picks << " ok=" << e.successes
       << " failed=" << e.failures << " ejections=" << e.ejections
       << " latency=" << format_duration(std::chrono::duration_cast<std::chrono::microseconds>(e.latency_ewma))
       << " in_use=" << e.load.in_use
       << " open=" << e.load.open;
  }
  return os.str();
}

// ---- ClusterLease ---------------------------------------------------------------------------

ClusterLease::ClusterLease(Lease lease, std::shared_ptr<detail::ClusterCore> core,
                           std::shared_ptr<detail::Endpoint> endpoint) noexcept
    : lease_(std::move(lease)), core_(std::move(core)), endpoint_(std::move(endpoint)) {}

ClusterLease& ClusterLease::operator=(ClusterLease&& other) noexcept {
  if (this != &other) {
    release();
    lease_ = std::move(other.lease_);
    core_ = std::move(other.core_);
    endpoint_ = std::move(other.endpoint_);
    failed_ = other.failed_;
  }
  return *this;
}

Connection& ClusterLease::connection() const noexcept { return detail::RotatingConnector::inner(lease_.connection()); }

const std::string& ClusterLease::endpoint() const noexcept { return endpoint_->name; }

void ClusterLease::discard() noexcept {
  failed_ = true;
  lease_.discard();
}

Result<WriteToken> ClusterLease::write_token(Deadline deadline) {
  RoleSource* roles = core_->roles();
  if (roles == nullptr) {
    return Error::make(ErrorKind::invalid_argument, core_->config().name + ": write_token() needs cluster.routing.roles");
  }
  return roles->write_token(connection(), deadline);
}

void ClusterLease::release() noexcept {
  if (!lease_.valid()) return;
  // A promotion or demotion the session has seen since checkout, for the next pick.
  if (!failed_) core_->observe(*endpoint_, connection());
  lease_.release();
  core_->record(*endpoint_, failed_, std::nullopt);
}

// ---- Cluster --------------------------------------------------------------------------------

Result<Cluster> Cluster::create(ClusterConfig config, ClusterOptions options) {
  if (Status s = config.validate(); !s) return std::move(s).error();
  auto core = std::make_shared<detail::ClusterCore>(std::move(config), std::move(options));
  if (Status s = core->start(); !s) return std::move(s).error();
  return Cluster(std::move(core));
}

Cluster::Cluster(std::shared_ptr<detail::ClusterCore> core) noexcept : core_(std::move(core)) {}
Cluster::Cluster(Cluster&&) noexcept = default;
Cluster& Cluster::operator=(Cluster&& other) noexcept {
  if (this != &other) {
    Cluster dying(std::move(*this));
    core_ = std::move(other.core_);
  }
  return *this;
}
Cluster::~Cluster() {
  if (!core_) return;
  core_->shutdown();
  core_->gate()->close();
}

Result<ClusterLease> Cluster::acquire(Deadline deadline, SourceLocation where) {
  return core_->acquire_lease(deadline, where);
}
Result<ClusterLease> Cluster::acquire(Deadline deadline, Intent intent, SourceLocation where) {
  return core_->acquire_lease(deadline, where, intent);
}
Result<ClusterLease> Cluster::acquire(SourceLocation where) {
  return core_->acquire_lease(Deadline::after(core_->clock(), core_->config().pool.acquire_timeout), where);
}
Status Cluster::add_endpoint(EndpointSpec spec) { return core_->add(std::move(spec)); }
Status Cluster::remove_endpoint(std::string_view name, Duration grace) { return core_->remove(name, grace); }
Status Cluster::update_endpoints(std::vector<EndpointSpec> endpoints, Duration grace) {
  return core_->update(std::move(endpoints), grace);
}
Status Cluster::rotate_credentials(std::string_view name, std::shared_ptr<Connector> connector, Duration window) {
  return core_->rotate(name, std::move(connector), window);
}
ClusterStats Cluster::stats() const { return core_->stats(); }
std::vector<EndpointParts> Cluster::endpoint_parts() const { return core_->endpoint_parts(); }
const Clock& Cluster::clock() const noexcept { return core_->clock(); }
const ClusterConfig& Cluster::config() const noexcept { return core_->config(); }

}  // namespace reservoir::cluster
