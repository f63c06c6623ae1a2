// release_mark.hpp — which pool core each thread is returning a lease to right now.
//
// A return makes its slot idle and then still reads the core (waiting_, closing_; maybe the
// lock). A ~Pool running at that moment can retire the slot, find nothing open and free the
// core under the returning thread. Each thread therefore marks the core for the few
// instructions after the slot turns idle, and ~PoolCore waits until no thread is marked for
// it. The mark is two plain stores on the thread's own cache line (a shared counter would add
// two locked instructions to every return); only the dying core walks every thread's mark.
#pragma once

#include <atomic>

namespace reservoir::detail {

class PoolCore;

using ReleaseMarkCell = std::atomic<const PoolCore*>;

// This thread's mark, registered on its first return (null before). constinit: no TLS
// init-guard call on the hot path.
extern constinit thread_local ReleaseMarkCell* t_release_mark;
ReleaseMarkCell* register_release_mark();

// Marks `core` for the calling thread until clear_release_mark(). Not nested: the marked
// stretch calls no code that returns another lease. Relaxed: the slot's seq_cst store to
// idle, right after, publishes the mark to whoever takes the slot.
inline void set_release_mark(const PoolCore* core) noexcept {
  ReleaseMarkCell* cell = t_release_mark;
  if (cell == nullptr) [[unlikely]] cell = register_release_mark();
  cell->store(core, std::memory_order_relaxed);
}

// Release: everything the return did happens before the dying core sees the mark cleared.
inline void clear_release_mark() noexcept { t_release_mark->store(nullptr, std::memory_order_release); }

// Blocks until no thread is marked for `core`. Must not be called by a marked thread.
void wait_for_release_marks(const PoolCore* core) noexcept;

}  // namespace reservoir::detail
