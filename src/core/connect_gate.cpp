#include "reservoir/connect_gate.hpp"

#include <algorithm>

namespace reservoir {

std::shared_ptr<OpenGate> OpenGate::instance() {
  static const std::shared_ptr<OpenGate> gate = std::make_shared<OpenGate>();
  return gate;
}

namespace {
// The outcome of one composite admission, fanned out to each inner gate's ticket.
class FanOut final : public GateTicket::Sink {
 public:
  explicit FanOut(std::vector<GateTicket> tickets) noexcept : tickets_(std::move(tickets)) {}
  void succeeded() noexcept override {
    for (auto& t : tickets_) t.succeeded();
  }
  void failed(const Error& error) noexcept override {
    for (auto& t : tickets_) t.failed(error);
  }
  void ignored() noexcept override {
    for (auto& t : tickets_) t.ignored();
  }

 private:
  std::vector<GateTicket> tickets_;
};
}  // namespace

CompositeGate::CompositeGate(std::vector<std::shared_ptr<ConnectGate>> gates) : gates_(std::move(gates)) {
  gates_.erase(std::remove(gates_.begin(), gates_.end(), nullptr), gates_.end());
}

bool CompositeGate::paces_connects() const noexcept {
  return std::any_of(gates_.begin(), gates_.end(), [](const auto& g) { return g->paces_connects(); });
}

Result<GateTicket> CompositeGate::admit() {
  std::vector<GateTicket> tickets;
  tickets.reserve(gates_.size());
  for (auto& gate : gates_) {
    Result<GateTicket> t = gate->admit();
    if (!t) return std::move(t).error();  // `tickets` report ignored as they go
    tickets.push_back(std::move(t).value());
  }
  return GateTicket(std::make_unique<FanOut>(std::move(tickets)));
}

}  // namespace reservoir
