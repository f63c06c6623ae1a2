#include "reservoir/pool_events.hpp"

namespace reservoir {

std::string_view to_string(PoolEventKind kind) noexcept {
  switch (kind) {
    case PoolEventKind::connection_created: return "connection_created";
    case PoolEventKind::connect_failed: return "connect_failed";
    case PoolEventKind::connection_closed: return "connection_closed";
    case PoolEventKind::check_failed: return "check_failed";
    case PoolEventKind::acquire_slow: return "acquire_slow";
    case PoolEventKind::leak_suspected: return "leak_suspected";
    case PoolEventKind::operation_slow: return "operation_slow";
  }
  return "unknown";
}

}  // namespace reservoir
