// Fork safety. A child process must never hand out or politely close its parent's connections:
// both processes would then speak on one server session. The fork hooks lock every pool
// around fork() (so the child's accounting is consistent) and, in the child, make each pool
// forget what it inherited.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <vector>

#include "pool_core.hpp"
#include "process_registry.hpp"

namespace reservoir::detail {

namespace {

struct LivePools {
  std::vector<PoolCore*> pools;

  void before_fork_locked() {
    for (PoolCore* p : pools) p->mutex().lock();
  }
  void after_fork_in_parent_locked() {
    for (PoolCore* p : pools) p->mutex().unlock();
  }
  void after_fork_in_child_locked() {
    for (PoolCore* p : pools) {
      p->forget_parent_connections_locked();
      p->mutex().unlock();
    }
  }
};

using Registry = ProcessRegistry<LivePools>;

}  // namespace

void register_for_fork(PoolCore* core) {
  Registry& r = Registry::instance();
  std::lock_guard g(r.mutex());
  r.state().pools.push_back(core);
}

void unregister_for_fork(PoolCore* core) {
  Registry& r = Registry::instance();
  std::lock_guard g(r.mutex());
  auto& v = r.state().pools;
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
  // Connect threads do not exist here: their handles are let go of, never joined. Detached,
  // not merely forgotten, so a ThreadSanitizer'd child does not report them as leaked (glibc
  // has already reclaimed the parent's other threads in the child; detach only marks them).
  for (std::thread& t : connect_threads_) t.detach();
  connect_threads_.clear();
  if (ended_connect_thread_.joinable()) ended_connect_thread_.detach();
  waiters_.forget_all();
  waiting_.store(0);
  spinning_.store(0);  // the spinning threads do not exist here
  // Leases out now were inherited (forked: not counted when they end).
  for (InUseShard& shard : in_use_) shard.leases.store(0);
  // The maintainer thread does not exist in the child; forget its handle without joining.
  new (&maintainer_) std::thread();
}

}  // namespace reservoir::detail
