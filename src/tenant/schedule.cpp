// Permits and the weighted deficit round robin that hands them to waiting tenants.
#include <algorithm>

#include "tenant/core.hpp"

namespace reservoir::tenant::detail {

void RequestQueue::push_back(Request& r) noexcept {
  r.next = nullptr;
  r.prev = tail_;
  if (tail_ != nullptr) tail_->next = &r;
  else head_ = &r;
  tail_ = &r;
  ++size_;
}

void RequestQueue::remove(Request& r) noexcept {
  if (r.prev != nullptr) r.prev->next = r.next;
  else head_ = r.next;
  if (r.next != nullptr) r.next->prev = r.prev;
  else tail_ = r.prev;
  r.next = r.prev = nullptr;
  --size_;
}

std::size_t TenantsCore::max_leases(const TenantState& t) const noexcept {
  const std::size_t cap = capacity();
  return t.config.max_leases == 0 ? cap : std::min(t.config.max_leases, cap);
}

std::size_t TenantsCore::unused_guarantee(const TenantState& t) const noexcept {
  return t.active < t.config.guarantee ? t.config.guarantee - t.active : 0;
}

// A tenant below its guarantee takes one of the permits kept for it; any other takes a
// permit only if one is left beyond everybody's unused guarantees (lending never eats a
// guarantee, so a guaranteed tenant never waits for a borrower to finish).
bool TenantsCore::eligible_locked(const TenantState& t, std::size_t cap) const noexcept {
  if (t.active >= max_leases(t) || in_use_ >= cap) return false;
  if (t.active < t.config.guarantee) return true;
  return in_use_ + reserved_unused_ < cap;
}

void TenantsCore::roll_window_locked(TenantState& t, TimePoint now) {
  if (t.config.operations_window.count() == 0) return;
  if (t.window_ops == 0 || now - t.window_start >= t.config.operations_window) {
    t.window_start = now;
    t.window_ops = 0;
  }
}

void TenantsCore::take_permit_locked(TenantState& t, TimePoint now) {
  reserved_unused_ -= unused_guarantee(t);
  ++t.active;
  reserved_unused_ += unused_guarantee(t);
  ++in_use_;
  roll_window_locked(t, now);
  if (t.config.operations_window.count() != 0 && t.window_ops == 0) t.window_start = now;
  ++t.window_ops;
  ++t.operations;
}

void TenantsCore::give_back_permit_locked(TenantState& t, TimePoint now) {
  reserved_unused_ -= unused_guarantee(t);
  --t.active;
  reserved_unused_ += unused_guarantee(t);
  --in_use_;
  if (t.active == 0 && t.queue.empty()) t.idle_since = now;
}

void TenantsCore::ring_add_locked(TenantState& t) {
  t.in_ring = true;
  ring_weight_ += t.config.weight;
  if (turn_ == nullptr) {
    t.ring_next = t.ring_prev = &t;
    turn_ = &t;
    t.deficit = t.config.weight;  // its turn begins
    return;
  }
  // At the end of the round: just before the tenant whose turn it is.
  t.deficit = 0;
  t.ring_prev = turn_->ring_prev;
  t.ring_next = turn_;
  turn_->ring_prev->ring_next = &t;
  turn_->ring_prev = &t;
}

void TenantsCore::ring_remove_locked(TenantState& t) {
  t.in_ring = false;
  ring_weight_ -= t.config.weight;
  t.deficit = 0;
  if (t.ring_next == &t) {
    turn_ = nullptr;
  } else {
    t.ring_prev->ring_next = t.ring_next;
    t.ring_next->ring_prev = t.ring_prev;
    if (turn_ == &t) {
      turn_ = t.ring_next;
      turn_->deficit += turn_->config.weight;
    }
  }
  t.ring_next = t.ring_prev = nullptr;
}

void TenantsCore::advance_turn_locked() {
  turn_ = turn_->ring_next;
  turn_->deficit += turn_->config.weight;
}

void TenantsCore::grant_front_locked(TenantState& t, TimePoint now) {
  Request& r = *t.queue.front();
  t.queue.remove(r);
  --waiting_;
  if (auto refused = operations_quota_locked(t, now, 0)) {
    // A window can only have shrunk under it (reconfigure): the queued request is refused
    // rather than let through over the limit.
    r.state = Request::State::refused;
    r.error = std::move(refused);
    if (r.async) ++t.quota_rejections;  // a blocked caller counts its own on waking
  } else {
    take_permit_locked(t, now);
    r.state = Request::State::granted;
  }
  if (r.async) ready_.push_back(std::move(r.async));  // started by whoever unlocks next
  else r.cv.notify_one();
}

// Hands free permits to waiting tenants: the tenant whose turn it is is served while its
// deficit lasts, a tenant that cannot take a permit now (at its cap, or only guaranteed
// permits of others are left) forfeits its turn, and a tenant whose queue ran dry leaves
// the ring. Stops when the permits run out or a whole round found nobody to serve.
void TenantsCore::dispatch_locked(TimePoint now) {
  const std::size_t cap = capacity();
  while (turn_ != nullptr && in_use_ < cap) {
    bool served = false;
    std::size_t skipped = 0;
    while (turn_ != nullptr) {
      TenantState& t = *turn_;
      if (t.queue.empty()) {
        ring_remove_locked(t);
        continue;
      }
      if (!eligible_locked(t, cap)) {
        t.deficit = 0;
      } else if (t.deficit >= 1) {
        grant_front_locked(t, now);
        --t.deficit;
        if (t.queue.empty()) ring_remove_locked(t);
        served = true;
        break;
      }
      // Two rounds: the first may only top deficits up.
      if (++skipped > 2 * (ring_weight_ + 1)) break;
      advance_turn_locked();
    }
    if (!served) break;
  }
}

void TenantsCore::record_hold_locked(Duration held) {
  // Decayed mean (alpha 1/16): recent hold times matter, one outlier does not.
  const double ns = static_cast<double>(held.count());
  mean_hold_ns_ = hold_samples_ == 0 ? ns : mean_hold_ns_ + (ns - mean_hold_ns_) / 16.0;
  ++hold_samples_;
}

}  // namespace reservoir::tenant::detail
