#include "reservoir/breaker.hpp"

#include <algorithm>
#include <cmath>

#include "core/format.hpp"
#include "reservoir/config_check.hpp"
#include "reservoir/duration.hpp"

namespace reservoir {

using std::chrono::hours;
using std::chrono::milliseconds;

std::string_view to_string(BreakerState state) noexcept {
  switch (state) {
    case BreakerState::closed: return "closed";
    case BreakerState::open: return "open";
    case BreakerState::half_open: return "half_open";
  }
  return "unknown";
}

Status BreakerConfig::validate() const {
  using config_check::invalid;
  if (consecutive_failures > 100000) {
    return invalid("breaker.consecutive_failures", std::to_string(consecutive_failures), "0..100000 (0 = off)");
  }
  if (!(failure_rate >= 0.0 && failure_rate <= 1.0)) {  // also refuses NaN
    return invalid("breaker.failure_rate", config_check::number_text(failure_rate), "0..1 (0 = off)");
  }
  if (consecutive_failures == 0 && failure_rate == 0.0) {
    return invalid("breaker.consecutive_failures", "0", "1..100000 while breaker.failure_rate is 0 (off)");
  }
  if (Status s = config_check::count("breaker.window_calls", window_calls, 1, 10000); !s) return s;
  if (minimum_calls < 1 || minimum_calls > window_calls) {
    return invalid("breaker.minimum_calls", std::to_string(minimum_calls),
                   "1..breaker.window_calls (" + std::to_string(window_calls) + ")");
  }
  if (Status s = config_check::duration("breaker.open_time", open_time, milliseconds(1), hours(1)); !s) return s;
  if (Status s = config_check::number("breaker.open_time_multiplier", open_time_multiplier, 1.0, 100.0); !s) return s;
  if (max_open_time < open_time || max_open_time > hours(1)) {
    return invalid("breaker.max_open_time", format_duration(max_open_time),
                   "breaker.open_time (" + format_duration(open_time) + ").." + format_duration(hours(1)));
  }
  if (Status s = config_check::count("breaker.half_open_probes", half_open_probes, 1, 1000); !s) return s;
  return config_check::duration("breaker.refused_probe_interval", refused_probe_interval, milliseconds(1), hours(1),
                                config_check::ZeroIsOff::yes);
}

Result<std::shared_ptr<CircuitBreaker>> CircuitBreaker::create(std::string name, BreakerConfig config,
                                                               const Clock& clock) {
  if (auto s = config.validate(); !s) return std::move(s).error();
  return std::make_shared<CircuitBreaker>(Key{}, std::move(name), config, clock);
}

CircuitBreaker::CircuitBreaker(Key, std::string name, const BreakerConfig& config, const Clock& clock)
    : name_(std::move(name)), config_(config), clock_(clock), window_(config.window_calls, 0) {}

// ---- admission ------------------------------------------------------------------------------

Result<CircuitBreaker::Permit> CircuitBreaker::allow() { return admit_call(); }

Result<CircuitBreaker::Permit> CircuitBreaker::admit_call() {
  // Generation first: if the state moves in between, the permit is stale and its outcome is
  // ignored, which is what a call admitted by the old state deserves.
  const std::uint64_t generation = generation_.load(std::memory_order_acquire);
  const BreakerState fast = state_.load(std::memory_order_acquire);
  if (fast == BreakerState::closed) return Permit{generation, false};
  const TimePoint now = clock_.now();
  if (fast == BreakerState::open) {
    const TimePoint until{Duration(open_until_ns_.load(std::memory_order_acquire))};
    if (now < until) return reject_open(now, until);  // the sub-microsecond path: no lock
  }
  Admission admission;
  Transition t;
  {
    std::lock_guard lock(mu_);
    admission = admit_locked(now, t);
  }
  notify(t);
  switch (admission.verdict) {
    case Admission::reject_open: return reject_open(now, admission.open_until);
    case Admission::reject_probes: return reject_half_open();
    case Admission::admit: break;
  }
  return admission.permit;
}

CircuitBreaker::Admission CircuitBreaker::admit_locked(TimePoint now, Transition& t) {
  Admission a;
  a.open_until = TimePoint{Duration(open_until_ns_.load(std::memory_order_relaxed))};
  BreakerState st = state_.load(std::memory_order_relaxed);
  if (st == BreakerState::open && now >= a.open_until) {
    t = set_state_locked(BreakerState::half_open);
    st = BreakerState::half_open;
  }
  a.permit.generation = generation_.load(std::memory_order_relaxed);
  if (st == BreakerState::open) {
    a.verdict = Admission::reject_open;
  } else if (st == BreakerState::half_open) {
    if (probes_in_flight_ >= config_.half_open_probes) {
      a.verdict = Admission::reject_probes;
    } else {
      ++probes_in_flight_;
      ++stats_.probes;
      a.permit.probe = true;
    }
  }
  return a;
}

Status CircuitBreaker::check() const {
  const BreakerState st = state_.load(std::memory_order_acquire);
  if (st == BreakerState::closed) return {};
  if (st == BreakerState::open) {
    const TimePoint now = clock_.now();
    const TimePoint until{Duration(open_until_ns_.load(std::memory_order_acquire))};
    if (now < until) return reject_open(now, until);
    return {};  // a probe is due; allow() decides who gets it
  }
  std::lock_guard lock(mu_);
  if (state_.load(std::memory_order_relaxed) == BreakerState::half_open &&
      probes_in_flight_ >= config_.half_open_probes) {
    return reject_half_open();
  }
  return {};
}

Error CircuitBreaker::reject_open(TimePoint now, TimePoint until) const {
  rejected_.fetch_add(1, std::memory_order_relaxed);
  // One allocation: the message is built in place.
  std::string detail;
  detail.reserve(name_.size() + 80);
  detail.append(name_).append(": open after ");
  switch (trip_reason_.load(std::memory_order_relaxed)) {
    case TripReason::consecutive_failures:
      detail::append_int(detail, config_.consecutive_failures);
      detail.append(" consecutive failures");
      break;
    case TripReason::failure_rate:
      detail.append("failure rate >= ");
      detail::append_int(detail, std::llround(config_.failure_rate * 100.0));
      detail.append("% of the last ");
      detail::append_int(detail, config_.window_calls);
      detail.append(" calls");
      break;
    case TripReason::probe_failed:
      detail.append("a failed probe");
      break;
    case TripReason::none:
      detail.append("failures");
      break;
  }
  detail.append("; next probe in ");
  detail::append_int(detail, ceil_ms(until - now));
  detail.append(" ms");
  return Error::make(ErrorKind::circuit_open, std::move(detail));
}

Error CircuitBreaker::reject_half_open() const {
  rejected_.fetch_add(1, std::memory_order_relaxed);
  std::string detail;
  detail.reserve(name_.size() + 48);
  detail.append(name_).append(": half-open, ");
  detail::append_int(detail, config_.half_open_probes);
  detail.append(config_.half_open_probes == 1 ? " probe in flight" : " probes in flight");
  return Error::make(ErrorKind::circuit_open, std::move(detail));
}

// ---- outcomes -------------------------------------------------------------------------------

void CircuitBreaker::record_success(Permit permit) noexcept { record(permit, Outcome::success); }
void CircuitBreaker::record_failure(Permit permit) noexcept { record(permit, Outcome::failure); }
void CircuitBreaker::record_ignored(Permit permit) noexcept { record(permit, Outcome::ignored); }

// A connect's permit, reported back through the pool's GateTicket. Holds the breaker alive:
// a connect may outlast the last other reference to it.
class CircuitBreaker::Ticket final : public GateTicket::Sink {
 public:
  Ticket(std::shared_ptr<CircuitBreaker> breaker, Permit permit) noexcept
      : breaker_(std::move(breaker)), permit_(permit) {}
  void succeeded() noexcept override { breaker_->record_success(permit_); }
  // A timeout may be a blackholed host, where every probe costs a whole connect timeout; any
  // other connect failure came back at once.
  void failed(const Error& error) noexcept override {
    breaker_->record(permit_, error.kind() == ErrorKind::timeout ? Outcome::failure : Outcome::refused);
  }
  void ignored() noexcept override { breaker_->record_ignored(permit_); }

 private:
  std::shared_ptr<CircuitBreaker> breaker_;
  Permit permit_;
};

Result<GateTicket> CircuitBreaker::admit() {
  Result<Permit> permit = admit_call();
  if (!permit) return std::move(permit).error();
  return GateTicket(std::make_unique<Ticket>(shared_from_this(), permit.value()));
}

void CircuitBreaker::record(Permit permit, Outcome outcome) noexcept {
  // A success racing a trip may be counted here although the locked path would have found its
  // permit stale: it only adds to `successes`, the window is untouched either way.
  if (outcome == Outcome::success && !permit.probe && all_successes_.load(std::memory_order_acquire) &&
      permit.generation == generation_.load(std::memory_order_acquire)) {
    lock_free_successes_.add();
    return;
  }
  Transition t;
  {
    std::lock_guard lock(mu_);
    if (permit.generation != generation_.load(std::memory_order_relaxed)) return;  // stale
    switch (state_.load(std::memory_order_relaxed)) {
      case BreakerState::closed:
        if (!permit.probe) t = record_closed_locked(outcome);
        break;
      case BreakerState::open:
        break;
      case BreakerState::half_open: {
        if (!permit.probe) break;
        --probes_in_flight_;
        if (outcome == Outcome::success) {
          ++stats_.successes;
          t = close_locked();
        } else if (outcome != Outcome::ignored) {
          ++stats_.failures;
          t = open_locked(TripReason::probe_failed, outcome);
        }
        break;
      }
    }
  }
  notify(t);
}

CircuitBreaker::Transition CircuitBreaker::record_closed_locked(Outcome outcome) {
  if (outcome == Outcome::ignored) return {};
  const bool failed = outcome != Outcome::success;
  ++(failed ? stats_.failures : stats_.successes);
  consecutive_ = failed ? consecutive_ + 1 : 0;
  // The ring holds the last window_calls outcomes; the oldest drops out as a new one lands.
  if (window_count_ == window_.size()) {
    window_failures_ -= window_[window_next_];
  } else {
    ++window_count_;
  }
  window_[window_next_] = failed ? 1 : 0;
  window_failures_ += failed ? 1 : 0;
  window_next_ = (window_next_ + 1) % window_.size();
  all_successes_.store(window_count_ == window_.size() && window_failures_ == 0, std::memory_order_release);
  if (!failed) return {};
  if (config_.consecutive_failures != 0 && consecutive_ >= config_.consecutive_failures) {
    return open_locked(TripReason::consecutive_failures, outcome);
  }
  if (config_.failure_rate > 0.0 && window_count_ >= config_.minimum_calls &&
      static_cast<double>(window_failures_) >= config_.failure_rate * static_cast<double>(window_count_) - 1e-9) {
    return open_locked(TripReason::failure_rate, outcome);
  }
  return {};
}

CircuitBreaker::Transition CircuitBreaker::open_locked(TripReason reason, Outcome cause) {
  // Trips in a row (probe failures) stretch the open time, so a long outage costs fewer probes.
  double ns = static_cast<double>(config_.open_time.count());
  for (std::uint32_t i = 0; i < trips_in_row_ && ns < static_cast<double>(config_.max_open_time.count()); ++i) {
    ns *= config_.open_time_multiplier;
  }
  Duration open_for = std::min(config_.max_open_time, Duration(static_cast<Duration::rep>(ns)));
  // A refused connect is a free probe: try again soon. The growth still counts, so a timeout
  // later in the same outage gets the long open time it would have had.
  if (cause == Outcome::refused && config_.refused_probe_interval.count() != 0) {
    open_for = std::min(open_for, config_.refused_probe_interval);
  }
  ++trips_in_row_;
  ++stats_.trips;
  trip_reason_.store(reason, std::memory_order_relaxed);
  // Stored before the state so a lock-free reader that sees `open` sees this deadline too.
  open_until_ns_.store((clock_.now() + open_for).time_since_epoch().count(), std::memory_order_release);
  return set_state_locked(BreakerState::open);
}

CircuitBreaker::Transition CircuitBreaker::close_locked() {
  trips_in_row_ = 0;
  consecutive_ = 0;
  std::fill(window_.begin(), window_.end(), 0);
  window_next_ = window_count_ = window_failures_ = 0;
  return set_state_locked(BreakerState::closed);
}

CircuitBreaker::Transition CircuitBreaker::set_state_locked(BreakerState to) {
  const BreakerState from = state_.load(std::memory_order_relaxed);
  probes_in_flight_ = 0;
  all_successes_.store(false, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_release);
  state_.store(to, std::memory_order_release);
  return Transition{from, to, true};
}

// ---- observation ----------------------------------------------------------------------------

void CircuitBreaker::add_listener(Listener listener) {
  std::lock_guard lock(listeners_mu_);
  listeners_.push_back(std::move(listener));
}

void CircuitBreaker::notify(Transition t) noexcept {
  if (!t.happened) return;
  std::lock_guard lock(listeners_mu_);
  for (auto& listener : listeners_) {
    try {
      listener(t.from, t.to);
    } catch (...) {
      // A listener's failure must not break the breaker's caller; there is nowhere to report it.
    }
  }
}

Duration CircuitBreaker::time_until_probe() const noexcept {
  if (state() != BreakerState::open) return Duration::zero();
  const TimePoint until{Duration(open_until_ns_.load(std::memory_order_acquire))};
  const TimePoint now = clock_.now();
  return now < until ? until - now : Duration::zero();
}

BreakerStats CircuitBreaker::stats() const {
  std::lock_guard lock(mu_);
  BreakerStats s = stats_;
  s.successes += lock_free_successes_.sum();
  s.state = state_.load(std::memory_order_relaxed);
  s.rejected = rejected_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace reservoir
