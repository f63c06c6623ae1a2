#include "reservoir/tenant/lease.hpp"

#include "tenant/core.hpp"

namespace reservoir::tenant {

TenantLease::TenantLease(TenantLease&& other) noexcept
    : core_(std::move(other.core_)),
      state_(std::exchange(other.state_, nullptr)),
      lease_(std::move(other.lease_)),
      granted_(other.granted_),
      discarded_(other.discarded_) {}

TenantLease& TenantLease::operator=(TenantLease&& other) noexcept {
  if (this != &other) {
    release();
    core_ = std::move(other.core_);
    state_ = std::exchange(other.state_, nullptr);
    lease_ = std::move(other.lease_);
    granted_ = other.granted_;
    discarded_ = other.discarded_;
  }
  return *this;
}

const std::string& TenantLease::tenant() const noexcept {
  static const std::string none;
  return state_ != nullptr ? state_->id : none;
}

void TenantLease::count_transaction(bool committed) noexcept {
  if (state_ == nullptr) return;
  (committed ? state_->committed : state_->aborted).fetch_add(1, std::memory_order_relaxed);
}

void TenantLease::discard() noexcept {
  discarded_ = true;
  lease_.discard();
}

void TenantLease::release() noexcept {
  if (!lease_.valid() || state_ == nullptr) return;
  auto core = std::move(core_);
  detail::TenantState* state = std::exchange(state_, nullptr);
  core->return_lease(*state, lease_, discarded_, granted_);
}

}  // namespace reservoir::tenant
