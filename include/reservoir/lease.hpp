// reservoir/lease.hpp — Lease: a borrowed connection, returned when the lease dies.
//
// Move-only RAII. Returning runs the connector's reset (session state never reaches the next
// borrower); discard() closes the connection instead; detach() takes it out of the pool for
// good. A lease may outlive its Pool object: the pool's internals stay alive until the last
// lease comes back.
#pragma once

#include <memory>

#include "reservoir/connector.hpp"

namespace reservoir {

namespace detail {
class PoolCore;
struct Slot;
}  // namespace detail

class [[nodiscard]] Lease {
 public:
  Lease() noexcept = default;
  Lease(Lease&& other) noexcept : core_(other.core_), slot_(other.slot_) { other.slot_ = nullptr; }
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease() {
    if (slot_ != nullptr) release();  // inline: a moved-from lease costs no call
  }

  bool valid() const noexcept { return slot_ != nullptr; }
  explicit operator bool() const noexcept { return valid(); }

  Connection& connection() const noexcept;

  // Marks the connection broken: on return it is closed and replaced, not reused.
  void discard() noexcept;
  // Returns the connection to the pool now (the destructor does this otherwise).
  void release() noexcept;
  // Takes the connection out of the pool for good; its capacity is freed. The caller closes it.
  std::unique_ptr<Connection> detach() noexcept;

 private:
  friend class detail::PoolCore;
  Lease(detail::PoolCore* core, detail::Slot* slot) noexcept : core_(core), slot_(slot) {}

  detail::PoolCore* core_ = nullptr;
  detail::Slot* slot_ = nullptr;
};

}  // namespace reservoir
