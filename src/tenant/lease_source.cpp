#include "reservoir/tenant/lease_source.hpp"

namespace reservoir::tenant {

namespace {

class PoolSource final : public LeaseSource {
 public:
  explicit PoolSource(Pool& pool) noexcept : pool_(pool) {}
  Result<Lease> acquire(Deadline deadline) override { return pool_.acquire(deadline); }
  std::size_t capacity() const noexcept override { return pool_.load().max_size; }
  const Clock& clock() const noexcept override { return pool_.clock(); }

 private:
  Pool& pool_;
};

}  // namespace

std::shared_ptr<LeaseSource> pool_source(Pool& pool) { return std::make_shared<PoolSource>(pool); }

}  // namespace reservoir::tenant
