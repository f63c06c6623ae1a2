// StripedCounter: adds from many threads all count, once the threads are done.
#include "reservoir/striped_counter.hpp"

#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace reservoir {
namespace {

TEST(StripedCounter, EveryAddOfEveryThreadCounts) {
  StripedCounter c;
  EXPECT_EQ(c.sum(), 0u);
  constexpr int kThreads = 8;
  constexpr int kAdds = 20'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&c, t] {
      for (int i = 0; i < kAdds; ++i) c.add(t % 2 == 0 ? 1 : 2);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.sum(), static_cast<std::uint64_t>(kThreads / 2 * kAdds * 1 + kThreads / 2 * kAdds * 2));
  c.reset();
  EXPECT_EQ(c.sum(), 0u);
  c.add();
  EXPECT_EQ(c.sum(), 1u);
}

}  // namespace
}  // namespace reservoir
