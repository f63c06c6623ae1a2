// src/core/process_registry.hpp — ProcessRegistry<State>: process-wide state that is never
// destroyed and survives fork() (internal; used by core and the backends).
//
// Four registries need the same two things: they must outlive static destruction (pools,
// leases, store-lock shares and threads may still reach them while statics are torn down), and
// a fork() must not leave their mutex locked in the child by a thread that does not exist there.
// Each used to carry its own `new` and its own pthread_atfork set-up; here there is one of each.
//
// Around fork() the registry's mutex is held, so the state is consistent in both processes.
// State may add hooks, each run with that mutex held:
//   void before_fork_locked();       // after locking, before fork() (e.g. lock more mutexes)
//   void after_fork_in_parent_locked();
//   void after_fork_in_child_locked();  // forget what belonged to the parent's threads
// As with pthread_atfork, prepare hooks run in reverse order of registration, the others in
// order, so a registry made later (and possibly locked while an earlier one is held) is
// locked first and unlocked last.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace reservoir::detail {

struct ForkHooks {
  void (*prepare)(void* registry);
  void (*parent)(void* registry);
  void (*child)(void* registry);
  void* registry;
};

// Adds `hooks` to the process's one pthread_atfork registration. Never removed: registries live
// for good. At most kMaxForkHooks registries (one per kind, not per object).
inline constexpr int kMaxForkHooks = 8;
void add_fork_hooks(ForkHooks hooks) noexcept;

template <class State>
class ProcessRegistry {
 public:
  // The one registry of State, made on first use and never destroyed.
  static ProcessRegistry& instance() {
    static ProcessRegistry* registry = new ProcessRegistry;
    return *registry;
  }

  ProcessRegistry(const ProcessRegistry&) = delete;
  ProcessRegistry& operator=(const ProcessRegistry&) = delete;

  std::mutex& mutex() noexcept { return mu_; }
  // Guarded by mutex(), unless State says otherwise for a member.
  State& state() noexcept { return state_; }

 private:
  ProcessRegistry() { add_fork_hooks({&prepare, &parent, &child, this}); }

  static void prepare(void* self) {
    auto& r = *static_cast<ProcessRegistry*>(self);
    r.mu_.lock();
    if constexpr (requires { r.state_.before_fork_locked(); }) r.state_.before_fork_locked();
  }
  static void parent(void* self) {
    auto& r = *static_cast<ProcessRegistry*>(self);
    if constexpr (requires { r.state_.after_fork_in_parent_locked(); }) r.state_.after_fork_in_parent_locked();
    r.mu_.unlock();
  }
  static void child(void* self) {
    auto& r = *static_cast<ProcessRegistry*>(self);
    if constexpr (requires { r.state_.after_fork_in_child_locked(); }) r.state_.after_fork_in_child_locked();
    r.mu_.unlock();
  }

  std::mutex mu_;
  State state_;
};

// The object `objects` holds for `key`, made by `make()` when none is alive; entries nobody
// holds any more are forgotten on the way. Call with the registry's mutex held.
template <class T, class Make>
std::shared_ptr<T> shared_by_key(std::map<std::string, std::weak_ptr<T>>& objects, const std::string& key, Make make) {
  for (auto it = objects.begin(); it != objects.end();) {
    it = it->second.expired() ? objects.erase(it) : std::next(it);
  }
  auto& slot = objects[key];
  std::shared_ptr<T> found = slot.lock();
  if (!found) {
    found = make();
    slot = found;
  }
  return found;
}

}  // namespace reservoir::detail
