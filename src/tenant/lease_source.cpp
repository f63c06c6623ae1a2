#include "reservoir/tenant/lease_source.hpp"

namespace reservoir::tenant {

namespace {

class PoolSource final : public LeaseSource {
 public:
  explicit PoolSource(Pool& pool) noexcept : pool_(pool) {}
  Result<SourceLease> acquire(Deadline deadline, const SourceRequest*) override {
    auto lease = pool_.acquire(deadline);
    if (!lease) return std::move(lease).error();
    return SourceLease(std::move(lease).value());
  }
  Result<SourceCancel> acquire_async(Deadline deadline, std::shared_ptr<const SourceRequest>,
                                     SourceCallback callback) override {
    auto pending = pool_.acquire_async(deadline, [cb = std::move(callback)](Result<Lease> r) {
      if (!r) return cb(std::move(r).error());
      cb(SourceLease(std::move(r).value()));
    });
    if (!pending) return std::move(pending).error();
    return SourceCancel([p = std::move(pending).value()]() mutable { return p.cancel(); });
  }
  std::size_t capacity() const noexcept override { return pool_.load().max_size; }
  const Clock& clock() const noexcept override { return pool_.clock(); }

 private:
  Pool& pool_;
};

}  // namespace

std::shared_ptr<LeaseSource> pool_source(Pool& pool) { return std::make_shared<PoolSource>(pool); }

}  // namespace reservoir::tenant
