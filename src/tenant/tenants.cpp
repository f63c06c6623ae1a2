// Tenants: admission (quotas, early refusal), waiting, and the lease taken outside the lock.
#include "reservoir/tenant/tenants.hpp"

#include <algorithm>
#include <cmath>

#include "reservoir/config_check.hpp"
#include "reservoir/duration.hpp"
#include "tenant/core.hpp"

namespace reservoir::tenant {

namespace detail {

namespace {

std::string who(const TenantState& t) { return "tenant " + config_check::quoted(t.id); }

std::string ms_text(Duration d) { return std::to_string(ceil_ms(d)) + "ms"; }

Error quota(const TenantState& t, std::string limit_field, std::string text) {
  return Error(ErrorKind::quota_exceeded, who(t) + ": " + text, false, std::move(limit_field));
}

// Runs a user callback; an exception becomes an error instead of leaking a permit.
Status call(const SetupFn& fn, Connection& c, std::string_view tenant, Deadline deadline, const char* what) {
  try {
    return fn(c, tenant, deadline);
  } catch (const std::exception& e) {
    return Error::make(ErrorKind::internal, std::string(what) + " callback threw: " + e.what());
  } catch (...) {
    return Error::make(ErrorKind::internal, std::string(what) + " callback threw");
  }
}

}  // namespace

TenantsCore::TenantsCore(std::shared_ptr<LeaseSource> source, TenantsConfig config, TenantsOptions options)
    : source_(std::move(source)), clock_(source_->clock()), options_(std::move(options)), config_(std::move(config)) {
  const TimePoint now = clock_.now();
  for (const auto& entry : config_.tenants) find_or_create_locked(entry.first, now);
  next_eviction_ = saturating_add(now, config_.idle_ttl / 2);
}

TenantState& TenantsCore::find_or_create_locked(std::string_view tenant, TimePoint now) {
  std::string key(tenant);
  auto it = tenants_.find(key);
  if (it != tenants_.end()) return *it->second;
  auto state = std::make_unique<TenantState>(key);
  state->idle_since = now;
  TenantState& t = *state;
  tenants_.emplace(std::move(key), std::move(state));
  apply_config_locked(t);
  if (!t.configured) ++created_;
  return t;
}

void TenantsCore::apply_config_locked(TenantState& t) {
  reserved_unused_ -= unused_guarantee(t);
  if (t.in_ring) ring_weight_ -= t.config.weight;
  const auto it = config_.tenants.find(t.id);
  t.configured = it != config_.tenants.end();
  t.config = t.configured ? it->second : config_.defaults;
  reserved_unused_ += unused_guarantee(t);
  if (t.in_ring) ring_weight_ += t.config.weight;
}

std::optional<Error> TenantsCore::operations_quota_locked(TenantState& t, TimePoint now, std::size_t pending) {
  const std::uint64_t limit = t.config.max_operations;
  if (limit == 0) return std::nullopt;
  roll_window_locked(t, now);
  if (t.window_ops + pending < limit) return std::nullopt;
  const auto window = t.config.operations_window;
  std::string text = "max_operations=" + std::to_string(limit);
  if (window.count() == 0) {
    text += " reached (" + std::to_string(t.window_ops) + " used in total";
  } else {
    const Duration left = saturating_add(t.window_start, saturating_cast(window)) - now;
    text += " per " + format_duration(window) + " reached (" + std::to_string(t.window_ops) +
            " used in this window; it renews in " + ms_text(left);
  }
  if (pending > 0) text += ", " + std::to_string(pending) + " queued";
  return quota(t, "max_operations", text + ")");
}

std::optional<Error> TenantsCore::refuse_at_once_locked(TenantState& t, const Deadline& deadline, TimePoint now) {
  const std::size_t cap = max_leases(t);
  std::optional<Error> refused;
  if (t.active >= cap) {
    refused = quota(t, "max_leases",
                    "max_leases=" + std::to_string(cap) + " reached (" + std::to_string(t.active) + " held)");
  } else if (auto ops = operations_quota_locked(t, now, t.queue.size())) {
    refused = std::move(ops);
  } else if ((!t.queue.empty() || !eligible_locked(t, capacity())) && t.queue.size() >= t.config.max_waiting) {
    refused = quota(t, "max_waiting",
                    "max_waiting=" + std::to_string(t.config.max_waiting) + " reached (" +
                        std::to_string(t.queue.size()) + " queued, " + std::to_string(t.active) + " held)");
  }
  if (refused) {
    ++t.quota_rejections;
    return refused;
  }
  (void)deadline;
  return std::nullopt;
}

// Permits come back at about capacity / mean_hold per unit of time; a tenant gets its
// weight's share of them among the tenants waiting (at most its cap), and has `ahead` of its
// own requests to be served first.
std::optional<Error> TenantsCore::early_refusal_locked(const TenantState& t, const Deadline& deadline) const {
  if (!config_.refuse_early || hold_samples_ < config_.min_hold_samples) return std::nullopt;
  const double cap = static_cast<double>(capacity());
  const double weights = static_cast<double>(ring_weight_ + (t.in_ring ? 0 : t.config.weight));
  const double slots = std::max(1.0, std::min(cap * t.config.weight / weights, static_cast<double>(max_leases(t))));
  const std::size_t ahead = t.queue.size();
  const double expected_ns = static_cast<double>(ahead + 1) * mean_hold_ns_ / slots;
  const Duration left = deadline.remaining();
  if (expected_ns <= static_cast<double>(left.count())) return std::nullopt;
  const Duration expected(static_cast<Duration::rep>(std::min(expected_ns, 9e18)));
  const Duration hold(static_cast<Duration::rep>(mean_hold_ns_));
  return Error::make(ErrorKind::exhausted,
                     who(t) + ": refused early: expected wait ~" + ms_text(expected) + " (" + std::to_string(ahead) +
                         " of its requests ahead, leases held ~" + ms_text(hold) + " on average, its share ~" +
                         config_check::number_text(std::round(slots * 10) / 10) + " of " +
                         std::to_string(capacity()) + " leases) exceeds the " + ms_text(left) + " left");
}

Result<void> TenantsCore::wait_locked(Lock& lock, TenantState& t, Request& r, const Deadline& deadline) {
  while (r.state == Request::State::waiting && clock_.now() < deadline.when()) {
    clock_.wait_until(r.cv, lock, deadline.when());
  }
  if (r.state == Request::State::granted) return {};
  if (r.state == Request::State::refused) {
    ++t.quota_rejections;
    return std::move(*r.error);
  }
  return timed_out_locked(t, r, clock_.now());
}

Error TenantsCore::timed_out_locked(TenantState& t, Request& r, TimePoint now) {
  t.queue.remove(r);
  --waiting_;
  ++t.timeouts;
  if (t.queue.empty() && t.in_ring) ring_remove_locked(t);
  if (t.active == 0 && t.queue.empty()) t.idle_since = now;
  return Error::make(ErrorKind::exhausted,
                     who(t) + ": no lease within " + ms_text(now - r.since) + " (" + std::to_string(t.active) +
                         " held, " + std::to_string(t.queue.size()) + " more of its requests waiting; " +
                         std::to_string(in_use_) + "/" + std::to_string(capacity()) + " leases out, " +
                         std::to_string(waiting_) + " waiting in all)");
}

TenantsCore::Admission TenantsCore::admit_locked(TenantState& t, const Deadline& deadline, TimePoint now) {
  if (auto refused = refuse_at_once_locked(t, deadline, now)) return {std::move(refused), false};
  if (t.queue.empty() && eligible_locked(t, capacity())) {
    take_permit_locked(t, now);
    return {std::nullopt, true};
  }
  if (auto refused = early_refusal_locked(t, deadline)) {
    ++t.early_refusals;
    return {std::move(refused), false};
  }
  return {};
}

void TenantsCore::enqueue_locked(TenantState& t, Request& r, TimePoint now) {
  r.since = now;
  t.queue.push_back(r);
  ++waiting_;
  if (!t.in_ring) ring_add_locked(t);
  dispatch_locked(now);  // a source that grew since the last decision
}

Result<TenantLease> TenantsCore::acquire(std::string_view tenant, Deadline deadline, const SourceRequest* request) {
  if (tenant.empty()) return Error::make(ErrorKind::invalid_argument, "tenant id is empty");
  Lock lock(mu_);
  const TimePoint now = clock_.now();
  maybe_evict_locked(now);
  TenantState& t = find_or_create_locked(tenant, now);
  Admission admitted = admit_locked(t, deadline, now);
  if (admitted.refused) return std::move(*admitted.refused);
  if (!admitted.granted) {
    Request r;
    enqueue_locked(t, r, now);
    if (!ready_.empty()) {  // async requests granted on the way: started outside the lock
      Ready ready = take_ready_locked();
      lock.unlock();
      run_ready(std::move(ready));
      lock.lock();
    }
    if (auto waited = wait_locked(lock, t, r, deadline); !waited) return std::move(waited).error();
  }
  lock.unlock();
  return take_lease(t, deadline, request);
}

// With a permit held: the lease from the source, then the tenant's setup. Either failing
// gives the permit back to the next waiter.
Result<TenantLease> TenantsCore::take_lease(TenantState& t, Deadline deadline, const SourceRequest* request) {
  auto lease = source_->acquire(deadline, request);
  std::optional<Error> failed;
  if (!lease) {
    failed = std::move(lease).error();
  } else if (options_.setup) {
    Status set = call(options_.setup, lease->connection(), t.id, deadline, "setup");
    if (!set) {
      failed = std::move(set).error();
      lease->discard();
      lease->release();
    }
  }
  if (!failed) return TenantLease(shared_from_this(), &t, std::move(lease).value(), clock_.now());
  Ready ready;
  {
    Lock lock(mu_);
    failed_locked(t, clock_.now());
    ready = take_ready_locked();
  }
  run_ready(std::move(ready));
  return std::move(*failed);
}

void TenantsCore::failed_locked(TenantState& t, TimePoint now) {
  ++t.failures;
  give_back_permit_locked(t, now);
  dispatch_locked(now);
}

void TenantsCore::return_lease(TenantState& t, SourceLease& lease, bool discarded, TimePoint granted) noexcept {
  if (!discarded && options_.undo) {
    Status undone = call(options_.undo, lease.connection(), t.id, Deadline::after(clock_, options_.undo_timeout), "undo");
    if (!undone) lease.discard();
  }
  lease.release();
  Ready ready;
  {
    Lock lock(mu_);
    const TimePoint now = clock_.now();
    record_hold_locked(now - granted);
    give_back_permit_locked(t, now);
    dispatch_locked(now);
    ready = take_ready_locked();
  }
  run_ready(std::move(ready));
}

Status TenantsCore::reconfigure(TenantsConfig config) {
  if (auto valid = config.validate(capacity()); !valid) return valid;
  Ready ready;
  {
    Lock lock(mu_);
    const TimePoint now = clock_.now();
    config_ = std::move(config);
    for (auto& entry : tenants_) apply_config_locked(*entry.second);
    for (const auto& entry : config_.tenants) find_or_create_locked(entry.first, now);
    next_eviction_ = std::min(next_eviction_, saturating_add(now, config_.idle_ttl / 2));
    dispatch_locked(now);
    ready = take_ready_locked();
  }
  run_ready(std::move(ready));
  return {};
}

std::size_t TenantsCore::evict_locked(TimePoint now) {
  const Duration ttl = config_.idle_ttl;
  std::size_t n = 0;
  for (auto it = tenants_.begin(); it != tenants_.end();) {
    const TenantState& t = *it->second;
    if (!t.configured && t.active == 0 && t.queue.empty() && now - t.idle_since >= ttl) {
      it = tenants_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  evicted_ += n;
  // The bucket array a burst of ids grew stays otherwise: give it back too.
  if (n > 0 && tenants_.bucket_count() > 4 * (tenants_.size() + 16)) tenants_.rehash(0);
  return n;
}

void TenantsCore::maybe_evict_locked(TimePoint now) {
  if (now < next_eviction_) return;
  evict_locked(now);
  next_eviction_ = saturating_add(now, std::max<Duration>(config_.idle_ttl / 2, std::chrono::milliseconds(1)));
}

std::size_t TenantsCore::evict_idle() {
  Lock lock(mu_);
  return evict_locked(clock_.now());
}

TenantStats TenantsCore::snapshot_locked(const TenantState& t, TimePoint now) const {
  TenantStats s;
  s.tenant = t.id;
  s.configured = t.configured;
  s.active = t.active;
  s.waiting = t.queue.size();
  if (!t.queue.empty()) s.oldest_waiter_age = now - t.queue.front()->since;
  s.operations = t.operations;
  s.window_operations = t.window_ops;
  s.committed = t.committed.load(std::memory_order_relaxed);
  s.aborted = t.aborted.load(std::memory_order_relaxed);
  s.quota_rejections = t.quota_rejections;
  s.early_refusals = t.early_refusals;
  s.timeouts = t.timeouts;
  s.failures = t.failures;
  return s;
}

std::optional<TenantStats> TenantsCore::stats(std::string_view tenant) const {
  Lock lock(mu_);
  auto it = tenants_.find(std::string(tenant));
  if (it == tenants_.end()) return std::nullopt;
  return snapshot_locked(*it->second, clock_.now());
}

std::vector<TenantStats> TenantsCore::all_stats() const {
  Lock lock(mu_);
  const TimePoint now = clock_.now();
  std::vector<TenantStats> out;
  out.reserve(tenants_.size());
  for (const auto& entry : tenants_) out.push_back(snapshot_locked(*entry.second, now));
  std::sort(out.begin(), out.end(), [](const TenantStats& a, const TenantStats& b) { return a.tenant < b.tenant; });
  return out;
}

std::vector<TenantStats> TenantsCore::exposed_stats(std::size_t max_lazy) const {
  // Under the lock: one pass copying the exposed tenants' figures; sorting the copies by id
  // (string compares, O(n log n)) and every formatting happen after it, so a scrape holds up
  // acquire() and release() for the copy alone.
  std::vector<TenantStats> out;
  {
    Lock lock(mu_);
    const TimePoint now = clock_.now();
    std::vector<const TenantState*> busy_lazy;  // bounded by leases out + requests queued
    for (const auto& entry : tenants_) {
      const TenantState& t = *entry.second;
      if (t.configured) out.push_back(snapshot_locked(t, now));
      else if (t.active + t.queue.size() > 0) busy_lazy.push_back(&t);
    }
    const auto busier = [](const TenantState* a, const TenantState* b) {
      const std::size_t la = a->active + a->queue.size(), lb = b->active + b->queue.size();
      return la != lb ? la > lb : a->id < b->id;
    };
    const std::size_t keep = std::min(max_lazy, busy_lazy.size());
    std::partial_sort(busy_lazy.begin(), busy_lazy.begin() + static_cast<std::ptrdiff_t>(keep), busy_lazy.end(), busier);
    for (std::size_t i = 0; i < keep; ++i) out.push_back(snapshot_locked(*busy_lazy[i], now));
  }
  std::sort(out.begin(), out.end(), [](const TenantStats& a, const TenantStats& b) { return a.tenant < b.tenant; });
  return out;
}

TenantsTotals TenantsCore::totals() const {
  Lock lock(mu_);
  TenantsTotals s;
  s.tenants = tenants_.size();
  s.capacity = capacity();
  s.active = in_use_;
  s.waiting = waiting_;
  s.reserved_unused = reserved_unused_;
  s.created = created_;
  s.evicted = evicted_;
  s.mean_hold = Duration(static_cast<Duration::rep>(mean_hold_ns_));
  s.hold_samples = hold_samples_;
  return s;
}

std::size_t TenantsCore::tenant_count() const {
  Lock lock(mu_);
  return tenants_.size();
}

}  // namespace detail

Result<Tenants> Tenants::create(std::shared_ptr<LeaseSource> source, TenantsConfig config, TenantsOptions options) {
  if (!source) return Error::make(ErrorKind::invalid_argument, "Tenants::create: no lease source");
  if (auto valid = config.validate(source->capacity()); !valid) return std::move(valid).error();
  return Tenants(std::make_shared<detail::TenantsCore>(std::move(source), std::move(config), std::move(options)));
}

Tenants::Tenants(std::shared_ptr<detail::TenantsCore> core) noexcept : core_(std::move(core)) {}
Tenants::Tenants(Tenants&&) noexcept = default;
Tenants& Tenants::operator=(Tenants&& other) noexcept {
  if (this != &other) {
    Tenants dying(std::move(*this));
    core_ = std::move(other.core_);
  }
  return *this;
}
Tenants::~Tenants() {
  if (core_) core_->shutdown();
}

Result<TenantLease> Tenants::acquire(std::string_view tenant, Deadline deadline, const SourceRequest* request) {
  return core_->acquire(tenant, deadline, request);
}
Status Tenants::reconfigure(TenantsConfig config) { return core_->reconfigure(std::move(config)); }
std::size_t Tenants::evict_idle() { return core_->evict_idle(); }
std::optional<TenantStats> Tenants::stats(std::string_view tenant) const { return core_->stats(tenant); }
std::vector<TenantStats> Tenants::all_stats() const { return core_->all_stats(); }
std::vector<TenantStats> Tenants::exposed_stats(std::size_t max_lazy) const { return core_->exposed_stats(max_lazy); }
TenantsTotals Tenants::totals() const { return core_->totals(); }
std::size_t Tenants::tenant_count() const { return core_->tenant_count(); }

}  // namespace reservoir::tenant
