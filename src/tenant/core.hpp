// Private: the registry's state, its permits and its scheduler.
//
// One mutex guards everything here. Nothing under it calls the source, a callback or any
// I/O: a caller is granted a permit under the lock, then takes its lease outside it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "reservoir/tenant/tenants.hpp"

namespace reservoir::tenant::detail {

struct AsyncRequest;

// A caller blocked in acquire() (on its stack), or an acquire_async() (in its AsyncRequest).
struct Request {
  enum class State : std::uint8_t { waiting, granted, refused };
  std::condition_variable cv;
  Request* prev = nullptr;
  Request* next = nullptr;
  TimePoint since{};
  State state = State::waiting;
  std::optional<Error> error;  // when refused
  std::shared_ptr<AsyncRequest> async;  // acquire_async(): keeps it alive while queued
};

// FIFO of one tenant's requests, intrusive: a request that times out leaves in O(1).
class RequestQueue {
 public:
  void push_back(Request& r) noexcept;
  void remove(Request& r) noexcept;
  Request* front() const noexcept { return head_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

 private:
  Request* head_ = nullptr;
  Request* tail_ = nullptr;
  std::size_t size_ = 0;
};

struct TenantState {
  explicit TenantState(std::string tenant_id) : id(std::move(tenant_id)) {}
  const std::string id;
  TenantConfig config;
  bool configured = false;
  std::size_t active = 0;
  RequestQueue queue;
  TimePoint idle_since{};
  // Operations window.
  TimePoint window_start{};
  std::uint64_t window_ops = 0;
  // Weighted deficit round robin: in the ring while it has requests queued.
  bool in_ring = false;
  TenantState* ring_next = nullptr;
  TenantState* ring_prev = nullptr;
  std::int64_t deficit = 0;
  // Counters; the transaction ones are counted by lease holders without the lock.
  std::uint64_t operations = 0, quota_rejections = 0, early_refusals = 0, timeouts = 0, failures = 0;
  std::atomic<std::uint64_t> committed{0}, aborted{0};
};

class TenantsCore : public std::enable_shared_from_this<TenantsCore> {
 public:
  TenantsCore(std::shared_ptr<LeaseSource> source, TenantsConfig config, TenantsOptions options);

  Result<TenantLease> acquire(std::string_view tenant, Deadline deadline, const SourceRequest* request);
  // async.cpp
  Result<PendingTenantAcquire> acquire_async(std::string_view tenant, Deadline deadline, TenantCallback callback,
                                             std::shared_ptr<const SourceRequest> request);
  bool cancel(AsyncRequest& op) noexcept;
  void expire(AsyncRequest& op) noexcept;
  // Completes every acquire_async() still waiting for a permit with shutting_down.
  void shutdown() noexcept;
  Status reconfigure(TenantsConfig config);
  std::size_t evict_idle();
  std::optional<TenantStats> stats(std::string_view tenant) const;
  std::vector<TenantStats> all_stats() const;
  std::vector<TenantStats> exposed_stats(std::size_t max_lazy) const;
  TenantsTotals totals() const;
  std::size_t tenant_count() const;
  const Clock& clock_of() const noexcept { return clock_; }

  // From TenantLease.
  void return_lease(TenantState& t, SourceLease& lease, bool discarded, TimePoint granted) noexcept;

 private:
  using Lock = std::unique_lock<std::mutex>;

  using Ready = std::vector<std::shared_ptr<AsyncRequest>>;
  // Admission under the lock, for both acquires: refused at once (the error), a permit
  // taken at once (granted), or neither (queue).
  struct Admission {
    std::optional<Error> refused;
    bool granted = false;
  };
  Admission admit_locked(TenantState& t, const Deadline& deadline, TimePoint now);
  void enqueue_locked(TenantState& t, Request& r, TimePoint now);
  Error timed_out_locked(TenantState& t, Request& r, TimePoint now);
  // Async requests granted or refused by dispatch_locked(), to be started outside the lock.
  Ready take_ready_locked() { return std::exchange(ready_, {}); }
  void run_ready(Ready ready) noexcept;
  void start_source(const std::shared_ptr<AsyncRequest>& op) noexcept;
  void source_done(const std::shared_ptr<AsyncRequest>& op, Result<SourceLease> lease) noexcept;
  void failed_locked(TenantState& t, TimePoint now);

  // What the caller may do after the checks made under the lock.
  Result<TenantLease> take_lease(TenantState& t, Deadline deadline, const SourceRequest* request);
  // Refusals made at once, before queuing (quota, early refusal), or nullopt to go on.
  std::optional<Error> refuse_at_once_locked(TenantState& t, const Deadline& deadline, TimePoint now);
  // max_operations: refused if `pending` more (queued) would reach it.
  std::optional<Error> operations_quota_locked(TenantState& t, TimePoint now, std::size_t pending);
  std::optional<Error> early_refusal_locked(const TenantState& t, const Deadline& deadline) const;
  Result<void> wait_locked(Lock& lock, TenantState& t, Request& r, const Deadline& deadline);

  TenantState& find_or_create_locked(std::string_view tenant, TimePoint now);
  void apply_config_locked(TenantState& t);
  std::size_t evict_locked(TimePoint now);
  void maybe_evict_locked(TimePoint now);

  // Permits.
  std::size_t capacity() const noexcept { return source_->capacity(); }
  std::size_t max_leases(const TenantState& t) const noexcept;
  bool eligible_locked(const TenantState& t, std::size_t cap) const noexcept;
  void take_permit_locked(TenantState& t, TimePoint now);
  void give_back_permit_locked(TenantState& t, TimePoint now);
  std::size_t unused_guarantee(const TenantState& t) const noexcept;
  void roll_window_locked(TenantState& t, TimePoint now);

  // Weighted deficit round robin over tenants with requests queued.
  void dispatch_locked(TimePoint now);
  void ring_add_locked(TenantState& t);
  void ring_remove_locked(TenantState& t);
  void advance_turn_locked();
  void grant_front_locked(TenantState& t, TimePoint now);

  TenantStats snapshot_locked(const TenantState& t, TimePoint now) const;
  void record_hold_locked(Duration held);

  const std::shared_ptr<LeaseSource> source_;
  const Clock& clock_;
  const TenantsOptions options_;

  mutable std::mutex mu_;
  TenantsConfig config_;
  std::unordered_map<std::string, std::unique_ptr<TenantState>> tenants_;
  std::size_t in_use_ = 0;           // permits out
  std::size_t reserved_unused_ = 0;  // sum over tenants of guarantee - active, where positive
  std::size_t waiting_ = 0;
  TenantState* turn_ = nullptr;      // whose turn it is in the ring
  std::uint64_t ring_weight_ = 0;    // weights of the tenants in the ring
  double mean_hold_ns_ = 0;          // decayed mean of hold times
  std::uint64_t hold_samples_ = 0;
  std::uint64_t created_ = 0, evicted_ = 0;
  TimePoint next_eviction_{};
  Ready ready_;
};

}  // namespace reservoir::tenant::detail
