// reservoir/tenant/stats.hpp — TenantStats and TenantsTotals: snapshots of a registry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "reservoir/clock.hpp"

namespace reservoir::tenant {

struct TenantStats {
  std::string tenant;
  bool configured = false;          // named in TenantsConfig::tenants (never evicted)
  std::size_t active = 0;           // leases held now
  std::size_t waiting = 0;          // requests queued now
  Duration oldest_waiter_age{0};    // how long its first queued request has waited (0: none)
  std::uint64_t operations = 0;     // leases granted, in total
  std::uint64_t window_operations = 0;  // leases granted in the current operations window
  std::uint64_t committed = 0;      // transactions counted through TenantLease::count_transaction()
  std::uint64_t aborted = 0;
  std::uint64_t quota_rejections = 0;   // refused with quota_exceeded
  std::uint64_t early_refusals = 0;     // refused because the expected wait exceeded the deadline
  std::uint64_t timeouts = 0;           // waited until the deadline
  std::uint64_t failures = 0;           // granted, then the source or the setup failed

  std::string to_string() const;
};

struct TenantsTotals {
  std::size_t tenants = 0;          // known now (configured + lazily created, not evicted)
  std::size_t capacity = 0;         // the source's capacity
  std::size_t active = 0;           // leases out through the registry
  std::size_t waiting = 0;
  std::size_t reserved_unused = 0;  // guaranteed leases not taken: not lent to others
  std::uint64_t created = 0;        // tenants created on first use, in total
  std::uint64_t evicted = 0;        // tenants forgotten after idle_ttl, in total
  Duration mean_hold{0};            // decayed mean of lease hold times (0 until one returned)
  std::uint64_t hold_samples = 0;
};

}  // namespace reservoir::tenant
