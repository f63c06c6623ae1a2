// tests/support/thread_count.hpp — the threads of this process, from /proc: the check that a
// queued waiter costs no thread.
#pragma once

#include <dirent.h>

namespace reservoir::testing {

inline int thread_count() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

}  // namespace reservoir::testing
