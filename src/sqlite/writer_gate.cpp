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
  if (held_) {
    ++waiting_;
    while (held_) {
      if (deadline.expired()) {
        --waiting_;
        return false;
      }
      clock.wait_until(cv_, lk, deadline.when());
    }
    --waiting_;
  }
  held_ = true;
  return true;
}

void WriterGate::leave() noexcept {
  bool wake = false;
  {
    std::lock_guard g(mu_);
    held_ = false;
    wake = waiting_ > 0;
  }
  // One writer, not all: the others would only find the gate taken again and sleep (a wake-up
  // and a context switch each per write). No wake-up is lost: a woken writer that finds the gate
  // free takes it even if its deadline just passed, and one that finds it taken again waits for
  // that holder's leave().
  if (wake) cv_.notify_one();
}

}  // namespace reservoir::sqlite::detail
