// reservoir/cluster/routing.hpp — read/write routing over a primary and its replicas: a call
// says whether it reads or writes (Intent), the cluster sends writes to the primary and reads
// to the replicas that are recent enough, falling back to the primary.
//
//   config.routing.roles = pgcluster::role_source();          // how a server says what it is
//   config.routing.max_replica_lag = 500ms;
//   auto lease = c->acquire(deadline, cluster::Intent::write());
//   auto token = lease->write_token(deadline);                // after the write's COMMIT
//   auto read = c->acquire(deadline, cluster::Intent::read_after(*token));  // read-your-writes
//
// The cluster stays backend-free: a RoleSource (the PostgreSQL one is reservoir::pgcluster)
// reads roles, positions and lag from the servers. Where the facts come from and what they cost:
// - the role is read at every checkout and return from what the connection already knows (no
//   I/O: PostgreSQL's in_hot_standby, reported at connect and on a live session after a
//   promotion), so a promotion is seen at the first checkout after it;
// - a write refused as "wrong role" (PostgreSQL: SQLSTATE 25006) marks its endpoint a replica
//   and run() retries the write at once on the primary within the caller's deadline (nothing
//   was written: a replica accepts no write);
// - a replica's lag and replayed position are probed AT CHECKOUT, by the read that picks it,
//   when its status is older than status_interval: one round trip per replica per interval,
//   paid by one caller, and fresh at the moment it decides (no maintenance thread to start,
//   stop or sanitise; an idle cluster costs the servers nothing). A replica whose lag is above
//   max_replica_lag serves no read until a later probe finds it caught up.
// - a read with a WriteToken goes to a replica only once it replayed the token (checked on the
//   picked connection, waiting at most read_your_writes_wait there), else to the primary.
// Reads fall back to the primary when no replica is eligible; each fallback is counted
// (ClusterStats::read_fallbacks). Writes with no primary serving fail at once, after
// re-checking replicas whose role is older than status_interval (one may have been promoted):
// with the primary's own error (`unavailable: <host:port>: connection refused`), or
// `unavailable: <cluster>: no primary serves (...)` when no endpoint is known as one.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "reservoir/connector.hpp"
#include "reservoir/deadline.hpp"
#include "reservoir/duration.hpp"
#include "reservoir/error.hpp"

namespace reservoir::cluster {

enum class Access : std::uint8_t { any, read, write };
std::string_view to_string(Access access) noexcept;

// A position in the primary's write history (PostgreSQL: an LSN) after a caller's writes.
struct WriteToken {
  std::uint64_t position = 0;
};

// What a call will do with its connection. Without ClusterConfig::routing.roles every intent
// is `any` (the cluster balances over all endpoints).
struct Intent {
  Access access = Access::any;
  std::optional<WriteToken> after;  // reads only: the read must see this write

  static Intent any() noexcept { return {}; }
  static Intent read() noexcept { return {Access::read, std::nullopt}; }
  static Intent write() noexcept { return {Access::write, std::nullopt}; }
  static Intent read_after(WriteToken token) noexcept { return {Access::read, token}; }
};

enum class EndpointRole : std::uint8_t { unknown, primary, replica };
std::string_view to_string(EndpointRole role) noexcept;

// A probe's answer. For a replica: the position it replayed up to, and its lag (0 when it has
// replayed everything it received).
struct RoleReport {
  EndpointRole role = EndpointRole::unknown;
  std::uint64_t replayed = 0;
  Duration lag{0};
  // The source's own verdict: the replica is beyond the source's lag bound (Patroni's 503
  // for /replica?lag=), so it serves no read whatever RoutingConfig::max_replica_lag says.
  bool beyond_bound = false;
};

// How the servers of a cluster say what they are. Called outside every cluster lock, on a
// connection the cluster has leased (the endpoint's connector's connection).
class RoleSource {
 public:
  virtual ~RoleSource() = default;
  // From what the connection already knows: no I/O (every checkout and return). nullopt: it
  // does not know.
  virtual std::optional<EndpointRole> observe(Connection& conn) noexcept = 0;
  // One round trip: the role, and for a replica its replayed position and lag.
  virtual Result<RoleReport> probe(Connection& conn, Deadline deadline) = 0;
  // `error` is a write refused because the server is a replica.
  virtual bool is_wrong_role(const Error& error) const noexcept = 0;
  // The position after the writes made on `conn` (a primary's connection).
  virtual Result<WriteToken> write_token(Connection& conn, Deadline deadline) = 0;
  // The replica's replayed position once it reached `token`, waiting at most `wait` (and never
  // past `deadline`); timeout otherwise, the connection still usable.
  virtual Result<std::uint64_t> wait_for(Connection& conn, WriteToken token, Duration wait, Deadline deadline) = 0;
};

struct RoutingConfig {
  // null: no routing (every Intent is `any`).
  std::shared_ptr<RoleSource> roles;
  // A replica lagging more serves no read (0 = no bound; else 1ms..24h).
  Duration max_replica_lag{0};
  // A replica's lag and position, and a replica's role when no primary serves, are re-probed
  // at checkout once older than this (1ms..1h).
  Duration status_interval = std::chrono::seconds(1);
  // A read with a WriteToken waits at most this long on a replica for the token, then goes to
  // the primary (0..1min).
  Duration read_your_writes_wait = std::chrono::milliseconds(50);

  Status validate() const;
};

}  // namespace reservoir::cluster
