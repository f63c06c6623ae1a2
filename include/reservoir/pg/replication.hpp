// reservoir/pg/replication.hpp — WAL positions and replication lag, for read-your-writes on
// streaming replicas.
//
//   auto lsn = pg::current_wal_lsn(primary_conn, deadline);     // after the write's COMMIT
//   auto ok = pg::wait_for_replay(replica_conn, *lsn, deadline);  // then read on the replica
//
// current_wal_lsn() is pg_current_wal_lsn(), the primary's WAL write position: after a COMMIT
// with synchronous_commit on (the default) it is at or past that commit. (With
// synchronous_commit off a commit may not be written yet: take the LSN after the WAL writer
// ran, or use the primary for such reads.) wait_for_replay() returns once the replica's
// pg_last_wal_replay_lsn() has reached it, so a read there sees the write; it waits on the
// server (one round trip that ends as soon as the position is replayed), never past the deadline.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "reservoir/deadline.hpp"
#include "reservoir/error.hpp"
#include "reservoir/pg/connection.hpp"

namespace reservoir::pg {

// A WAL position (pg_lsn), ordered.
struct Lsn {
  std::uint64_t value = 0;
  friend constexpr auto operator<=>(Lsn, Lsn) = default;
  // PostgreSQL's text form, `16/B374D848`.
  std::string to_string() const;
  // nullopt unless `text` is that form.
  static std::optional<Lsn> parse(std::string_view text) noexcept;
};

// The primary's WAL write position (pg_current_wal_lsn()). Errors: as for a query; backend
// 55000 on a standby (the server refuses it during recovery).
Result<Lsn> current_wal_lsn(Connection& conn, Deadline deadline);

// Where a standby is: WAL received and replayed, and how old the last replayed transaction is
// (now() - pg_last_xact_replay_timestamp(); it also grows while the primary writes nothing).
struct ReplicaStatus {
  Lsn received;
  Lsn replayed;
  std::optional<std::chrono::milliseconds> replay_age;  // none before the first replayed commit
};
// Errors: invalid_argument on a primary (it replays nothing, or no longer: a promoted standby);
// as for a query.
Result<ReplicaStatus> replica_status(Connection& conn, Deadline deadline);

// Read-your-writes: returns the replayed position once `conn`'s server has replayed `lsn` (at
// once on a primary, which has everything it wrote). Waits on the server, bounded by the
// deadline: past it `timeout: <endpoint>: replayed up to X, waiting for Y` and the connection
// stays usable. Errors otherwise as for a query.
Result<Lsn> wait_for_replay(Connection& conn, Lsn lsn, Deadline deadline);

}  // namespace reservoir::pg
