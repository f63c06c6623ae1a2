#include "reservoir/cluster/run.hpp"

#include <optional>
#include <utility>

#include "cluster_core.hpp"

namespace reservoir::cluster::detail {

namespace {

// Hands a breaker permit back exactly once, even when fn throws (as run.cpp's guard).
class PermitGuard {
 public:
  PermitGuard(CircuitBreaker& breaker, CircuitBreaker::Permit permit) noexcept : breaker_(&breaker), permit_(permit) {}
  PermitGuard(const PermitGuard&) = delete;
  PermitGuard& operator=(const PermitGuard&) = delete;
  ~PermitGuard() {
    if (breaker_ != nullptr) breaker_->record_ignored(permit_);
  }
  void outcome(bool failed) noexcept {
    failed ? breaker_->record_failure(permit_) : breaker_->record_success(permit_);
    breaker_ = nullptr;
  }

 private:
  CircuitBreaker* breaker_;
  CircuitBreaker::Permit permit_;
};

}  // namespace

Status run_on_cluster(Cluster& cluster, const Intent& intent, const RunOptions& options, SourceLocation where,
                      reservoir::detail::FunctionRef<Status(Connection&, Attempt&)> fn) {
  ClusterCore& core = *cluster.core();
  const Clock& clock = core.clock();
  const Deadline deadline = options.deadline ? *options.deadline : Deadline::after(clock, options.timeout);
  RunOptions loop_options = options;
  loop_options.breaker = nullptr;  // each endpoint's own, per attempt
  Avoid tried;
  std::shared_ptr<Endpoint> last;  // keeps `tried`'s newest entry alive for the classification
  auto classify = [&](const Error& e) { return last ? last->connector->is_retryable(e) : e.retryable(); };
  auto wrong_role = [&](const Status& s) {
    return !s && intent.access == Access::write && core.roles() != nullptr && core.roles()->is_wrong_role(s.error());
  };
  auto once = [&](Attempt& a) -> Status {
    auto picked = core.acquire(a.deadline(), where, tried, intent);
    if (!picked) return std::move(picked).error();  // nothing was sent
    last = picked->endpoint;
    tried.push_back(last.get());
    auto permit = last->breaker->allow();
    if (!permit) return std::move(permit).error();  // the unused lease goes back as is
    PermitGuard guard(*last->breaker, *permit);
    a.set_request_sent(true);
    Connection& conn = RotatingConnector::inner(picked->lease.connection());
    const TimePoint start = clock.now();
    Status s = fn(conn, a);
    const Duration took = clock.now() - start;
    // Only faults of the endpoint count against it; a backend error means it answered (and so
    // did a replica refusing a write).
    const bool fault = !s && !wrong_role(s) && options.breaker_failures.contains(s.error().kind());
    guard.outcome(fault);
    core.record(*last, fault, fault ? std::nullopt : std::optional<Duration>(took));
    if (wrong_role(s)) {
      core.wrong_role(*last);
    } else if (!s && options.discard_on.contains(s.error().kind())) {
      picked->lease.discard();
    } else {
      core.observe(*last, conn);
    }
    return s;
  };
  auto attempt = [&](Attempt& a) -> Status {
    // A write a replica refused is sent on at once, not after a backoff: the cluster now knows
    // where it must go. At most once per endpoint (each is then known a replica).
    for (std::size_t reroutes = 0;; ++reroutes) {
      Status s = once(a);
      if (!wrong_role(s) || a.deadline().expired() || reroutes >= core.endpoint_count()) return s;
    }
  };
  return reservoir::detail::retry_loop(loop_options, deadline, classify, attempt);
}

}  // namespace reservoir::cluster::detail
