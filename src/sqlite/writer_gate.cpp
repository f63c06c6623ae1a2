#include "writer_gate.hpp"

#include <map>

namespace reservoir::sqlite::detail {

std::shared_ptr<WriterGate> WriterGate::for_store(const std::string& canonical_path) {
  static std::mutex* mu = new std::mutex;  // never destroyed: connections may outlive statics
  static auto* gates = new std::map<std::string, std::weak_ptr<WriterGate>>;
  std::lock_guard g(*mu);
  for (auto it = gates->begin(); it != gates->end();) {  // forget stores nobody uses any more
    it = it->second.expired() ? gates->erase(it) : std::next(it);
  }
  auto& slot = (*gates)[canonical_path];
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
