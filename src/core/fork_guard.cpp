// Fork safety. A child process must never hand out or politely close its parent's connections:
// both processes would then speak on one server session. pthread_atfork handlers lock every
// pool around fork() (so the child's accounting is consistent) and, in the child, make each
// pool forget what it inherited.
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <vector>

#include "pool_core.hpp"

namespace reservoir::detail {

namespace {

struct Registry {
  std::mutex mu;
  std::vector<PoolCore*> pools;
};

Registry& registry() {
  static Registry* r = new Registry;  // never destroyed: pools may outlive static teardown
  return *r;
}

void before_fork() {
  registry().mu.lock();
  for (PoolCore* p : registry().pools) p->mutex().lock();
}

void after_fork_in_parent() {
  for (PoolCore* p : registry().pools) p->mutex().unlock();
  registry().mu.unlock();
}

void after_fork_in_child() {
  for (PoolCore* p : registry().pools) {
    p->forget_parent_connections_locked();
    p->mutex().unlock();
  }
  registry().mu.unlock();
}

void install_handlers_once() {
  static std::once_flag once;
  std::call_once(once, [] { pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child); });
}

}  // namespace

void register_for_fork(PoolCore* core) {
  install_handlers_once();
  std::lock_guard g(registry().mu);
  registry().pools.push_back(core);
}

void unregister_for_fork(PoolCore* core) {
  std::lock_guard g(registry().mu);
  auto& v = registry().pools;
  v.erase(std::remove(v.begin(), v.end(), core), v.end());
}

// In the child, single-threaded, mu_ held. Idle connections are abandoned now; leased ones
// (held by threads that no longer exist, or by the thread that forked) are abandoned when
// they come back. Their capacity is freed at once.
void PoolCore::forget_parent_connections_locked() {
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    switch (s.state.load()) {
      case SlotState::idle:
        if (s.conn) connector_->abandon(std::move(s.conn));
        s.state.store(SlotState::empty);
        break;
      case SlotState::leased:
      case SlotState::reserved:
        s.forked = true;
        break;
      case SlotState::connecting:  // its thread does not exist here
        s.state.store(SlotState::empty);
        break;
      case SlotState::empty:
        break;
    }
  }
  open_ = 0;
  connecting_ = 0;
  connect_threads_ = 0;  // they do not exist here
  waiters_.forget_all();
  waiting_.store(0);
  // The maintainer thread does not exist in the child; forget its handle without joining.
  new (&maintainer_) std::thread();
}

}  // namespace reservoir::detail
