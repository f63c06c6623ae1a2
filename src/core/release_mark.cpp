#include "release_mark.hpp"

#include <pthread.h>

#include <atomic>
#include <mutex>
#include <thread>

namespace reservoir::detail {

namespace {

struct Mark;

// Never destroyed: threads may exit (and unregister) after static destruction began.
struct Registry {
  std::mutex mu;
  Mark* head = nullptr;
};

Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry;
    // A fork while another thread holds the mutex would leave it locked in the child forever.
    pthread_atfork([] { registry().mu.lock(); }, [] { registry().mu.unlock(); }, [] { registry().mu.unlock(); });
    return reg;
  }();
  return *r;
}

struct Mark {
  std::atomic<const PoolCore*> core{nullptr};
  Mark* prev = nullptr;
  Mark* next = nullptr;

  Mark() {
    Registry& r = registry();
    std::lock_guard g(r.mu);
    next = r.head;
    if (next != nullptr) next->prev = this;
    r.head = this;
  }
  ~Mark() {
    Registry& r = registry();
    std::lock_guard g(r.mu);
    if (prev != nullptr) prev->next = next;
    else r.head = next;
    if (next != nullptr) next->prev = prev;
  }
};

Mark& this_thread_mark() noexcept {
  thread_local Mark mark;
  return mark;
}

}  // namespace

// Relaxed: the slot's seq_cst store to idle, right after, publishes the mark to whoever takes
// the slot.
void set_release_mark(const PoolCore* core) noexcept { this_thread_mark().core.store(core, std::memory_order_relaxed); }

// Release: everything the return did happens before the dying core sees the mark cleared.
void clear_release_mark() noexcept { this_thread_mark().core.store(nullptr, std::memory_order_release); }

void wait_for_release_marks(const PoolCore* core) noexcept {
  Registry& r = registry();
  std::lock_guard g(r.mu);  // a marked thread never takes it: it is mid-return, not starting or exiting
  for (Mark* m = r.head; m != nullptr; m = m->next) {
    while (m->core.load(std::memory_order_acquire) == core) std::this_thread::yield();
  }
}

}  // namespace reservoir::detail
