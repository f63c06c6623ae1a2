// Pool and Lease: thin handles over PoolCore.
#include "reservoir/pool.hpp"

#include "pool_core.hpp"

namespace reservoir {

Result<Pool> Pool::create(std::shared_ptr<Connector> connector, PoolConfig config, PoolOptions options) {
  if (!connector) return Error::make(ErrorKind::invalid_argument, "Pool::create: connector is null");
  if (Status s = config.validate(); !s) return std::move(s).error();
  auto core = std::make_shared<detail::PoolCore>(std::move(connector), std::move(config), std::move(options));
  if (Status s = core->initialize(); !s) {
    (void)core->shutdown(Duration::zero());
    core->join_connect_threads();
    return std::move(s).error();
  }
  core->start_maintainer();
  return Pool(std::move(core));
}

Pool::Pool(std::shared_ptr<detail::PoolCore> core) noexcept : core_(std::move(core)) {}
Pool::Pool(Pool&&) noexcept = default;

Pool& Pool::operator=(Pool&& other) noexcept {
  if (this != &other) {
    Pool dying(std::move(*this));
    core_ = std::move(other.core_);
  }
  return *this;
}

Pool::~Pool() {
  if (!core_) return;
  (void)core_->shutdown(Duration::zero());
  core_->join_connect_threads();
  core_->orphan(core_);
}

Result<Lease> Pool::acquire(SourceLocation where) { return core_->acquire(std::nullopt, where); }
Result<Lease> Pool::acquire(Deadline deadline, SourceLocation where) { return core_->acquire(deadline, where); }
Result<Lease> Pool::acquire(Deadline deadline, AcquirePhases& phases, SourceLocation where) {
  return core_->acquire(deadline, where, &phases);
}
Logger& Pool::logger() const noexcept { return core_->logger(); }
void Pool::emit(PoolEvent event) const noexcept { core_->report(event); }
Result<PendingAcquire> Pool::acquire_async(Deadline deadline, AcquireCallback callback, SourceLocation where) {
  return core_->acquire_async(deadline, std::move(callback), where);
}
PoolLoad Pool::load() const noexcept { return core_->load(); }
Status Pool::shutdown(Duration grace) { return core_->shutdown(grace); }
Status Pool::set_max_size(std::size_t max_size) { return core_->set_max_size(max_size); }
void Pool::run_maintenance() { core_->run_maintenance(); }
std::size_t Pool::retire_connections(Duration window) { return core_->retire_connections(window); }
PoolStats Pool::stats() const { return core_->stats(); }
const PoolConfig& Pool::config() const noexcept { return core_->config(); }
Connector& Pool::connector() const noexcept { return core_->connector(); }
const Clock& Pool::clock() const noexcept { return core_->clock(); }

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    release();
    core_ = other.core_;
    slot_ = other.slot_;
    other.slot_ = nullptr;
  }
  return *this;
}

Connection& Lease::connection() const noexcept { return *slot_->conn; }

void Lease::discard() noexcept {
  if (slot_ != nullptr) slot_->discard = true;
}

void Lease::release() noexcept {
  if (slot_ == nullptr) return;
  detail::Slot* slot = slot_;
  slot_ = nullptr;
  core_->release(*slot);
}

std::unique_ptr<Connection> Lease::detach() noexcept {
  if (slot_ == nullptr) return nullptr;
  detail::Slot* slot = slot_;
  slot_ = nullptr;
  return core_->detach(*slot);
}

}  // namespace reservoir
