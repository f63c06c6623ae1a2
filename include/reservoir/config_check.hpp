// reservoir/config_check.hpp — the one wording of an `invalid_config` error, and the range
// checks that build it, for every component's config (PoolConfig, sqlite::Config, the
// resilience configs):
//
//   invalid_config: <field>=<value>: allowed <what is allowed>
//
// e.g. `max_lifetime=999ms: allowed 0 (off) or 1s..1000h`, `max_size=0: allowed 1..4096`,
// `checkout_check=7: allowed fast, ping, deep`. Durations are written as format_duration()
// writes them (`999ms`, `1s`, `1h`), numbers in their shortest form.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "reservoir/duration.hpp"
#include "reservoir/error.hpp"

namespace reservoir::config_check {

// `<field>=<value>: allowed <allowed>`.
Error invalid(std::string_view field, std::string_view value, std::string_view allowed);

// A text value as it is shown: in double quotes, so an empty one is visible.
std::string quoted(std::string_view text);

// Shortest text of a number: `0.5`, `16`, `1e-05`.
std::string number_text(double v);

// lo <= v <= hi: `allowed lo..hi`.
Status count(std::string_view field, std::uint64_t v, std::uint64_t lo, std::uint64_t hi);
// lo <= v <= hi, NaN refused: `allowed lo..hi`.
Status number(std::string_view field, double v, double lo, double hi);

// Whether 0 means "off" for a duration field.
enum class ZeroIsOff : bool { no, yes };

// lo <= v <= hi (or v == 0 when zero is off): `allowed 1ms..1h`, `allowed 0 (off) or 1s..1h`.
// Compared without converting `v`, so milliseconds::max() is reported as itself.
template <class Rep, class Period, class LoRep, class LoPeriod, class HiRep, class HiPeriod>
Status duration(std::string_view field, std::chrono::duration<Rep, Period> v,
                std::chrono::duration<LoRep, LoPeriod> lo, std::chrono::duration<HiRep, HiPeriod> hi,
                ZeroIsOff off = ZeroIsOff::no) {
  if ((off == ZeroIsOff::yes && v.count() == 0) || (v >= lo && v <= hi)) return {};
  std::string allowed = off == ZeroIsOff::yes ? "0 (off) or " : "";
  allowed.append(format_duration(lo)).append("..").append(format_duration(hi));
  return invalid(field, format_duration(v), allowed);
}


// v >= lo, for a duration with no upper bound (a huge one is clamped where it is used):
// `allowed 1ms or more`.
template <class Rep, class Period, class LoRep, class LoPeriod>
Status duration_at_least(std::string_view field, std::chrono::duration<Rep, Period> v,
                         std::chrono::duration<LoRep, LoPeriod> lo) {
  if (v >= lo) return {};
  return invalid(field, format_duration(v), format_duration(lo) + " or more");
}

// `v` is one of `names`: `allowed fast, ping, deep` (an out-of-range value shows as its number).
template <class Enum, std::size_t N>
Status choice(std::string_view field, Enum v, const std::pair<std::string_view, Enum> (&names)[N]) {
  // Validation runs on every run() call: the success path allocates nothing.
  for (const auto& entry : names) {
    if (entry.second == v) return {};
  }
  std::string allowed;
  for (const auto& [text, value] : names) {
    if (!allowed.empty()) allowed += ", ";
    allowed.append(text);
  }
  return invalid(field, std::to_string(static_cast<std::underlying_type_t<Enum>>(v)), allowed);
}

}  // namespace reservoir::config_check
