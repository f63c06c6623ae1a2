// tests/tools/fault_proxy.hpp — FaultProxy: a TCP proxy on loopback that injects network faults
// between a client under test and a real server (this machine has no netem and no toxiproxy).
//
//   reservoir::tools::FaultProxy proxy("127.0.0.1", server_port);   // listens on 127.0.0.1:0
//   connect_to("127.0.0.1", proxy.port());
//   proxy.set_latency(Direction::both, 250us);   // added one-way delay, each direction
//   proxy.set_blackhole(true);                   // accept, read, never answer
//   proxy.reset_all();                           // RST every open connection
//   proxy.close_after(100);                      // reset a connection after 100 response bytes
//
// Settings apply at once to open connections and to new ones. One I/O thread (Asio) does all
// forwarding; the control calls are thread-safe and never block on the network. Data is
// forwarded in order per direction; latency delays each chunk by the same amount (it does not
// serialize chunks), so a pipelined stream keeps its throughput. The standalone binary
// (fault_proxy_main.cpp) drives the same class with a line protocol for benchmarks.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace reservoir::tools {

enum class Direction {
  upstream,    // client -> server (requests)
  downstream,  // server -> client (responses)
  both,
};

struct ProxyCounters {
  std::uint64_t accepted = 0;           // connections accepted since start
  std::uint64_t open = 0;               // connections open now
  std::uint64_t upstream_bytes = 0;     // bytes forwarded client -> server
  std::uint64_t downstream_bytes = 0;   // bytes forwarded server -> client
  std::uint64_t resets = 0;             // connections reset by reset_all() or close_after()
  std::uint64_t connect_failures = 0;   // upstream connects that failed (the client is reset)
};

class FaultProxy {
 public:
  // Listens on `listen_host`:`listen_port` (0: a free port) and forwards every accepted
  // connection to `target_host`:`target_port` (an IP address or a name resolved per connect).
  // Throws std::runtime_error when the listener cannot be opened.
  FaultProxy(std::string target_host, std::uint16_t target_port, std::string listen_host = "127.0.0.1",
             std::uint16_t listen_port = 0);
  // Stops the I/O thread; every open connection is closed.
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  std::uint16_t port() const noexcept;
  std::string host() const;  // the listening address
  // The target for connections accepted from now on.
  void set_target(std::string host, std::uint16_t port);

  // Added delay for each chunk in `dir` (0: none).
  void set_latency(Direction dir, std::chrono::microseconds delay);
  // At most `bytes_per_second` in `dir` per connection (0: unlimited).
  void set_bandwidth(Direction dir, std::uint64_t bytes_per_second);
  // On: new connections are accepted but never connected upstream, and every open connection
  // drops what it reads in both directions. Off: forwarding resumes for new data (data read
  // while on is lost; blackholed connections stay unanswered).
  void set_blackhole(bool on);
  // Resets (RST) every open connection, both sides.
  void reset_all();
  // Each connection is reset after `bytes` forwarded in `dir` (counting from its start; the
  // first `bytes` are delivered). 0: off.
  void close_after(std::uint64_t bytes, Direction dir = Direction::downstream);
  // Pause: hold data in both directions (nothing is lost); resume: deliver it.
  void pause();
  void resume();
  // Back to plain forwarding (no latency, limit, blackhole, close_after or pause).
  void clear_faults();

  ProxyCounters counters() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace reservoir::tools
