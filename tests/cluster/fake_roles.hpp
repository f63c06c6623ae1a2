// tests/cluster/fake_roles.hpp — a fake RoleSource: each fake endpoint's role, replayed
// position and lag as the test sets them; counts the probes.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "cluster_fake.hpp"
#include "reservoir/cluster/routing.hpp"

namespace reservoir::cluster::testing {

struct FakeServer {
  EndpointRole role = EndpointRole::unknown;
  std::uint64_t replayed = 0;
  Duration lag{0};
  bool beyond_bound = false;  // the source's own verdict (Patroni's 503)
};

class FakeRoles final : public RoleSource {
 public:
  std::optional<EndpointRole> observe(Connection& conn) noexcept override {
    std::lock_guard g(mu);
    if (!observable) return std::nullopt;
    return servers[static_cast<FakeConn&>(conn).endpoint].role;
  }
  Result<RoleReport> probe(Connection& conn, Deadline) override {
    std::lock_guard g(mu);
    ++probes;
    const FakeServer& s = servers[static_cast<FakeConn&>(conn).endpoint];
    return RoleReport{s.role, s.replayed, s.lag, s.beyond_bound};
  }
  bool is_wrong_role(const Error& error) const noexcept override { return error.code() == "25006"; }
  Result<WriteToken> write_token(Connection&, Deadline) override {
    std::lock_guard g(mu);
    return WriteToken{written};
  }
  Result<std::uint64_t> wait_for(Connection& conn, WriteToken token, Duration, Deadline) override {
    std::lock_guard g(mu);
    const FakeServer& s = servers[static_cast<FakeConn&>(conn).endpoint];
    if (s.replayed >= token.position) return s.replayed;
    return Error::timeout("behind");
  }

  void set(const std::string& name, FakeServer s) {
    std::lock_guard g(mu);
    servers[name] = s;
  }
  int probe_count() {
    std::lock_guard g(mu);
    return probes;
  }

  std::mutex mu;
  std::map<std::string, FakeServer> servers;
  bool observable = true;
  std::uint64_t written = 0;
  int probes = 0;
};

}  // namespace reservoir::cluster::testing
