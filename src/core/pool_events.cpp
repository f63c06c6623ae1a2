#include "reservoir/pool_events.hpp"

#include <chrono>
#include <utility>

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

namespace {

std::string ms(Duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

void quoted(std::string& out, std::string_view text) {
  out += '"';
  for (char c : text) {
    if (c == '\n') {
      out += "\\n";  // one event, one line
      continue;
    }
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

class FanOut final : public PoolListener {
 public:
  explicit FanOut(std::vector<std::shared_ptr<PoolListener>> listeners) : listeners_(std::move(listeners)) {}
  void on_event(const PoolEvent& event) noexcept override {
    for (const auto& l : listeners_) l->on_event(event);
  }

 private:
  std::vector<std::shared_ptr<PoolListener>> listeners_;
};

}  // namespace

std::string to_string(const PoolEvent& e) {
  std::string out = "pool=";
  out += e.pool;
  out += " endpoint=";
  out += e.endpoint;
  out += " event=";
  out += to_string(e.kind);
  switch (e.kind) {
    case PoolEventKind::connection_closed:
      out += " reason=";
      out += to_string(e.reason);
      break;
    case PoolEventKind::connection_created:
    case PoolEventKind::connect_failed:
      out += " took_ms=" + ms(e.duration);
      break;
    case PoolEventKind::check_failed:
      break;
    case PoolEventKind::acquire_slow:
    case PoolEventKind::operation_slow:
      out += " took_ms=" + ms(e.duration) + " queued_ms=" + ms(e.phases.queued) + " connect_ms=" + ms(e.phases.connect) +
             " check_ms=" + ms(e.phases.check);
      if (e.kind == PoolEventKind::operation_slow) {
        out += " call_ms=" + ms(e.call) + " backoff_ms=" + ms(e.backoff) + " attempts=" + std::to_string(e.attempts);
      }
      break;
    case PoolEventKind::leak_suspected:
      out += " held_ms=" + ms(e.duration);
      break;
  }
  if (e.where.line != 0) out += std::string(" at=") + e.where.file + ":" + std::to_string(e.where.line);
  if (e.error != nullptr) {
    out += " error=";
    quoted(out, e.error->message());
  }
  return out;
}

std::shared_ptr<PoolListener> fan_out(std::vector<std::shared_ptr<PoolListener>> listeners) {
  std::erase(listeners, nullptr);
  return std::make_shared<FanOut>(std::move(listeners));
}

}  // namespace reservoir
