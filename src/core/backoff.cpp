#include "reservoir/backoff.hpp"

#include <algorithm>

#include "reservoir/config_check.hpp"

namespace reservoir {

using std::chrono::hours;
using std::chrono::microseconds;

std::string_view to_string(Jitter jitter) noexcept {
  switch (jitter) {
    case Jitter::none: return "none";
    case Jitter::full: return "full";
    case Jitter::equal: return "equal";
    case Jitter::decorrelated: return "decorrelated";
    case Jitter::proportional: return "proportional";
  }
  return "unknown";
}

namespace {
// Every bound validate() checks, as plain comparisons (a NaN fails them): run() validates its
// policy on every call, and the named, formatted checks are only needed to explain a failure.
bool within_bounds(const BackoffConfig& c) noexcept {
  return c.initial >= microseconds(1) && c.initial <= hours(1) && c.cap >= c.initial && c.cap <= hours(1) &&
         c.multiplier >= 1.0 && c.multiplier <= 16.0 && c.jitter_fraction >= 0.0 && c.jitter_fraction <= 1.0 &&
         (c.jitter == Jitter::none || c.jitter == Jitter::full || c.jitter == Jitter::equal ||
          c.jitter == Jitter::decorrelated || c.jitter == Jitter::proportional);
}
}  // namespace

Status BackoffConfig::validate() const {
  if (within_bounds(*this)) return {};
  constexpr std::pair<std::string_view, Jitter> kJitters[] = {{"none", Jitter::none},
                                                              {"full", Jitter::full},
                                                              {"equal", Jitter::equal},
                                                              {"decorrelated", Jitter::decorrelated},
                                                              {"proportional", Jitter::proportional}};
  if (Status s = config_check::duration("backoff.initial", initial, microseconds(1), hours(1)); !s) return s;
  if (cap < initial || cap > hours(1)) {
    return config_check::invalid("backoff.cap", format_duration(cap),
                                 "backoff.initial (" + format_duration(initial) + ").." + format_duration(hours(1)));
  }
  if (Status s = config_check::number("backoff.multiplier", multiplier, 1.0, 16.0); !s) return s;
  if (Status s = config_check::number("backoff.jitter_fraction", jitter_fraction, 0.0, 1.0); !s) return s;
  return config_check::choice("backoff.jitter", jitter, kJitters);
}

Backoff::Backoff(const BackoffConfig& config) noexcept : config_(config) {
  config_.initial = std::max(config_.initial, Duration(1));
  config_.cap = std::max(config_.cap, config_.initial);
  if (!(config_.multiplier >= 1.0)) config_.multiplier = 1.0;
  if (!(config_.jitter_fraction >= 0.0)) config_.jitter_fraction = 0.0;
  config_.jitter_fraction = std::min(config_.jitter_fraction, 1.0);
  reset();
}

void Backoff::reset() noexcept {
  base_ns_ = static_cast<double>(config_.initial.count());
  previous_ = config_.initial;
  count_ = 0;
}

Duration Backoff::next(Random& random) noexcept {
  const Duration cap = config_.cap;
  const Duration exp = std::min(cap, Duration(static_cast<Duration::rep>(base_ns_)));
  // Grow in floating point but stop at the cap, so no retry count can overflow.
  base_ns_ = std::min(base_ns_ * config_.multiplier, static_cast<double>(cap.count()));
  ++count_;
  switch (config_.jitter) {
    case Jitter::none:
      return exp;
    case Jitter::full:
      return random.between(Duration::zero(), exp);
    case Jitter::equal:
      return exp / 2 + random.between(Duration::zero(), exp - exp / 2);
    case Jitter::decorrelated: {
      const Duration upper = previous_ > cap / 3 ? cap : previous_ * 3;
      previous_ = std::min(cap, random.between(config_.initial, upper));
      return previous_;
    }
    case Jitter::proportional: {
      const double f = config_.jitter_fraction;
      const double factor = 1.0 - f + 2.0 * f * random.uniform();
      const double ns = static_cast<double>(exp.count()) * factor;
      return std::min(cap, Duration(static_cast<Duration::rep>(ns)));
    }
  }
  return exp;
}

}  // namespace reservoir
