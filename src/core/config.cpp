#include "reservoir/config.hpp"

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <string>

#include "reservoir/config_check.hpp"
#include "reservoir/duration.hpp"

namespace reservoir {

std::string_view to_string(InitMode mode) noexcept {
  switch (mode) {
    case InitMode::fail_fast: return "fail_fast";
    case InitMode::wait: return "wait";
    case InitMode::lazy: return "lazy";
  }
  return "unknown";
}

std::string_view to_string(CheckDepth depth) noexcept {
  switch (depth) {
    case CheckDepth::fast: return "fast";
    case CheckDepth::ping: return "ping";
    case CheckDepth::deep: return "deep";
  }
  return "unknown";
}

namespace {

using config_check::ZeroIsOff;
constexpr milliseconds kHour{60 * 60 * 1000};

// Each range is written once and read by validate() and by from_env(), which checks a variable
// against its field's range before converting it, so nothing can wrap on the way.
struct CountRule {
  std::string_view field, env;
  std::size_t PoolConfig::*member;
  std::uint64_t lo, hi;
};
constexpr CountRule kCounts[] = {
    {"min_idle", "MIN_IDLE", &PoolConfig::min_idle, 0, PoolConfig::kMaxPoolSize},
    {"max_size", "MAX_SIZE", &PoolConfig::max_size, 1, PoolConfig::kMaxPoolSize},
    {"max_concurrent_connects", "MAX_CONCURRENT_CONNECTS", &PoolConfig::max_concurrent_connects, 1,
     PoolConfig::kMaxPoolSize},
    {"max_waiters", "MAX_WAITERS", &PoolConfig::max_waiters, 1, 1'000'000},
};

struct DurationRule {
  std::string_view field, env;
  milliseconds PoolConfig::*member;
  milliseconds lo, hi;
  ZeroIsOff off;
};
constexpr DurationRule kDurations[] = {
    {"acquire_timeout", "ACQUIRE_TIMEOUT_MS", &PoolConfig::acquire_timeout, milliseconds(1), kHour, ZeroIsOff::no},
    {"connect_timeout", "CONNECT_TIMEOUT_MS", &PoolConfig::connect_timeout, milliseconds(1), kHour, ZeroIsOff::no},
    {"io_timeout", "IO_TIMEOUT_MS", &PoolConfig::io_timeout, milliseconds(1), kHour, ZeroIsOff::no},
    {"max_lifetime", "MAX_LIFETIME_MS", &PoolConfig::max_lifetime, milliseconds(1000), 1000 * kHour, ZeroIsOff::yes},
    {"idle_timeout", "IDLE_TIMEOUT_MS", &PoolConfig::idle_timeout, milliseconds(1), 1000 * kHour, ZeroIsOff::yes},
    {"validation_bypass", "VALIDATION_BYPASS_MS", &PoolConfig::validation_bypass, milliseconds(0), kHour, ZeroIsOff::no},
    {"keepalive_interval", "KEEPALIVE_INTERVAL_MS", &PoolConfig::keepalive_interval, milliseconds(1), kHour,
     ZeroIsOff::yes},
    {"leak_detection_threshold", "LEAK_DETECTION_THRESHOLD_MS", &PoolConfig::leak_detection_threshold,
     milliseconds(1), 1000 * kHour, ZeroIsOff::yes},
    {"connect_backoff_initial", "CONNECT_BACKOFF_INITIAL_MS", &PoolConfig::connect_backoff_initial, milliseconds(1),
     kHour, ZeroIsOff::no},
    {"connect_backoff_max", "CONNECT_BACKOFF_MAX_MS", &PoolConfig::connect_backoff_max, milliseconds(1), kHour,
     ZeroIsOff::no},
    {"connect_backoff_refused_max", "CONNECT_BACKOFF_REFUSED_MAX_MS", &PoolConfig::connect_backoff_refused_max,
     milliseconds(1), kHour, ZeroIsOff::no},
    {"slow_acquire_threshold", "SLOW_ACQUIRE_THRESHOLD_MS", &PoolConfig::slow_acquire_threshold, milliseconds(1),
     kHour, ZeroIsOff::yes},
    {"queue_bypass", "QUEUE_BYPASS_MS", &PoolConfig::queue_bypass, milliseconds(1), kHour, ZeroIsOff::yes},
};

constexpr double kMaxJitter = 0.5;

constexpr std::pair<std::string_view, CheckDepth> kDepths[] = {
    {"fast", CheckDepth::fast}, {"ping", CheckDepth::ping}, {"deep", CheckDepth::deep}};
constexpr std::pair<std::string_view, InitMode> kModes[] = {
    {"fail_fast", InitMode::fail_fast}, {"wait", InitMode::wait}, {"lazy", InitMode::lazy}};

Status check_fields(const PoolConfig& c) {
  if (c.name.empty()) return config_check::invalid("name", "\"\"", "a non-empty name");
  for (const CountRule& r : kCounts) {
    if (Status s = config_check::count(r.field, c.*r.member, r.lo, r.hi); !s) return s;
  }
  for (const DurationRule& r : kDurations) {
    if (Status s = config_check::duration(r.field, c.*r.member, r.lo, r.hi, r.off); !s) return s;
  }
  for (Status s : {config_check::number("lifetime_jitter", c.lifetime_jitter, 0.0, kMaxJitter),
                   config_check::choice("checkout_check", c.checkout_check, kDepths),
                   config_check::choice("keepalive_check", c.keepalive_check, kDepths),
                   config_check::choice("init_mode", c.init_mode, kModes)}) {
    if (!s) return s;
  }
  return {};
}

// How the combination checks name a field and show a value: validate() by the field and a
// readable duration; from_env() by the variable and in its unit (a set variable's text as given).
struct Naming {
  std::string_view prefix;
  const std::map<std::string_view, std::string>* env = nullptr;  // null: validate()

  std::string name(std::string_view field, std::string_view var) const {
    return env ? std::string(prefix) + std::string(var) : std::string(field);
  }
  std::string value(std::string_view var, std::uint64_t v) const {
    if (env && env->count(var)) return "\"" + env->at(var) + "\"";
    return std::to_string(v);
  }
  std::string value(std::string_view var, milliseconds v) const {
    if (env && env->count(var)) return "\"" + env->at(var) + "\"";
    return env ? std::to_string(v.count()) : format_duration(v);
  }
  std::string limit(milliseconds v) const { return env ? std::to_string(v.count()) + " (ms)" : format_duration(v); }
  std::string plain(milliseconds v) const { return env ? std::to_string(v.count()) : format_duration(v); }
};

Status check_combinations(const PoolConfig& c, const Naming& n) {
  if (c.min_idle > c.max_size) {
    return config_check::invalid(n.name("min_idle", "MIN_IDLE"), n.value("MIN_IDLE", c.min_idle),
                                 "0.." + n.name("max_size", "MAX_SIZE") + " (" + std::to_string(c.max_size) + ")");
  }
  if (c.connect_backoff_max < c.connect_backoff_initial) {
    return config_check::invalid(n.name("connect_backoff_max", "CONNECT_BACKOFF_MAX_MS"),
                                 n.value("CONNECT_BACKOFF_MAX_MS", c.connect_backoff_max),
                                 n.name("connect_backoff_initial", "CONNECT_BACKOFF_INITIAL_MS") + " (" +
                                     n.plain(c.connect_backoff_initial) + ").." + n.limit(kHour));
  }
  return {};
}

}  // namespace

Status PoolConfig::validate() const {
  if (Status s = check_fields(*this); !s) return s;
  return check_combinations(*this, Naming{});
}

// ---- from_env ---------------------------------------------------------------------------

namespace {

// One rule for every variable: the value exactly as the field takes it, no spaces around it
// (std::from_chars refuses them, and a sign), numbers checked against the field's range before
// they are converted. The first problem is kept and names the variable, its text and what is
// allowed.
struct EnvReader {
  std::string_view prefix;
  std::optional<Error> error;
  std::map<std::string_view, std::string> texts;  // the variables that were set, and their text

  const char* get(std::string_view env) {
    std::string name(prefix);
    name.append(env);
    const char* v = std::getenv(name.c_str());
    if (v != nullptr) texts[env] = v;
    return v;
  }
  void fail(std::string_view env, const char* value, std::string_view allowed) {
    if (!error) error = config_check::invalid(std::string(prefix) + std::string(env), std::string("\"") + value + "\"", allowed);
  }
  // The whole of `v` as an unsigned integer in lo..hi, or nullopt.
  static std::optional<std::uint64_t> parse_count(const char* v, std::uint64_t lo, std::uint64_t hi) {
    std::uint64_t parsed = 0;
    const char* end = v + std::char_traits<char>::length(v);
    auto [p, ec] = std::from_chars(v, end, parsed);  // out of range: errc::result_out_of_range
    if (ec != std::errc() || p != end || p == v || parsed < lo || parsed > hi) return std::nullopt;
    return parsed;
  }
  void count(const CountRule& r, PoolConfig& c) {
    const char* v = get(r.env);
    if (v == nullptr) return;
    if (auto n = parse_count(v, r.lo, r.hi)) c.*r.member = static_cast<std::size_t>(*n);
    else fail(r.env, v, "an integer " + std::to_string(r.lo) + ".." + std::to_string(r.hi));
  }
  void duration(const DurationRule& r, PoolConfig& c) {
    const char* v = get(r.env);
    if (v == nullptr) return;
    const auto lo = static_cast<std::uint64_t>(r.lo.count()), hi = static_cast<std::uint64_t>(r.hi.count());
    auto n = parse_count(v, r.off == ZeroIsOff::yes ? 0 : lo, hi);
    if (n && (*n >= lo || *n == 0)) {
      c.*r.member = milliseconds(static_cast<milliseconds::rep>(*n));
      return;
    }
    fail(r.env, v,
         std::string("an integer ") + (r.off == ZeroIsOff::yes ? "0 (off) or " : "") + std::to_string(lo) + ".." +
             std::to_string(hi) + " (ms)");
  }
  void uint64(std::string_view env, std::uint64_t& out) {
    const char* v = get(env);
    if (v == nullptr) return;
    if (auto n = parse_count(v, 0, std::numeric_limits<std::uint64_t>::max())) out = *n;
    else fail(env, v, "an integer 0..18446744073709551615");
  }
  void number(std::string_view env, double& out, double lo, double hi) {
    const char* v = get(env);
    if (v == nullptr) return;
    double d = 0;
    const char* end = v + std::char_traits<char>::length(v);
    auto [p, ec] = std::from_chars(v, end, d);
    if (ec == std::errc() && p == end && p != v && d >= lo && d <= hi) {
      out = d;
      return;
    }
    fail(env, v, "a number " + config_check::number_text(lo) + ".." + config_check::number_text(hi));
  }
  void boolean(std::string_view env, bool& out) {
    const char* v = get(env);
    if (v == nullptr) return;
    const std::string_view s(v);
    if (s == "1" || s == "true" || s == "on" || s == "yes") out = true;
    else if (s == "0" || s == "false" || s == "off" || s == "no") out = false;
    else fail(env, v, "true/false, on/off, yes/no, 1/0");
  }
  template <class Enum, std::size_t N>
  void choice(std::string_view env, Enum& out, const std::pair<std::string_view, Enum> (&options)[N]) {
    const char* v = get(env);
    if (v == nullptr) return;
    std::string allowed;
    for (const auto& [text, value] : options) {
      if (text == v) { out = value; return; }
      allowed.append(allowed.empty() ? "" : ", ").append(text);
    }
    fail(env, v, allowed);
  }
  void name(std::string_view env, std::string& out) {
    const char* v = get(env);
    if (v == nullptr) return;
    const std::string_view s(v);
    const bool spaced = !s.empty() && (std::isspace(static_cast<unsigned char>(s.front())) ||
                                       std::isspace(static_cast<unsigned char>(s.back())));
    if (s.empty() || spaced) return fail(env, v, "a non-empty name without spaces around it");
    out = s;
  }
};

}  // namespace

Result<PoolConfig> PoolConfig::from_env(std::string_view prefix, PoolConfig base) {
  EnvReader env{prefix, std::nullopt, {}};
  env.name("NAME", base.name);
  for (const CountRule& r : kCounts) env.count(r, base);
  for (const DurationRule& r : kDurations) env.duration(r, base);
  env.number("LIFETIME_JITTER", base.lifetime_jitter, 0.0, kMaxJitter);
  env.uint64("MAX_USES", base.max_uses);
  env.boolean("VALIDATE_ON_CHECKOUT", base.validate_on_checkout);
  env.choice("CHECKOUT_CHECK", base.checkout_check, kDepths);
  env.choice("KEEPALIVE_CHECK", base.keepalive_check, kDepths);
  env.choice("INIT_MODE", base.init_mode, kModes);
  if (env.error) return *std::move(env.error);
  if (Status s = check_combinations(base, Naming{prefix, &env.texts}); !s) return std::move(s).error();
  // The fields from `base` itself (not from a variable) are checked as validate() would.
  if (Status s = base.validate(); !s) return std::move(s).error();
  return base;
}

Result<PoolConfig> PoolConfig::from_env(std::string_view prefix) { return from_env(prefix, PoolConfig{}); }

}  // namespace reservoir
