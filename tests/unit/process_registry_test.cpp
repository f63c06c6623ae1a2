// ProcessRegistry: one never-destroyed instance per state type, and fork hooks that run with
// its mutex held and leave it usable in both processes.
#include "core/process_registry.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace reservoir::detail {
namespace {

struct Counted {
  int before = 0;
  int parent = 0;
  int child = 0;
  void before_fork_locked() { ++before; }
  void after_fork_in_parent_locked() { ++parent; }
  void after_fork_in_child_locked() { ++child; }
};

struct Plain {
  int value = 0;
};

TEST(ProcessRegistry, OneInstancePerState) {
  EXPECT_EQ(&ProcessRegistry<Plain>::instance(), &ProcessRegistry<Plain>::instance());
  EXPECT_NE(static_cast<void*>(&ProcessRegistry<Plain>::instance()),
            static_cast<void*>(&ProcessRegistry<Counted>::instance()));
}

TEST(ProcessRegistry, ForkRunsEachSidesHookAndLeavesTheMutexFree) {
  auto& counted = ProcessRegistry<Counted>::instance();
  auto& plain = ProcessRegistry<Plain>::instance();  // no hooks: only its mutex is handled
  Counted start;
  {
    std::lock_guard g(counted.mutex());
    start = counted.state();
  }
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child: its hook ran once, and both mutexes can be taken (not left locked).
    int code = 0;
    if (!counted.mutex().try_lock()) code = 2;
    else {
      if (counted.state().child != start.child + 1 || counted.state().parent != start.parent) code = 3;
      counted.mutex().unlock();
    }
    if (!plain.mutex().try_lock()) code = 4;
    else plain.mutex().unlock();
    ::_exit(code);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  ASSERT_TRUE(counted.mutex().try_lock());
  EXPECT_EQ(counted.state().before, start.before + 1);
  EXPECT_EQ(counted.state().parent, start.parent + 1);
  EXPECT_EQ(counted.state().child, start.child);
  counted.mutex().unlock();
  ASSERT_TRUE(plain.mutex().try_lock());
  plain.mutex().unlock();
}

}  // namespace
}  // namespace reservoir::detail
