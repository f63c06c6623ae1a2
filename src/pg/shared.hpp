// src/pg/shared.hpp — state a pg::Connector shares with the connections it opened (private).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "reservoir/pg/connector.hpp"

typedef struct pg_result PGresult;

namespace reservoir::pg::detail {

// One host of a multi-host conninfo: its values of host/hostaddr/port.
struct Host {
  std::vector<std::pair<std::size_t, std::string>> overrides;  // index into Shared::values, value
  std::string endpoint;                                        // host:port
};

struct Shared {
  std::string endpoint;  // host:port
  std::string user;
  std::string dbname;
  std::string password;  // only ever handed to libpq; redact() removes it from any text
  std::vector<std::string> keys;    // parsed conninfo, for PQconnectStartParams
  std::vector<std::string> values;
  // One per host of a multi-host conninfo, tried in order (connector.cpp); empty for one host.
  std::vector<Host> hosts;
  ConnectorOptions options;
  mutable std::atomic<int> pending_cancels{0};
  // Statement cache totals over every connection (relaxed counters).
  mutable std::atomic<std::uint64_t> cache_hits{0}, cache_misses{0}, cache_evictions{0}, cache_reprepares{0};

  // `text` with the password replaced by `***` and trailing newlines and whitespace removed.
  std::string redact(std::string_view text) const;
};

// The primary message of libpq's last error on `conn` or `res`, redacted, one line.
std::string libpq_message(const Shared& shared, const char* raw);

}  // namespace reservoir::pg::detail
