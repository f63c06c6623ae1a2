#include "writer_gate.hpp"

#include <map>

#include "core/process_registry.hpp"

namespace reservoir::sqlite::detail {

namespace {
// A process registry (never destroyed: connections may outlive statics).
struct WriterGates {
  std::map<std::string, std::weak_ptr<WriterGate>> by_path;
};
using Registry = reservoir::detail::ProcessRegistry<WriterGates>;
}  // namespace

std::shared_ptr<WriterGate> WriterGate::for_store(const std::string& canonical_path) {
  Registry& registry = Registry::instance();
  std::lock_guard g(registry.mutex());
  auto& gates = registry.state().by_path;
  for (auto it = gates.begin(); it != gates.end();) {  // forget stores nobody uses any more
    it = it->second.expired() ? gates.erase(it) : std::next(it);
  }
  auto& slot = gates[canonical_path];
  auto gate = slot.lock();
  if (!gate) {
    gate = std::make_shared<WriterGate>();
    slot = gate;
  }
  return gate;
}

bool WriterGate::enter(const Deadline& deadline) {
  const Clock& clock = deadline.clock();
  std::unique_lock lk(mu_);
  while (held_) {
    if (deadline.expired()) return false;
    clock.wait_until(cv_, lk, deadline.when());
  }
  held_ = true;
  return true;
}

void WriterGate::leave() noexcept {
  {
    std::lock_guard g(mu_);
    held_ = false;
  }
  cv_.notify_all();  // not notify_one: the woken waiter may be past its deadline and leave
}

}  // namespace reservoir::sqlite::detail
