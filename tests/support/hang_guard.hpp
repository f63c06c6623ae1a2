// A guard for calls that used to hang: a stuck call cannot be stopped from outside, so instead
// of letting the whole test binary sit until ctest's timeout, the guard reports which test hung
// and ends the process (a failure, not a skip). Not a timing assertion: the limit is far above
// any deadline the guarded call is given.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <thread>
#include <utility>

#include <gtest/gtest.h>

namespace reservoir::testing {

template <class F>
auto returns_within(std::chrono::seconds limit, F fn) -> decltype(fn()) {
  std::packaged_task<decltype(fn())()> task(std::move(fn));
  auto result = task.get_future();
  std::thread(std::move(task)).detach();
  if (result.wait_for(limit) != std::future_status::ready) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::fprintf(stderr, "FAILED: %s.%s: the call did not return within %llds (it hangs)\n",
                 info ? info->test_suite_name() : "?", info ? info->name() : "?",
                 static_cast<long long>(limit.count()));
    std::fflush(stderr);
    std::_Exit(1);
  }
  return result.get();
}

}  // namespace reservoir::testing
