// Private: RotatingConnector, the connector an endpoint's pool holds, so that its credentials
// (its inner connector) change while the pool runs. Each connection remembers the connector
// that opened it, which checks, resets and closes it; new connects use the current one.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "reservoir/connector.hpp"

namespace reservoir::cluster::detail {

class RotatingConnector final : public Connector {
 public:
  explicit RotatingConnector(std::shared_ptr<Connector> inner) : current_(std::move(inner)) {}

  // New connects use `inner` from now on; a connect in flight through the old one is closed
  // and made again through the new one.
  void replace(std::shared_ptr<Connector> inner);
  std::shared_ptr<Connector> current() const;

  // The backend's connection inside a pooled one.
  static Connection& inner(Connection& pooled) noexcept;

  Result<std::unique_ptr<Connection>> connect(Deadline deadline) override;
  Status check(Connection& conn, CheckDepth depth, Deadline deadline) override;
  Status reset(Connection& conn, Deadline deadline) override;
  void close(std::unique_ptr<Connection> conn, Deadline deadline) noexcept override;
  void abandon(std::unique_ptr<Connection> conn) noexcept override;
  bool is_broken(const Connection& conn) const noexcept override;
  bool is_retryable(const Error& error) const noexcept override;
  std::string endpoint() const override;

 private:
  struct Held;
  std::pair<std::shared_ptr<Connector>, std::uint64_t> current_with_generation() const;

  mutable std::mutex mu_;
  std::shared_ptr<Connector> current_;
  std::uint64_t generation_ = 0;
};

}  // namespace reservoir::cluster::detail
