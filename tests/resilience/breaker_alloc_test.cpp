// The open-state rejection allocates its message and nothing else. Counts allocations with a
// replaced global operator new (this test binary only).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "reservoir/breaker.hpp"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

// g++ -O2 sees free() on memory from operator new; this pair is the allocator, so it matches.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace reservoir {
namespace {

TEST(BreakerAllocation, OpenRejectionAllocatesOnlyTheMessage) {
  ManualClock clock;
  auto breaker = std::move(CircuitBreaker::create("db.internal.example:5432", {.consecutive_failures = 1}, clock)).value();
  auto permit = breaker->allow();
  breaker->record_failure(*permit);
  ASSERT_EQ(breaker->state(), BreakerState::open);
  const long before = g_allocations.load();
  {
    auto r = breaker->allow();
    ASSERT_FALSE(r.ok());
  }
  EXPECT_EQ(g_allocations.load() - before, 1);
  const long before_check = g_allocations.load();
  EXPECT_FALSE(breaker->check().ok());
  EXPECT_EQ(g_allocations.load() - before_check, 1);
}

TEST(BreakerAllocation, ClosedAdmissionAndOutcomeDoNotAllocate) {
  ManualClock clock;
  auto breaker = std::move(CircuitBreaker::create("db:5432", {}, clock)).value();
  const long before = g_allocations.load();
  for (int i = 0; i < 100; ++i) {
    auto p = breaker->allow();
    breaker->record_success(*p);
  }
  EXPECT_EQ(g_allocations.load() - before, 0);
}

}  // namespace
}  // namespace reservoir
