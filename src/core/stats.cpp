#include "reservoir/stats.hpp"

#include <cstdio>

namespace reservoir {

std::string_view to_string(CloseReason reason) noexcept {
  switch (reason) {
    case CloseReason::lifetime: return "lifetime";
    case CloseReason::idle: return "idle";
    case CloseReason::uses: return "uses";
    case CloseReason::broken: return "broken";
    case CloseReason::health: return "health";
    case CloseReason::shrink: return "shrink";
    case CloseReason::shutdown: return "shutdown";
    case CloseReason::kCount: break;
  }
  return "unknown";
}

std::uint64_t PoolStats::recycled() const noexcept {
  return closed_by[static_cast<std::size_t>(CloseReason::lifetime)] +
         closed_by[static_cast<std::size_t>(CloseReason::idle)] + closed_by[static_cast<std::size_t>(CloseReason::uses)];
}

double PoolStats::reuse_ratio() const noexcept {
  if (acquires == 0) return 0.0;
  return created >= acquires ? 0.0 : 1.0 - static_cast<double>(created) / static_cast<double>(acquires);
}

double PoolStats::health_pass_rate() const noexcept {
  if (health_checks == 0) return 1.0;
  return 1.0 - static_cast<double>(health_failures) / static_cast<double>(health_checks);
}

double PoolStats::acquisition_success_rate() const noexcept {
  const std::uint64_t calls = acquires + failed_acquires;
  return calls == 0 ? 1.0 : static_cast<double>(acquires) / static_cast<double>(calls);
}

std::string PoolStats::to_string() const {
  auto us = [](Duration d) { return static_cast<double>(d.count()) / 1000.0; };
  char buf[768];
  std::snprintf(buf, sizeof buf,
                "size=%llu idle=%llu in_use=%llu connecting=%llu waiting=%llu max_size=%llu acquires=%llu "
                "releases=%llu timeouts=%llu rejected=%llu failed_acquires=%llu created=%llu failed_connects=%llu "
                "closed=%llu recycled=%llu health_checks=%llu health_failures=%llu leaks=%llu reuse_ratio=%.4f "
                "health_pass_rate=%.4f acquisition_success_rate=%.4f acquire_wait_us{avg=%.1f p50=%.1f p95=%.1f "
                "p99=%.1f max=%.1f}",
                (unsigned long long)size, (unsigned long long)idle, (unsigned long long)in_use,
                (unsigned long long)connecting, (unsigned long long)waiting, (unsigned long long)max_size,
                (unsigned long long)acquires, (unsigned long long)releases, (unsigned long long)timeouts,
                (unsigned long long)rejected, (unsigned long long)failed_acquires, (unsigned long long)created,
                (unsigned long long)failed_connects, (unsigned long long)closed, (unsigned long long)recycled(),
                (unsigned long long)health_checks, (unsigned long long)health_failures,
                (unsigned long long)leaks_reported, reuse_ratio(), health_pass_rate(), acquisition_success_rate(),
                us(acquire_wait.avg), us(acquire_wait.p50), us(acquire_wait.p95), us(acquire_wait.p99),
                us(acquire_wait.max));
  return buf;
}

}  // namespace reservoir
