#include "reservoir/admin/events.hpp"

#include <chrono>
#include <regex>

namespace reservoir::admin {
namespace {

double ms(Duration d) { return static_cast<double>(d.count()) / 1e6; }

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Routine recycling is not news; a broken or unhealthy connection is.
bool worth_keeping(const PoolEvent& e) {
  switch (e.kind) {
    case PoolEventKind::connection_created: return false;
    case PoolEventKind::connection_closed:
      return e.reason == CloseReason::broken || e.reason == CloseReason::health;
    default: return true;
  }
}

}  // namespace

std::string redact_secrets(std::string_view text) {
  // key=value conninfo words (password, sslpassword, passfile keeps its path: not a secret)
  // and the password part of user:password@host in a URL.
  static const std::regex kv(R"(((?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&;]+))", std::regex::icase);
  static const std::regex url(R"(([a-zA-Z][a-zA-Z0-9+.-]*://[^/:@\s]*:)[^@/\s]*@)");
  std::string s = std::regex_replace(std::string(text), kv, "$1***");
  return std::regex_replace(s, url, "$1***@");
}

void EventRing::on_event(const PoolEvent& e) noexcept {
  try {
    if (e.kind == PoolEventKind::connection_created || e.kind == PoolEventKind::connect_failed) {
      std::lock_guard g(mu_);
      auto it = connects_.find(e.pool);
      if (it == connects_.end()) it = connects_.emplace(std::string(e.pool), ConnectOutcome{}).first;
      it->second.failed = e.kind == PoolEventKind::connect_failed;
      it->second.error = e.error != nullptr ? redact_secrets(e.error->message()) : std::string();
    }
    if (!worth_keeping(e)) return;
    EventRecord r;
    r.kind = std::string(to_string(e.kind));
    r.pool = redact_secrets(e.pool);
    r.endpoint = redact_secrets(e.endpoint);
    if (e.kind == PoolEventKind::connection_closed) r.reason = std::string(to_string(e.reason));
    r.duration_ms = ms(e.duration);
    r.queued_ms = ms(e.phases.queued);
    r.connect_ms = ms(e.phases.connect);
    r.check_ms = ms(e.phases.check);
    r.call_ms = ms(e.call);
    r.backoff_ms = ms(e.backoff);
    r.attempts = e.attempts;
    if (e.error != nullptr) r.error = redact_secrets(e.error->message());
    if (e.where.line != 0) r.where = std::string(e.where.file) + ":" + std::to_string(e.where.line);
    push(std::move(r));
  } catch (...) {
    // Out of memory while copying an event: dropping it is the only non-blocking answer.
  }
}

void EventRing::on_breaker_transition(std::string_view endpoint, BreakerState from, BreakerState to) noexcept {
  try {
    EventRecord r;
    r.kind = "breaker_transition";
    r.endpoint = redact_secrets(endpoint);
    r.reason = std::string(to_string(from)) + "->" + std::string(to_string(to));
    push(std::move(r));
  } catch (...) {
  }
}

void EventRing::watch(CircuitBreaker& breaker) {
  std::weak_ptr<EventRing> self = weak_from_this();
  breaker.add_listener([self, name = breaker.name()](BreakerState from, BreakerState to) {
    if (auto ring = self.lock()) ring->on_breaker_transition(name, from, to);
  });
}

void EventRing::push(EventRecord r) {
  r.unix_ms = unix_ms_now();
  std::lock_guard g(mu_);
  r.seq = next_seq_++;
  if (ring_.size() == capacity_) ring_.pop_front();
  ring_.push_back(std::move(r));
}

std::vector<EventRecord> EventRing::recent(std::uint64_t after_seq) const {
  std::lock_guard g(mu_);
  std::vector<EventRecord> out;
  for (const auto& r : ring_)
    if (r.seq > after_seq) out.push_back(r);
  return out;
}

bool EventRing::last_connect(std::string_view pool, ConnectOutcome& out) const {
  std::lock_guard g(mu_);
  auto it = connects_.find(pool);
  if (it == connects_.end()) return false;
  out = it->second;
  return true;
}

}  // namespace reservoir::admin
