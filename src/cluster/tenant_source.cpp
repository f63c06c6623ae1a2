// The cluster as a tenant registry's lease source.
#include "reservoir/cluster/tenant_source.hpp"

#include "cluster_core.hpp"

namespace reservoir::cluster {

namespace {

class ClusterSource final : public tenant::LeaseSource {
 public:
  explicit ClusterSource(Cluster& cluster) noexcept : core_(cluster.core().get()) {}

  Result<tenant::SourceLease> acquire(Deadline deadline, const tenant::SourceRequest* request) override {
    const auto* routed = dynamic_cast<const RoutedRequest*>(request);
    auto lease = core_->acquire_lease(deadline, SourceLocation::current(), routed != nullptr ? routed->intent : Intent{});
    if (!lease) return std::move(lease).error();
    return tenant::SourceLease::of(std::move(lease).value());
  }
  Result<tenant::SourceCancel> acquire_async(Deadline deadline, std::shared_ptr<const tenant::SourceRequest> request,
                                             tenant::SourceCallback callback) override {
    const auto* routed = dynamic_cast<const RoutedRequest*>(request.get());
    auto pending = core_->acquire_async(
        deadline,
        [cb = std::move(callback)](Result<ClusterLease> r) {
          if (!r) return cb(std::move(r).error());
          cb(tenant::SourceLease::of(std::move(r).value()));
        },
        routed != nullptr ? routed->intent : Intent{}, SourceLocation::current());
    if (!pending) return std::move(pending).error();
    return tenant::SourceCancel([p = std::move(pending).value()]() mutable { return p.cancel(); });
  }
  std::size_t capacity() const noexcept override { return core_->capacity(); }
  const Clock& clock() const noexcept override { return core_->clock(); }

 private:
  // Not owned (the cluster outlives the source, as a pool does a pool_source()): the thread
  // that drops a tenant registry last never destroys the cluster's pools.
  detail::ClusterCore* core_;
};

}  // namespace

std::shared_ptr<tenant::LeaseSource> tenant_source(Cluster& cluster) { return std::make_shared<ClusterSource>(cluster); }

}  // namespace reservoir::cluster
