#include "reservoir/pg/replication.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace reservoir::pg {

namespace {

using std::chrono::milliseconds;

Result<Lsn> lsn_at(const sql::Rows& rows, std::size_t col, const std::string& endpoint) {
  auto text = rows.get_text(0, col);
  if (!text) return std::move(text).error();
  if (auto lsn = Lsn::parse(*text)) return *lsn;
  return Error::make(ErrorKind::internal, endpoint + ": not a WAL position: " + *text);
}

// The part of the caller's remaining time the server may spend waiting: a margin is kept for
// the round trip, so the wait ends on the server and the connection stays usable.
milliseconds server_wait_budget(Deadline deadline) {
  const auto remaining = std::chrono::duration_cast<milliseconds>(deadline.remaining());
  return remaining - std::min(remaining / 5, milliseconds(100));
}

}  // namespace

std::string Lsn::to_string() const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(value >> 32), static_cast<unsigned>(value));
  return buf;
}

std::optional<Lsn> Lsn::parse(std::string_view text) noexcept {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == text.size()) return std::nullopt;
  std::uint32_t hi = 0, lo = 0;
  const auto [hend, herr] = std::from_chars(text.data(), text.data() + slash, hi, 16);
  const auto [lend, lerr] = std::from_chars(text.data() + slash + 1, text.data() + text.size(), lo, 16);
  if (herr != std::errc{} || lerr != std::errc{} || hend != text.data() + slash || lend != text.data() + text.size()) {
    return std::nullopt;
  }
  return Lsn{(std::uint64_t{hi} << 32) | lo};
}

Result<Lsn> current_wal_lsn(Connection& conn, Deadline deadline) {
  auto rows = conn.query("SELECT pg_catalog.pg_current_wal_lsn()::text", deadline);
  if (!rows) return std::move(rows).error();
  return lsn_at(*rows, 0, conn.endpoint());
}

Result<ReplicaStatus> replica_status(Connection& conn, Deadline deadline) {
  auto rows = conn.query(
      "SELECT pg_catalog.pg_last_wal_receive_lsn()::text, pg_catalog.pg_last_wal_replay_lsn()::text, "
      "(extract(epoch FROM now() - pg_catalog.pg_last_xact_replay_timestamp()) * 1000)::int8, "
      "pg_catalog.pg_is_in_recovery()::int",
      deadline);
  if (!rows) return std::move(rows).error();
  // A promoted standby keeps its last replay position: recovery, not the position, says which.
  auto in_recovery = rows->get_int(0, 3);
  if (!in_recovery) return std::move(in_recovery).error();
  if (*in_recovery == 0 || rows->is_null(0, 1)) {
    return Error::make(ErrorKind::invalid_argument, conn.endpoint() + ": server is a primary: it replays no WAL");
  }
  ReplicaStatus status;
  if (!rows->is_null(0, 0)) {  // null while the replica streams nothing (restored from archive only)
    auto received = lsn_at(*rows, 0, conn.endpoint());
    if (!received) return std::move(received).error();
    status.received = *received;
  }
  auto replayed = lsn_at(*rows, 1, conn.endpoint());
  if (!replayed) return std::move(replayed).error();
  status.replayed = *replayed;
  if (!rows->is_null(0, 2)) {
    auto age = rows->get_int(0, 2);
    if (!age) return std::move(age).error();
    status.replay_age = milliseconds(std::max<std::int64_t>(*age, 0));
  }
  return status;
}

Result<Lsn> wait_for_replay(Connection& conn, Lsn lsn, Deadline deadline) {
  if (conn.role() == ServerRole::primary) return lsn;
  auto status = replica_status(conn, deadline);
  if (!status) return std::move(status).error();
  if (status->replayed >= lsn) return status->replayed;
  const milliseconds budget = server_wait_budget(deadline);
  if (budget > milliseconds(0)) {
    // One round trip: the server polls its own replay position every millisecond (it cannot be
    // woken by replay) and stops at the position or at the budget, whichever comes first.
    const std::string wait = "DO $reservoir$ BEGIN WHILE coalesce(pg_catalog.pg_last_wal_replay_lsn(), '0/0') < '" +
                             lsn.to_string() + "'::pg_lsn AND clock_timestamp() < statement_timestamp() + interval '" +
                             std::to_string(budget.count()) +
                             " milliseconds' LOOP PERFORM pg_catalog.pg_sleep(0.001); END LOOP; END $reservoir$";
    if (Status waited = conn.script(wait, deadline); !waited) return std::move(waited).error();
    status = replica_status(conn, deadline);
    if (!status) return std::move(status).error();
    if (status->replayed >= lsn) return status->replayed;
  }
  return Error::timeout(conn.endpoint() + ": replayed up to " + status->replayed.to_string() + ", waiting for " +
                        lsn.to_string() + "; deadline passed");
}

}  // namespace reservoir::pg
