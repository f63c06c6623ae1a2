#include "writer_gate.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
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
  return reservoir::detail::shared_by_key(registry.state().by_path, canonical_path,
                                          [] { return std::make_shared<WriterGate>(); });
}

namespace {

// Sleeps while *word == 2, until woken or until `at` on CLOCK_MONOTONIC (steady_clock's).
// False once `at` passed.
bool futex_wait_until(std::atomic<int>& word, TimePoint at) noexcept {
  const auto ns = at.time_since_epoch().count();
  timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  const long rc = syscall(SYS_futex, reinterpret_cast<int*>(&word), FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 2, &ts,
                          nullptr, FUTEX_BITSET_MATCH_ANY);
  return rc == 0 || errno != ETIMEDOUT;
}

void futex_wake_one(std::atomic<int>& word) noexcept {
  syscall(SYS_futex, reinterpret_cast<int*>(&word), FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, nullptr, nullptr, 0);
}

}  // namespace

bool WriterGate::try_enter() noexcept {
  int free = 0;
  return state_.compare_exchange_strong(free, 1);  // seq_cst: see wait_on_injected_clock
}

bool WriterGate::enter(const Deadline& deadline) {
  if (try_enter()) return true;
  if (dynamic_cast<const SteadyClock*>(&deadline.clock()) != nullptr) return wait_on_steady_clock(deadline);
  return wait_on_injected_clock(deadline);
}

// glibc's lll_clocklock_wait: mark the gate slept-on (2) and sleep until it is left. A writer
// that gets in this way leaves it marked 2, so its leave() wakes the next sleeper.
bool WriterGate::wait_on_steady_clock(const Deadline& deadline) {
  while (state_.exchange(2, std::memory_order_acquire) != 0) {
    if (!futex_wait_until(state_, deadline.when())) return false;
  }
  return true;
}

// A waiter counts itself in clock_waiters_ before it tries the gate, and leave() frees the
// gate before it reads clock_waiters_ (all four sequentially consistent): so either the
// waiter's try finds the gate free, or leave() sees the waiter and wakes it under mu_, which
// the waiter holds from its try until it sleeps.
bool WriterGate::wait_on_injected_clock(const Deadline& deadline) {
  const Clock& clock = deadline.clock();
  std::unique_lock lk(mu_);
  clock_waiters_.fetch_add(1);
  bool entered = false;
  // A woken writer that finds the gate free takes it even if its deadline just passed: the
  // wake-up it took may have been meant for it.
  while (!(entered = try_enter()) && !deadline.expired()) clock.wait_until(cv_, lk, deadline.when());
  clock_waiters_.fetch_sub(1);
  return entered;
}

void WriterGate::leave() noexcept {
  // One writer, not all: the others would only find the gate taken again and sleep.
  if (state_.exchange(0) == 2) futex_wake_one(state_);
  if (clock_waiters_.load() == 0) return;
  { std::lock_guard g(mu_); }
  cv_.notify_all();  // each tries again; those who lose wait for the next leave()
}

}  // namespace reservoir::sqlite::detail
