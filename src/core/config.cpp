#include "reservoir/config.hpp"

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <string>

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

constexpr milliseconds kHour{60 * 60 * 1000};

std::string ms_text(milliseconds v) { return std::to_string(v.count()) + "ms"; }

Status check_range(std::string_view field, std::uint64_t v, std::uint64_t lo, std::uint64_t hi) {
  if (v >= lo && v <= hi) return {};
  return Error::invalid_config(field, std::to_string(v),
                               "must be in " + std::to_string(lo) + ".." + std::to_string(hi));
}

Status check_duration(std::string_view field, milliseconds v, milliseconds lo, milliseconds hi, bool zero_ok) {
  if ((zero_ok && v.count() == 0) || (v >= lo && v <= hi)) return {};
  std::string allowed = "must be in " + ms_text(lo) + ".." + ms_text(hi);
  if (zero_ok) allowed += " (or 0 = off)";
  return Error::invalid_config(field, ms_text(v), allowed);
}

Status check_fields(const PoolConfig& c) {
  if (c.name.empty()) return Error::invalid_config("name", "\"\"", "must not be empty");
  for (Status s : {check_range("max_size", c.max_size, 1, PoolConfig::kMaxPoolSize),
                   check_range("min_idle", c.min_idle, 0, PoolConfig::kMaxPoolSize),
                   check_range("max_waiters", c.max_waiters, 1, 1'000'000),
                   check_range("max_concurrent_connects", c.max_concurrent_connects, 1, PoolConfig::kMaxPoolSize),
                   check_duration("acquire_timeout", c.acquire_timeout, milliseconds(1), kHour, false),
                   check_duration("connect_timeout", c.connect_timeout, milliseconds(1), kHour, false),
                   check_duration("io_timeout", c.io_timeout, milliseconds(1), kHour, false),
                   check_duration("max_lifetime", c.max_lifetime, milliseconds(1000), 1000 * kHour, true),
                   check_duration("idle_timeout", c.idle_timeout, milliseconds(1), 1000 * kHour, true),
                   check_duration("validation_bypass", c.validation_bypass, milliseconds(0), kHour, true),
                   check_duration("keepalive_interval", c.keepalive_interval, milliseconds(1), kHour, true),
                   check_duration("leak_detection_threshold", c.leak_detection_threshold, milliseconds(1), 1000 * kHour, true),
                   check_duration("connect_backoff_initial", c.connect_backoff_initial, milliseconds(1), kHour, false),
                   check_duration("connect_backoff_max", c.connect_backoff_max, milliseconds(1), kHour, false)}) {
    if (!s) return s;
  }
  if (!(c.lifetime_jitter >= 0.0 && c.lifetime_jitter <= 0.5)) {
    return Error::invalid_config("lifetime_jitter", std::to_string(c.lifetime_jitter), "must be in 0.0..0.5");
  }
  return {};
}

Status check_combinations(const PoolConfig& c) {
  if (c.min_idle > c.max_size) {
    return Error::invalid_config("min_idle", std::to_string(c.min_idle),
                                 "must be <= max_size (" + std::to_string(c.max_size) + ")");
  }
  if (c.connect_backoff_max < c.connect_backoff_initial) {
    return Error::invalid_config("connect_backoff_max", ms_text(c.connect_backoff_max),
                                 "must be >= connect_backoff_initial (" + ms_text(c.connect_backoff_initial) + ")");
  }
  return {};
}

}  // namespace

Status PoolConfig::validate() const {
  if (Status s = check_fields(*this); !s) return s;
  return check_combinations(*this);
}

// ---- from_env ---------------------------------------------------------------------------

namespace {

struct EnvReader {
  std::string_view prefix;
  std::optional<Error> error;

  const char* get(std::string_view field, std::string& name) const {
    name.assign(prefix).append(field);
    return std::getenv(name.c_str());
  }
  void fail(const std::string& name, const char* value, std::string_view allowed) {
    if (!error) error = Error::invalid_config(name, std::string("\"") + value + "\"", allowed);
  }
  template <class Int>
  void integer(std::string_view field, Int& out) {
    std::string name;
    const char* v = get(field, name);
    if (v == nullptr) return;
    std::uint64_t parsed = 0;
    const char* end = v + std::char_traits<char>::length(v);
    auto [p, ec] = std::from_chars(v, end, parsed);
    if (ec != std::errc() || p != end || p == v) return fail(name, v, "expected a non-negative integer");
    out = static_cast<Int>(parsed);
  }
  void duration(std::string_view field, milliseconds& out) {
    std::uint64_t ms = static_cast<std::uint64_t>(out.count());
    integer(field, ms);
    out = milliseconds(static_cast<milliseconds::rep>(ms));
  }
  void boolean(std::string_view field, bool& out) {
    std::string name;
    const char* v = get(field, name);
    if (v == nullptr) return;
    const std::string_view s(v);
    if (s == "1" || s == "true" || s == "on" || s == "yes") out = true;
    else if (s == "0" || s == "false" || s == "off" || s == "no") out = false;
    else fail(name, v, "expected true/false, on/off, yes/no or 1/0");
  }
  void real(std::string_view field, double& out) {
    std::string name;
    const char* v = get(field, name);
    if (v == nullptr) return;
    char* end = nullptr;
    const double d = std::strtod(v, &end);
    if (*v == '\0' || *end != '\0') return fail(name, v, "expected a number");
    out = d;
  }
  template <class Enum, std::size_t N>
  void choice(std::string_view field, Enum& out, const std::pair<std::string_view, Enum> (&options)[N],
              std::string_view allowed) {
    std::string name;
    const char* v = get(field, name);
    if (v == nullptr) return;
    for (const auto& [text, value] : options) {
      if (text == v) { out = value; return; }
    }
    fail(name, v, allowed);
  }
};

constexpr std::pair<std::string_view, CheckDepth> kDepths[] = {
    {"fast", CheckDepth::fast}, {"ping", CheckDepth::ping}, {"deep", CheckDepth::deep}};
constexpr std::pair<std::string_view, InitMode> kModes[] = {
    {"fail_fast", InitMode::fail_fast}, {"wait", InitMode::wait}, {"lazy", InitMode::lazy}};

}  // namespace

Result<PoolConfig> PoolConfig::from_env(std::string_view prefix, PoolConfig base) {
  EnvReader env{prefix, std::nullopt};
  if (const char* name = std::getenv((std::string(prefix) + "NAME").c_str())) base.name = name;
  env.integer("MIN_IDLE", base.min_idle);
  env.integer("MAX_SIZE", base.max_size);
  env.duration("ACQUIRE_TIMEOUT_MS", base.acquire_timeout);
  env.duration("CONNECT_TIMEOUT_MS", base.connect_timeout);
  env.duration("IO_TIMEOUT_MS", base.io_timeout);
  env.duration("MAX_LIFETIME_MS", base.max_lifetime);
  env.real("LIFETIME_JITTER", base.lifetime_jitter);
  env.duration("IDLE_TIMEOUT_MS", base.idle_timeout);
  env.integer("MAX_USES", base.max_uses);
  env.boolean("VALIDATE_ON_CHECKOUT", base.validate_on_checkout);
  env.duration("VALIDATION_BYPASS_MS", base.validation_bypass);
  env.choice("CHECKOUT_CHECK", base.checkout_check, kDepths, "expected fast, ping or deep");
  env.duration("KEEPALIVE_INTERVAL_MS", base.keepalive_interval);
  env.choice("KEEPALIVE_CHECK", base.keepalive_check, kDepths, "expected fast, ping or deep");
  env.duration("LEAK_DETECTION_THRESHOLD_MS", base.leak_detection_threshold);
  env.integer("MAX_CONCURRENT_CONNECTS", base.max_concurrent_connects);
  env.integer("MAX_WAITERS", base.max_waiters);
  env.duration("CONNECT_BACKOFF_INITIAL_MS", base.connect_backoff_initial);
  env.duration("CONNECT_BACKOFF_MAX_MS", base.connect_backoff_max);
  env.choice("INIT_MODE", base.init_mode, kModes, "expected fail_fast, wait or lazy");
  if (env.error) return *std::move(env.error);
  if (Status s = base.validate(); !s) {
    // Name the variable, not just the field, so the user knows what to fix.
    const Error& e = s.error();
    const std::string& field = e.code();
    std::string var(prefix);
    for (char ch : field) var += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return Error(ErrorKind::invalid_config, e.detail() + " (from environment, see " + var + "*)", false, field);
  }
  return base;
}

Result<PoolConfig> PoolConfig::from_env(std::string_view prefix) { return from_env(prefix, PoolConfig{}); }

}  // namespace reservoir
