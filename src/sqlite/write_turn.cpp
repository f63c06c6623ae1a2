#include "reservoir/sqlite/write_turn.hpp"

#include <utility>

#include "writer_gate.hpp"

namespace reservoir::sqlite {

WriteTurn::WriteTurn(std::shared_ptr<detail::WriterGate> entered) noexcept : gate_(std::move(entered)) {}

WriteTurn::WriteTurn(WriteTurn&& other) noexcept : gate_(std::move(other.gate_)) {}

WriteTurn& WriteTurn::operator=(WriteTurn&& other) noexcept {
  if (this != &other) {
    give_up();
    gate_ = std::move(other.gate_);
  }
  return *this;
}

WriteTurn::~WriteTurn() { give_up(); }

void WriteTurn::give_up() noexcept {
  if (auto gate = std::exchange(gate_, nullptr)) gate->leave();
}

}  // namespace reservoir::sqlite
