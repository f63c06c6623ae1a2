// reservoir/connect_gate.hpp — ConnectGate: who may open a connection now, and what came of it.
//
// A pool asks its gate before every connect. An admission is a GateTicket that carries the
// connect's outcome back to exactly the gate state that admitted it, so a breaker knows a
// probe's outcome from a connect admitted before it tripped without guessing. A circuit
// breaker (breaker.hpp) is a gate; a cluster's outlier ejection will be another; a pool that
// needs both uses a CompositeGate. A pool built without a gate uses the OpenGate.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "reservoir/error.hpp"

namespace reservoir {

// One admitted connect. Move-only; report exactly one outcome. A ticket dropped without one
// reports `ignored` (the connect never told anything about the endpoint).
class [[nodiscard]] GateTicket {
 public:
  // Where a ticket's outcome goes; a gate makes one per admission.
  class Sink {
   public:
    virtual ~Sink() = default;
    virtual void succeeded() noexcept = 0;
    virtual void failed(const Error& error) noexcept = 0;
    virtual void ignored() noexcept = 0;
  };

  // An admission with nothing to report to (the open gate): no allocation.
  GateTicket() noexcept = default;
  explicit GateTicket(std::unique_ptr<Sink> sink) noexcept : sink_(std::move(sink)) {}
  GateTicket(GateTicket&&) noexcept = default;
  GateTicket& operator=(GateTicket&& other) noexcept {
    if (this != &other) {
      ignored();
      sink_ = std::move(other.sink_);
    }
    return *this;
  }
  GateTicket(const GateTicket&) = delete;
  GateTicket& operator=(const GateTicket&) = delete;
  ~GateTicket() { ignored(); }

  void succeeded() noexcept {
    if (auto s = std::move(sink_)) s->succeeded();
  }
  void failed(const Error& error) noexcept {
    if (auto s = std::move(sink_)) s->failed(error);
  }
  void ignored() noexcept {
    if (auto s = std::move(sink_)) s->ignored();
  }
  // True until an outcome was reported (or for the open gate's empty ticket: false).
  bool pending() const noexcept { return sink_ != nullptr; }

 private:
  std::unique_ptr<Sink> sink_;
};

class ConnectGate {
 public:
  virtual ~ConnectGate() = default;
  // A ticket for one connect now, or the error acquire() returns at once (circuit_open with
  // the time until the next probe, for a breaker). Cheap and non-blocking: the pool calls it
  // on the borrower's thread, never under its lock.
  virtual Result<GateTicket> admit() = 0;
  // True if this gate decides when callers may try to connect again after failures (a
  // breaker's open time): the pool then skips its own backoff for queued callers, which
  // would otherwise hold them back while the gate would refuse them at once. The min_idle
  // refill keeps the pool's backoff either way.
  virtual bool paces_connects() const noexcept { return false; }
};

// Admits every connect (a pool without a breaker).
class OpenGate final : public ConnectGate {
 public:
  Result<GateTicket> admit() override { return GateTicket{}; }
  static std::shared_ptr<OpenGate> instance();
};

// Admits a connect when every gate does, in order; the first refusal is returned and the
// tickets already taken from earlier gates report `ignored`. The outcome reaches every gate.
class CompositeGate final : public ConnectGate {
 public:
  // Null gates are skipped.
  explicit CompositeGate(std::vector<std::shared_ptr<ConnectGate>> gates);
  Result<GateTicket> admit() override;
  bool paces_connects() const noexcept override;

 private:
  std::vector<std::shared_ptr<ConnectGate>> gates_;
};

}  // namespace reservoir
