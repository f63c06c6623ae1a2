#include <vector>

#include "reservoir/asio/pending_op.hpp"

namespace reservoir::asio::detail {

net::execution_context::id OpService::id;

OpService::OpService(net::execution_context& context) : net::execution_context::service(context) {}

OpService::~OpService() = default;

bool OpService::add(OpBase& op) noexcept {
  std::lock_guard g(mu_);
  if (shut_) return false;
  op.prev_ = nullptr;
  op.next_ = head_;
  if (head_ != nullptr) head_->prev_ = &op;
  head_ = &op;
  ++count_;
  return true;
}

void OpService::remove(OpBase& op) noexcept {
  std::lock_guard g(mu_);
  if (op.prev_ == nullptr && head_ != &op) return;  // not listed (taken by shutdown)
  if (op.prev_ != nullptr) op.prev_->next_ = op.next_;
  else head_ = op.next_;
  if (op.next_ != nullptr) op.next_->prev_ = op.prev_;
  op.prev_ = op.next_ = nullptr;
  --count_;
}

std::size_t OpService::pending() const noexcept {
  std::lock_guard g(mu_);
  return count_;
}

// Runs before the context's scheduler shuts down (services stop newest first), so a handler
// posted before this point is destroyed by the scheduler, and none is posted after it.
void OpService::shutdown() {
  std::vector<std::shared_ptr<OpBase>> ops;
  {
    std::lock_guard g(mu_);
    shut_ = true;
    for (OpBase* op = head_; op != nullptr;) {
      OpBase* next = op->next_;
      // A listed operation is still held by its outside operation; lock() only guards the
      // moment its last owner lets go.
      if (auto held = op->weak_from_this().lock()) ops.push_back(std::move(held));
      op->prev_ = op->next_ = nullptr;
      op = next;
    }
    head_ = nullptr;
    count_ = 0;
  }
  for (auto& op : ops) op->orphan();
}

}  // namespace reservoir::asio::detail
