#include "rotating_connector.hpp"

namespace reservoir::cluster::detail {

struct RotatingConnector::Held final : Connection {
  Held(std::unique_ptr<Connection> c, std::shared_ptr<Connector> m) : conn(std::move(c)), maker(std::move(m)) {}
  std::unique_ptr<Connection> conn;
  std::shared_ptr<Connector> maker;
};

void RotatingConnector::replace(std::shared_ptr<Connector> inner) {
  std::lock_guard g(mu_);
  current_ = std::move(inner);
  ++generation_;
}

std::shared_ptr<Connector> RotatingConnector::current() const { return current_with_generation().first; }

std::pair<std::shared_ptr<Connector>, std::uint64_t> RotatingConnector::current_with_generation() const {
  std::lock_guard g(mu_);
  return {current_, generation_};
}

Connection& RotatingConnector::inner(Connection& pooled) noexcept { return *static_cast<Held&>(pooled).conn; }

Result<std::unique_ptr<Connection>> RotatingConnector::connect(Deadline deadline) {
  for (;;) {
    auto [maker, generation] = current_with_generation();
    auto r = maker->connect(deadline);
    if (!r) return std::move(r).error();
    if (current_with_generation().second == generation) {
      return std::unique_ptr<Connection>(std::make_unique<Held>(std::move(r).value(), std::move(maker)));
    }
    // Opened with the credentials just replaced: never let one into the pool.
    maker->close(std::move(r).value(), deadline);
    if (deadline.expired()) return Error::timeout(maker->endpoint() + ": connect redone after a credentials rotation ran out of time");
  }
}

Status RotatingConnector::check(Connection& conn, CheckDepth depth, Deadline deadline) {
  auto& held = static_cast<Held&>(conn);
  return held.maker->check(*held.conn, depth, deadline);
}

Status RotatingConnector::reset(Connection& conn, Deadline deadline) {
  auto& held = static_cast<Held&>(conn);
  return held.maker->reset(*held.conn, deadline);
}

void RotatingConnector::close(std::unique_ptr<Connection> conn, Deadline deadline) noexcept {
  auto& held = static_cast<Held&>(*conn);
  held.maker->close(std::move(held.conn), deadline);
}

void RotatingConnector::abandon(std::unique_ptr<Connection> conn) noexcept {
  auto& held = static_cast<Held&>(*conn);
  held.maker->abandon(std::move(held.conn));
}

bool RotatingConnector::is_broken(const Connection& conn) const noexcept {
  const auto& held = static_cast<const Held&>(conn);
  return held.maker->is_broken(*held.conn);
}

bool RotatingConnector::is_retryable(const Error& error) const noexcept {
  // Copying the shared_ptr under a lock allocates nothing and cannot throw.
  return current_with_generation().first->is_retryable(error);
}

std::string RotatingConnector::endpoint() const { return current_with_generation().first->endpoint(); }

}  // namespace reservoir::cluster::detail
