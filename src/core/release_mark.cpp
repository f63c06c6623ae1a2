#include "release_mark.hpp"

#include <pthread.h>

#include <atomic>
#include <mutex>
#include <thread>

namespace reservoir::detail {

namespace {

// Marks live in the registry for good and are reused by later threads: the memory is bounded
// by the most threads ever alive at once, and a mark is never freed under a dying core's scan.
struct Mark {
  ReleaseMarkCell core{nullptr};
  bool in_use = false;  // owned by a live thread (registry mutex)
  Mark* next = nullptr;
};

// Never destroyed: threads may exit after static destruction began.
struct Registry {
  std::mutex mu;
  Mark* head = nullptr;
  pthread_key_t key{};
};

void on_thread_exit(void* mark);

Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry;
    // A pthread key rather than a thread_local object: its destructor runs after every C++
    // thread_local destructor, so a Lease held in a thread_local is still returned under a mark.
    pthread_key_create(&reg->key, &on_thread_exit);
    // A fork while another thread holds the mutex would leave it locked in the child forever.
    pthread_atfork([] { registry().mu.lock(); }, [] { registry().mu.unlock(); }, [] { registry().mu.unlock(); });
    return reg;
  }();
  return *r;
}

void on_thread_exit(void* mark) {
  t_release_mark = nullptr;
  std::lock_guard g(registry().mu);
  static_cast<Mark*>(mark)->in_use = false;
}

}  // namespace

constinit thread_local ReleaseMarkCell* t_release_mark = nullptr;

ReleaseMarkCell* register_release_mark() {
  Registry& r = registry();
  Mark* mark = nullptr;
  {
    std::lock_guard g(r.mu);
    for (Mark* m = r.head; m != nullptr && mark == nullptr; m = m->next) {
      if (!m->in_use) mark = m;
    }
    if (mark == nullptr) {
      mark = new Mark;
      mark->next = r.head;
      r.head = mark;
    }
    mark->in_use = true;
  }
  pthread_setspecific(r.key, mark);
  t_release_mark = &mark->core;
  return t_release_mark;
}

void wait_for_release_marks(const PoolCore* core) noexcept {
  Registry& r = registry();
  std::lock_guard g(r.mu);  // a marked thread never takes it: it is mid-return, not starting or exiting
  for (Mark* m = r.head; m != nullptr; m = m->next) {
    while (m->core.load(std::memory_order_acquire) == core) std::this_thread::yield();
  }
}

}  // namespace reservoir::detail
