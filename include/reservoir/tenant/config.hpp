// reservoir/tenant/config.hpp — TenantConfig and TenantsConfig: each tenant's share, caps and
// quotas, validated as a whole.
//
// Plain aggregates; fields may be added later (always with a default).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "reservoir/error.hpp"

namespace reservoir::tenant {

struct TenantConfig {
  // Its quantum in the weighted deficit round robin between waiting tenants: a tenant of
  // weight 2 is served twice as often as one of weight 1 while both wait (1..1000).
  std::uint32_t weight = 1;
  // Leases kept for it: it always gets up to this many at once, however busy the others are
  // (0..capacity; the guarantees of all tenants together at most the source's capacity).
  std::size_t guarantee = 0;
  // Cap on the leases it holds at once; one more is refused at once with quota_exceeded
  // (0 = the source's capacity, else max(1, guarantee)..capacity).
  std::size_t max_leases = 0;
  // Cap on its operations (leases granted), in total or per window; one more is refused at
  // once with quota_exceeded (0 = unlimited).
  std::uint64_t max_operations = 0;
  // 0: max_operations counts for the tenant's life; else it counts per window of this length
  // (0 or 1ms..24h), the window starting at the first operation after the previous one ended.
  std::chrono::milliseconds operations_window{0};
  // Requests it may have queued at once; one more is refused at once with quota_exceeded
  // (0..1000000; 0 = never queue).
  std::size_t max_waiting = 1024;
};

struct TenantsConfig {
  // For tenants created on first use (any id not in `tenants`). Their guarantee must be 0:
  // an unbounded number of ids cannot each reserve leases.
  TenantConfig defaults{};
  // Tenants configured by id: created at once, never evicted.
  std::map<std::string, TenantConfig> tenants;
  // A tenant created on first use is forgotten once it has had no lease and no waiter for
  // this long (1ms..24h); its counters go with it.
  std::chrono::milliseconds idle_ttl{std::chrono::minutes(5)};
  // Refuse a caller at once when the expected wait (recent lease hold times and its place in
  // line) exceeds its deadline, instead of letting it wait for nothing.
  bool refuse_early = true;
  // Leases returned before the hold-time estimate is trusted for early refusal (1..100000).
  std::size_t min_hold_samples = 16;

  // OK, or invalid_config naming the field (`tenants["a"].weight`, `defaults.guarantee`,
  // `tenants.guarantee_sum`), its value and what is allowed for a source of `capacity`.
  Status validate(std::size_t capacity) const;
};

}  // namespace reservoir::tenant
