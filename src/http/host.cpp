#include "host.hpp"

#include <algorithm>
#include <boost/url/parse.hpp>
#include <charconv>
#include <chrono>

namespace reservoir::http::detail {
namespace {

void store_min(std::atomic<std::int64_t>& a, std::int64_t v) noexcept {
  std::int64_t cur = a.load(std::memory_order_relaxed);
  while (v < cur && !a.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
  }
}

void store_max(std::atomic<std::int64_t>& a, std::int64_t v) noexcept {
  std::int64_t cur = a.load(std::memory_order_relaxed);
  while (v > cur && !a.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
  }
}

long long ms(Duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

Error bad_url(std::string_view url, std::string_view why) {
  // Built with append: g++ 12 -O3 warns (-Wrestrict, a false positive) on "\"" + std::string.
  std::string quoted;
  quoted.append("\"").append(redact_url(url)).append("\"");
  return Error::invalid_config("url", quoted, why);
}

}  // namespace

std::string redact_url(std::string_view url) {
  // Works on strings Boost.URL rejects too: the userinfo is what lies between "//" and the
  // last '@' of the authority (which ends at the first '/', '?' or '#').
  std::string out(url);
  auto start = out.find("//");
  if (start == std::string::npos) return out;
  start += 2;
  auto end = out.find_first_of("/?#", start);
  if (end == std::string::npos) end = out.size();
  auto at = out.rfind('@', end);
  if (at == std::string::npos || at < start) return out;
  auto colon = out.find(':', start);
  if (colon == std::string::npos || colon > at) return out;
  out.replace(colon + 1, at - colon - 1, "***");
  return out;
}

Result<Origin> parse_origin(std::string_view url) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) return bad_url(url, "expected an absolute http:// or https:// URL (" + parsed.error().message() + ")");
  const auto& u = *parsed;
  Origin o;
  if (u.scheme_id() == boost::urls::scheme::http) o.tls = false;
  else if (u.scheme_id() == boost::urls::scheme::https) o.tls = true;
  else return bad_url(url, "the scheme must be http or https");
  if (!u.has_authority() || u.encoded_host().empty()) return bad_url(url, "a host is required");
  if (u.has_userinfo()) return bad_url(url, "userinfo is not supported; send credentials in a header");
  if (!u.encoded_path().empty() && u.encoded_path() != "/") return bad_url(url, "an origin takes no path");
  if (u.has_query() || u.has_fragment()) return bad_url(url, "an origin takes no query or fragment");
  o.host = u.host_type() == boost::urls::host_type::ipv6 ? std::string(u.host_address()) : std::string(u.host());
  std::uint16_t default_port = o.tls ? 443 : 80;
  if (u.has_port()) {
    // port_number() wraps values above 65535; read the digits instead.
    auto digits = u.port();
    unsigned long port = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || port == 0 || port > 65535) {
      return bad_url(url, "the port must be 1..65535");
    }
    o.port = static_cast<std::uint16_t>(port);
  } else {
    o.port = default_port;
  }
  std::string host_part(u.encoded_host_and_port().substr(0, u.encoded_host().size()));
  if (u.host_type() == boost::urls::host_type::ipv6) host_part = "[" + o.host + "]";
  o.endpoint = host_part + ":" + std::to_string(o.port);
  o.host_header = o.port == default_port ? host_part : o.endpoint;
  return o;
}

Host::Host(Origin origin, ConnectorOptions options, std::shared_ptr<boost::asio::ssl::context> tls)
    : origin_(std::move(origin)),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : &SteadyClock::instance()),
      tls_(std::move(tls)) {}

void Host::note_closed_idle(Duration idle) noexcept { store_min(min_closed_ns_, idle.count()); }

void Host::note_survived_idle(Duration idle) noexcept { store_max(max_survived_ns_, idle.count()); }

void Host::note_keepalive_hint(Duration timeout) noexcept { hint_ns_.store(timeout.count(), std::memory_order_relaxed); }

std::optional<Duration> Host::idle_estimate() const noexcept {
  std::int64_t hint = hint_ns_.load(std::memory_order_relaxed);
  std::int64_t closed = min_closed_ns_.load(std::memory_order_relaxed);
  std::int64_t best = std::min(hint, closed);
  if (best == kNone) return std::nullopt;
  return Duration(best);
}

std::optional<Duration> Host::retire_after() const noexcept {
  auto estimate = idle_estimate();
  if (!estimate) return std::nullopt;
  Duration survived(max_survived_ns_.load(std::memory_order_relaxed));
  Duration limit = *estimate - options_.idle_margin;
  // A close is seen some time after it happened, so the estimate is an upper bound; an idle
  // time a reuse survived is a lower bound the retirement need not go under.
  if (survived < *estimate) limit = std::max(limit, survived);
  return std::max(limit, Duration::zero());
}

void Host::close_gate(TimePoint until, int status) noexcept {
  store_max(not_before_ns_, until.time_since_epoch().count());
  gate_status_.store(status, std::memory_order_relaxed);
}

std::optional<TimePoint> Host::gate() const noexcept {
  auto ns = not_before_ns_.load(std::memory_order_relaxed);
  if (ns == kNeverClosed) return std::nullopt;  // no clock read on the common path
  TimePoint t{Duration(ns)};
  if (t <= clock_->now()) return std::nullopt;
  return t;
}

Result<std::optional<TimePoint>> Host::gate_until(Deadline deadline, std::string_view what) const {
  auto until = gate();
  if (!until) return std::optional<TimePoint>();
  if (*until > deadline.when()) {
    int status = gate_status_.load(std::memory_order_relaxed);
    auto wait = *until - clock_->now();
    return Error(ErrorKind::backend,
                 origin_.endpoint + ": " + std::string(what) + ": " + std::to_string(status) +
                     " Retry-After: not before " + std::to_string(ms(wait)) + " ms from now, past this call's deadline (" +
                     std::to_string(ms(deadline.remaining())) + " ms left)",
                 false, std::to_string(status));
  }
  return until;
}

}  // namespace reservoir::http::detail
