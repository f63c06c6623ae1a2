// The `memory` workload (seed 000's store): store (upsert a memory: key, content, created
// time), retrieve (by key) and stats (count), drawn at random in a read/write mix over a fixed
// key space. Written once against the sql.hpp connection shape, so every SQL backend runs the
// same statements.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "reservoir/deadline.hpp"
#include "reservoir/error.hpp"
#include "reservoir/sql.hpp"

namespace bench {

enum class OpKind { retrieve, store, stats };
inline constexpr int kOpKinds = 3;
std::string_view to_string(OpKind kind) noexcept;

// Percentages of retrieve / store / stats operations; they sum to 100.
struct Mix {
  int retrieve = 80;
  int store = 20;
  int stats = 0;
};

// "80/20" (read/write) or "79/20/1" (retrieve/store/stats). Empty string on success, otherwise
// what is wrong.
std::string parse_mix(std::string_view text, Mix& out);
std::string to_string(const Mix& mix);

struct WorkloadConfig {
  std::string kind = "memory";  // "memory", or "get" (every operation a GET of an http:// URL)
  Mix mix;
  std::int64_t keys = 1000;
  std::size_t content_bytes = 100;
  std::string table = "reservoir_bench_memory";
};

// One operation, fully drawn before it runs (so every mode runs the same kind of thing).
struct Op {
  OpKind kind = OpKind::retrieve;
  std::string key;
  std::string content;        // store only
  std::int64_t created_ms = 0;  // store only
};

// Draws operations for one client: a splitmix64 stream, so clients never share state.
class OpSource {
 public:
  OpSource(const WorkloadConfig& config, std::uint64_t seed) noexcept : config_(&config), state_(seed) {}
  // Fills `op` (reusing its strings' buffers).
  void next(Op& op);

 private:
  std::uint64_t random() noexcept;
  const WorkloadConfig* config_;
  std::uint64_t state_;
  std::uint64_t revision_ = 0;
};

std::string key_of(std::int64_t n);
void fill_content(std::string& out, std::string_view key, std::uint64_t revision, std::size_t bytes);

// The statements, in the backend's placeholder style (?1 for SQLite, $1 for PostgreSQL).
struct MemorySql {
  std::string create;
  std::string clear;
  std::string upsert;
  std::string retrieve;
  std::string count;
  std::string drop;
  std::string seed;     // stores keys 0..$1-1 once, in one statement
  std::string version;  // the server's (or library's) version, one row, one column
};
MemorySql sqlite_statements(const std::string& table);
MemorySql pg_statements(const std::string& table);

// What an operation saw, beyond success: a retrieve that found its key.
struct OpOutcome {
  bool hit = false;
  bool acquire_connected = false;  // pooled: a connection was opened while this operation acquired
  std::int64_t count = -1;  // stats only
};

// Where a retrieve reads its row, kept by a client across its operations (as the raw
// baseline keeps its own): its string's buffer is reused.
struct RowBuffer {
  std::string content;
  std::int64_t created_ms = 0;
};

// Runs `op` on a connection of the sql.hpp shape. A retrieve reads into `row` (a fresh buffer
// when null) through scan_row() where the connection has it (SQLite), as an application
// reading into its own variables should. Errors: the connection's.
template <class Conn>
reservoir::Status run_op(Conn& conn, const MemorySql& sql, const Op& op, reservoir::Deadline deadline,
                         OpOutcome& outcome, RowBuffer* row = nullptr) {
  using reservoir::sql::Value;
  switch (op.kind) {
    case OpKind::store: {
      const Value params[] = {Value(op.key), Value(op.content), Value(op.created_ms)};
      auto r = conn.execute(sql.upsert, params, deadline);
      if (!r) return std::move(r).error();
      return {};
    }
    case OpKind::retrieve: {
      const Value params[] = {Value(op.key)};
      if constexpr (requires(std::string& c, std::int64_t& n) { conn.scan_row(sql.retrieve, params, deadline, c, n); }) {
        RowBuffer fresh;
        RowBuffer& into = row != nullptr ? *row : fresh;
        auto found = conn.scan_row(sql.retrieve, params, deadline, into.content, into.created_ms);
        if (!found) return std::move(found).error();
        outcome.hit = *found;
      } else {
        auto r = conn.query(sql.retrieve, params, deadline);
        if (!r) return std::move(r).error();
        outcome.hit = !r->empty();
      }
      return {};
    }
    case OpKind::stats: {
      auto r = conn.query(sql.count, deadline);
      if (!r) return std::move(r).error();
      auto n = r->get_int(0, 0);
      if (!n) return std::move(n).error();
      outcome.count = *n;
      return {};
    }
  }
  return reservoir::Error::make(reservoir::ErrorKind::internal, "unknown operation");
}

}  // namespace bench
