#include "process_registry.hpp"

#include <pthread.h>

#include <cstdlib>

namespace reservoir::detail {

namespace {

// g_mu guards the list and is held across fork(), so a registry added meanwhile is either
// locked and unlocked or neither. std::mutex has a trivial destructor: it outlives its users.
std::mutex g_mu;
ForkHooks g_hooks[kMaxForkHooks];
int g_count = 0;

void prepare_all() {
  g_mu.lock();
  for (int i = g_count - 1; i >= 0; --i) g_hooks[i].prepare(g_hooks[i].registry);
}
void parent_all() {
  for (int i = 0; i < g_count; ++i) g_hooks[i].parent(g_hooks[i].registry);
  g_mu.unlock();
}
void child_all() {
  for (int i = 0; i < g_count; ++i) g_hooks[i].child(g_hooks[i].registry);
  g_mu.unlock();
}

}  // namespace

void add_fork_hooks(ForkHooks hooks) noexcept {
  // pthread_atfork fails only with ENOMEM; without handlers a fork could deadlock the child.
  static const bool installed = pthread_atfork(prepare_all, parent_all, child_all) == 0;
  if (!installed) std::abort();
  std::lock_guard g(g_mu);
  if (g_count == kMaxForkHooks) std::abort();  // a new kind of registry: raise kMaxForkHooks
  g_hooks[g_count++] = hooks;
}

}  // namespace reservoir::detail
