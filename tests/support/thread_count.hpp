// tests/support/thread_count.hpp — the threads of this process, from /proc: the check that a
// queued waiter costs no thread.
#pragma once

#include <dirent.h>

#include <thread>

namespace reservoir::testing {

inline int thread_count() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

// A baseline to compare thread_count() with later: ThreadSanitizer starts a background thread
// of its own at the first thread the process creates, so a test run alone (ctest runs each
// by itself) would count it as one of the pool's. One thread made and joined first settles it.
inline int thread_count_baseline() {
  std::thread([] {}).join();
  return thread_count();
}

}  // namespace reservoir::testing
