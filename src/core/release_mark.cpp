#include "release_mark.hpp"

#include <pthread.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "process_registry.hpp"

namespace reservoir::detail {

namespace {

// Marks live in the registry for good and are reused by later threads: the memory is bounded
// by the most threads ever alive at once, and a mark is never freed under a dying core's scan.
struct Mark {
  ReleaseMarkCell core{nullptr};
  bool in_use = false;  // owned by a live thread (registry mutex)
  Mark* next = nullptr;
};

void on_thread_exit(void* mark);

// A process registry (never destroyed: threads may exit after static destruction began).
struct Marks {
  Mark* head = nullptr;
  pthread_key_t key{};

  // A pthread key rather than a thread_local object: its destructor runs after every C++
  // thread_local destructor, so a Lease held in a thread_local is still returned under a mark.
  Marks() { pthread_key_create(&key, &on_thread_exit); }
};

using Registry = ProcessRegistry<Marks>;

void on_thread_exit(void* mark) {
  t_release_mark = nullptr;
  std::lock_guard g(Registry::instance().mutex());
  static_cast<Mark*>(mark)->in_use = false;
}

}  // namespace

constinit thread_local ReleaseMarkCell* t_release_mark = nullptr;

ReleaseMarkCell* register_release_mark() {
  Registry& r = Registry::instance();
  Marks& marks = r.state();
  Mark* mark = nullptr;
  {
    std::lock_guard g(r.mutex());
    for (Mark* m = marks.head; m != nullptr && mark == nullptr; m = m->next) {
      if (!m->in_use) mark = m;
    }
    if (mark == nullptr) {
      mark = new Mark;
      mark->next = marks.head;
      marks.head = mark;
    }
    mark->in_use = true;
  }
  pthread_setspecific(marks.key, mark);
  t_release_mark = &mark->core;
  return t_release_mark;
}

void wait_for_release_marks(const PoolCore* core) noexcept {
  Registry& r = Registry::instance();
  std::lock_guard g(r.mutex());  // a marked thread never takes it: it is mid-return, not starting or exiting
  for (Mark* m = r.state().head; m != nullptr; m = m->next) {
    while (m->core.load(std::memory_order_acquire) == core) std::this_thread::yield();
  }
}

}  // namespace reservoir::detail
