// The backend seam: what reservoir-bench needs from a backend, whatever it speaks.
//
// A Backend is chosen by the target URI's scheme (make_backend) and opens one Target per
// scenario and mode: a fresh pool (`pooled`, every operation through reservoir::run()), a
// connection per operation (`unpooled`), or the backend's own client library with one
// connection per thread and no reservoir code at all (`raw`). A backend (SQLite, PostgreSQL,
// and the HTTP ones: `etcd+http://` through etcd's v3 JSON gateway, `http://` for GET-only
// runs) is one class behind this interface and one scheme in make_backend(); the scenarios,
// the report, the JSON and the chart do not change.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "reservoir/config.hpp"
#include "reservoir/error.hpp"
#include "reservoir/stats.hpp"
#include "workload.hpp"

namespace reservoir::metrics {
class Registry;
}
namespace reservoir::admin {
class EventRing;
}

namespace bench {

enum class Mode { pooled, raw, unpooled, shared };
std::string_view to_string(Mode mode) noexcept;

// One worker thread's handle on a target; used by that thread only.
class Client {
 public:
  virtual ~Client() = default;
  // Runs one operation. `acquire_ns` gets the time from the call to the operation's first
  // statement (pooled: the deadline, the breaker check and the pool's acquire inside run());
  // it is left alone where nothing is acquired. Errors: the operation's last error.
  virtual reservoir::Status run(const Op& op, OpOutcome& outcome, std::int64_t& acquire_ns) = 0;
};

struct TargetStats {
  std::uint64_t max_open = 0;  // most backend connections open at once
  std::uint64_t opened = 0;    // connections opened
  std::optional<reservoir::PoolStats> pool;  // pooled only
  // What the backend's connector counts, by name (SQLite: its checkpoints); empty if nothing.
  std::map<std::string, std::uint64_t> backend_counts;
};

// What one scenario runs against.
class Target {
 public:
  virtual ~Target() = default;
  // A client for one worker thread (raw: opens the thread's own connection).
  // Errors: the backend's connect error.
  virtual reservoir::Result<std::unique_ptr<Client>> client() = 0;
  virtual TargetStats stats() const = 0;
  // Shuts the pool down within `grace`; baselines have nothing to do. Errors: the pool's.
  virtual reservoir::Status finish(std::chrono::milliseconds grace) = 0;
};

// Settings every target of a run shares.
struct RunSettings {
  reservoir::PoolConfig pool;                     // pooled
  std::chrono::milliseconds op_timeout{5000};     // each operation's deadline (run(), baselines)
  std::chrono::milliseconds connect_timeout{5000};
  // run() with a RetryBudget and a CircuitBreaker (also the pool's ConnectGate), as an
  // application should write it; false: run() with its deadline and retry policy only (to
  // measure what the two cost).
  bool breaker_and_budget = true;
  // A backend with a writer queue of its own (SQLite's WriteTurn): a store operation waits
  // there before it borrows a connection. false: it borrows first, then queues holding it.
  bool write_turns = true;
  // --admin: each pooled target registers its pool, breaker and budget here under the pool's
  // name (held weakly: a finished scenario drops out) and its pool reports to `events`.
  // Null (no --admin): nothing is registered, the pool has no listener.
  std::shared_ptr<reservoir::metrics::Registry> registry;
  std::shared_ptr<reservoir::admin::EventRing> events;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string kind() const = 0;      // "sqlite", "postgresql"
  virtual std::string endpoint() const = 0;  // store path or URL, never a password
  // Why this backend cannot run `workload` (e.g. `get` on a SQL backend), or empty.
  virtual std::string refuses(const WorkloadConfig& workload) const {
    return workload.kind == "memory" ? std::string() : "the " + kind() + " backend runs the memory workload only";
  }
  // Whether `mode` is offered (`shared` is the SQLite backend's only).
  virtual bool offers(Mode mode) const { return mode != Mode::shared; }
  // Creates the table, empties it and stores every key once, so retrieves find their key.
  // Errors: the backend's (an unreachable server: `unavailable: <host:port>: <cause>`).
  virtual reservoir::Status prepare(const WorkloadConfig& workload) = 0;
  virtual reservoir::Result<std::unique_ptr<Target>> open(Mode mode, const RunSettings& settings) = 0;
  // Client library and server versions.
  virtual nlohmann::json versions() = 0;
  // A line under the run's title on what differs between the modes' set-ups, or empty.
  virtual std::string setup_note() const { return {}; }
  // Removes what the run created (the temporary store, the table), unless `keep`.
  // Returns a line for the user, or empty.
  virtual std::string cleanup(bool keep) = 0;
};

struct BackendOptions {
  std::string pg_reset = "discard";  // "discard" (DISCARD ALL, the library default), "tracked" or "rollback"
  std::string synchronous = "normal";  // SQLite PRAGMA synchronous
  std::string locking = "process";     // sqlite::Locking: "process" or "per-transaction"
  std::string checkpoint = "automatic";  // sqlite::Checkpoint of the pool: "automatic", "background" or "on-commit"
  RunSettings settings;                // for prepare() and cleanup()
};

// `sqlite:` (a fresh temporary store), `sqlite:PATH`, `postgresql://…` or `postgres://…`,
// `etcd+http://HOST:PORT`, `http://HOST:PORT/PATH`.
// Errors: invalid_argument naming the URI's scheme when it is not one of these.
reservoir::Result<std::unique_ptr<Backend>> make_backend(const std::string& uri, const BackendOptions& options);

// Per backend (sqlite_backend.cpp, pg_backend.cpp).
reservoir::Result<std::unique_ptr<Backend>> make_sqlite_backend(const std::string& path, const BackendOptions& options);
reservoir::Result<std::unique_ptr<Backend>> make_pg_backend(const std::string& url, const BackendOptions& options);
// http_backend.cpp: `etcd` (the memory workload through etcd's v3 JSON gateway) or `get`.
reservoir::Result<std::unique_ptr<Backend>> make_etcd_backend(const std::string& origin, const BackendOptions& options);
reservoir::Result<std::unique_ptr<Backend>> make_http_get_backend(const std::string& url, const BackendOptions& options);

}  // namespace bench
