// release_mark.hpp — which pool core each thread is returning a lease to right now.
//
// A return makes its slot idle and then still reads the core (waiting_, closing_; maybe the
// lock). A ~Pool running at that moment can retire the slot, find nothing open and free the
// core under the returning thread. Each thread therefore marks the core for the few
// instructions after the slot turns idle, and ~PoolCore waits until no thread is marked for
// it. The mark is two plain stores on the thread's own cache line (a shared counter would add
// two locked instructions to every return); only the dying core walks every thread's mark.
#pragma once

namespace reservoir::detail {

class PoolCore;

// Marks `core` for the calling thread until clear_release_mark(). Not nested: the marked
// stretch calls no code that returns another lease.
void set_release_mark(const PoolCore* core) noexcept;
void clear_release_mark() noexcept;

// Blocks until no thread is marked for `core`. Must not be called by a marked thread.
void wait_for_release_marks(const PoolCore* core) noexcept;

}  // namespace reservoir::detail
