#include "reservoir/backoff.hpp"

#include <algorithm>

#include "format.hpp"

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

Status BackoffConfig::validate() const {
  using detail::duration_text;
  using detail::number_text;
  if (initial < microseconds(1) || initial > hours(1)) {
    return Error::invalid_config("backoff.initial", duration_text(initial), "1 us .. 1 h");
  }
  if (cap < initial || cap > hours(1)) {
    return Error::invalid_config("backoff.cap", duration_text(cap),
                                 "backoff.initial (" + duration_text(initial) + ") .. 1 h");
  }
  // `!(x >= lo)` also rejects NaN.
  if (!(multiplier >= 1.0 && multiplier <= 16.0)) {
    return Error::invalid_config("backoff.multiplier", number_text(multiplier), "1.0 .. 16.0");
  }
  if (!(jitter_fraction >= 0.0 && jitter_fraction <= 1.0)) {
    return Error::invalid_config("backoff.jitter_fraction", number_text(jitter_fraction), "0.0 .. 1.0");
  }
  if (static_cast<int>(jitter) < 0 || static_cast<int>(jitter) > static_cast<int>(Jitter::proportional)) {
    return Error::invalid_config("backoff.jitter", std::to_string(static_cast<int>(jitter)),
                                 "none, full, equal, decorrelated, proportional");
  }
  return {};
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
