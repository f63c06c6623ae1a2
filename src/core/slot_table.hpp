// Private: Slot, one place in the pool that may hold a connection, and SlotTable, the
// append-only array of them that lock-free readers scan.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

#include "reservoir/clock.hpp"
#include "reservoir/config.hpp"
#include "reservoir/connector.hpp"
#include "reservoir/histogram.hpp"

namespace reservoir::detail {

// A slot's state changes only by compare-and-swap (HikariCP's ConcurrentBag). Whoever moves a
// slot out of `idle` owns its connection and its owner-only fields until it moves it back.
enum class SlotState : std::uint8_t {
  empty,       // no connection; capacity not counted
  connecting,  // a connect for this slot is in flight
  idle,        // in the pool, free to take
  leased,      // a Lease holds it
  reserved,    // the maintainer is checking or retiring it
};

struct alignas(64) Slot {
  std::atomic<SlotState> state{SlotState::empty};
  std::uint32_t index = 0;

  // Owner-only (see SlotState).
  std::unique_ptr<Connection> conn;
  std::atomic<std::int64_t> expire_at_ns{0};  // 0 = never; read by the maintainer
  std::uint64_t uses = 0;         // leases of the current connection
  bool discard = false;
  bool forked = false;            // inherited across fork(): abandon, never close
  // When the current connection was opened and how long that took: an acquire handed this
  // connection fresh reports the connect as its own phase.
  TimePoint connected_at{};
  Duration connect_took{0};

  // Read by the maintainer and stats() without owning the slot.
  std::atomic<std::int64_t> last_used_ns{0};
  std::atomic<std::int64_t> last_checked_ns{0};
  std::atomic<std::int64_t> leased_at_ns{0};
  std::atomic<const char*> lease_file{nullptr};
  std::atomic<unsigned> lease_line{0};
  std::atomic<bool> leak_reported{false};

  // Single writer at a time (the holder), so updated with a relaxed load + store: no locked
  // instruction on the hot path.
  std::atomic<std::uint64_t> acquires{0};
  std::atomic<std::uint64_t> releases{0};
  // How long leases of this slot were held (coarse clock), recorded by the holder at release;
  // summed over slots by stats(). On its own cache lines, apart from the state word.
  alignas(64) SingleWriterHistogram use_time;

  bool try_move(SlotState from, SlotState to) noexcept {
    return state.compare_exchange_strong(from, to, std::memory_order_acquire, std::memory_order_relaxed);
  }
};

inline void bump(std::atomic<std::uint64_t>& single_writer_counter) noexcept {
  single_writer_counter.store(single_writer_counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// Chunks are allocated on demand and never move or shrink, so a reader may scan [0, size())
// without a lock while the table grows.
class SlotTable {
 public:
  static constexpr std::size_t kChunkSize = 64;
  static constexpr std::size_t kChunks = PoolConfig::kMaxPoolSize / kChunkSize;

  SlotTable() = default;
  SlotTable(const SlotTable&) = delete;
  SlotTable& operator=(const SlotTable&) = delete;
  ~SlotTable() {
    for (auto& c : chunks_) delete[] c.load();
  }

  std::size_t size() const noexcept { return size_.load(std::memory_order_acquire); }
  // The table's shape is const to readers; the slots are shared state changed by CAS.
  Slot& operator[](std::size_t i) const noexcept {
    return chunks_[i / kChunkSize].load(std::memory_order_acquire)[i % kChunkSize];
  }

  // Grows to at least `n` slots; only under the pool lock. False at kMaxPoolSize.
  bool grow_to(std::size_t n) {
    if (n > PoolConfig::kMaxPoolSize) return false;
    std::size_t have = size();
    while (have < n) {
      auto& chunk = chunks_[have / kChunkSize];
      if (chunk.load() == nullptr) {
        Slot* fresh = new Slot[kChunkSize];
        for (std::size_t i = 0; i < kChunkSize; ++i) fresh[i].index = static_cast<std::uint32_t>(have / kChunkSize * kChunkSize + i);
        chunk.store(fresh, std::memory_order_release);
      }
      ++have;
    }
    size_.store(have, std::memory_order_release);
    return true;
  }

 private:
  std::array<std::atomic<Slot*>, kChunks> chunks_{};
  std::atomic<std::size_t> size_{0};
};

}  // namespace reservoir::detail
