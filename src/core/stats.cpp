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
  std::string out;
  out.reserve(640);
  auto field = [&](std::string_view name, std::uint64_t value, const char*) {
    if (!out.empty()) out += ' ';
    out.append(name).append("=").append(std::to_string(value));
  };
  for_each_gauge(field);
  for_each_counter(field);
  auto us = [](Duration d) { return static_cast<double>(d.count()) / 1000.0; };
  char buf[256];
  std::snprintf(buf, sizeof buf,
                " recycled=%llu reuse_ratio=%.4f health_pass_rate=%.4f acquisition_success_rate=%.4f "
                "acquire_wait_us{avg=%.1f p50=%.1f p95=%.1f p99=%.1f max=%.1f}",
                static_cast<unsigned long long>(recycled()), reuse_ratio(), health_pass_rate(),
                acquisition_success_rate(), us(acquire_wait.avg), us(acquire_wait.p50), us(acquire_wait.p95),
                us(acquire_wait.p99), us(acquire_wait.max));
  return out + buf;
}

}  // namespace reservoir
