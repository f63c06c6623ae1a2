// The cluster as a tenant registry's lease source.
#include "reservoir/cluster/tenant_source.hpp"

#include "cluster_core.hpp"

namespace reservoir::cluster {

namespace {

class ClusterSource final : public tenant::LeaseSource {
 public:
  explicit ClusterSource(Cluster& cluster) noexcept : core_(cluster.core()) {}

  Result<tenant::SourceLease> acquire(Deadline deadline, const tenant::SourceRequest* request) override {
    const auto* routed = dynamic_cast<const RoutedRequest*>(request);
    auto lease = core_->acquire_lease(deadline, SourceLocation::current(), routed != nullptr ? routed->intent : Intent{});
    if (!lease) return std::move(lease).error();
    return tenant::SourceLease::of(std::move(lease).value());
  }
  std::size_t capacity() const noexcept override { return core_->capacity(); }
  const Clock& clock() const noexcept override { return core_->clock(); }

 private:
  std::shared_ptr<detail::ClusterCore> core_;
};

}  // namespace

std::shared_ptr<tenant::LeaseSource> tenant_source(Cluster& cluster) { return std::make_shared<ClusterSource>(cluster); }

}  // namespace reservoir::cluster
