// reservoir_fault_proxy — the FaultProxy as a process, for benchmarks and shell scripts.
//
//   reservoir_fault_proxy --target 127.0.0.1:5432 [--listen 127.0.0.1:0]
//
// Prints `listening 127.0.0.1:PORT` on stdout, then reads one command per line on stdin and
// answers each with `ok`, `error: ...` or (for `stats`) one line of counters:
//   latency up|down|both MICROSECONDS     bandwidth up|down|both BYTES_PER_SECOND (0: off)
//   blackhole on|off                      reset
//   close_after N [up|down|both]          pause | resume | clear
//   target HOST:PORT                      stats
//   quit                                  (end of input also quits)
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>

#include "fault_proxy.hpp"

namespace {

using reservoir::tools::Direction;
using reservoir::tools::FaultProxy;

struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};

std::optional<HostPort> parse_host_port(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  try {
    std::size_t used = 0;
    unsigned long port = std::stoul(s.substr(colon + 1), &used);
    if (used != s.size() - colon - 1 || port > 65535) return std::nullopt;
    return HostPort{s.substr(0, colon), static_cast<std::uint16_t>(port)};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<Direction> parse_direction(const std::string& s) {
  if (s == "up") return Direction::upstream;
  if (s == "down") return Direction::downstream;
  if (s == "both") return Direction::both;
  return std::nullopt;
}

std::optional<std::uint64_t> parse_count(const std::string& s) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  try {
    return std::stoull(s);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Runs one command line; returns the reply, or nullopt for `quit`.
std::optional<std::string> run_command(FaultProxy& proxy, const std::string& line) {
  std::istringstream in(line);
  std::string cmd, a, b;
  in >> cmd >> a >> b;
  if (cmd == "quit") return std::nullopt;
  if (cmd == "latency" || cmd == "bandwidth") {
    auto dir = parse_direction(a);
    auto n = parse_count(b);
    if (!dir || !n) return "error: usage: " + cmd + " up|down|both N";
    if (cmd == "latency") proxy.set_latency(*dir, std::chrono::microseconds(*n));
    else proxy.set_bandwidth(*dir, *n);
    return "ok";
  }
  if (cmd == "blackhole" && (a == "on" || a == "off")) {
    proxy.set_blackhole(a == "on");
    return "ok";
  }
  if (cmd == "close_after") {
    auto n = parse_count(a);
    auto dir = b.empty() ? std::optional(Direction::downstream) : parse_direction(b);
    if (!n || !dir) return "error: usage: close_after N [up|down|both]";
    proxy.close_after(*n, *dir);
    return "ok";
  }
  if (cmd == "target") {
    auto hp = parse_host_port(a);
    if (!hp) return "error: usage: target HOST:PORT";
    proxy.set_target(hp->host, hp->port);
    return "ok";
  }
  if (cmd == "reset") proxy.reset_all();
  else if (cmd == "pause") proxy.pause();
  else if (cmd == "resume") proxy.resume();
  else if (cmd == "clear") proxy.clear_faults();
  else if (cmd == "stats") {
    auto c = proxy.counters();
    return "accepted " + std::to_string(c.accepted) + " open " + std::to_string(c.open) + " up_bytes " +
           std::to_string(c.upstream_bytes) + " down_bytes " + std::to_string(c.downstream_bytes) + " resets " +
           std::to_string(c.resets) + " connect_failures " + std::to_string(c.connect_failures);
  } else {
    return "error: unknown command '" + cmd + "'";
  }
  return "ok";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"TCP fault proxy for reservoir's tests and benchmarks"};
  std::string target, listen = "127.0.0.1:0";
  app.add_option("--target", target, "HOST:PORT to forward to")->required();
  app.add_option("--listen", listen, "HOST:PORT to listen on (port 0: a free one)");
  CLI11_PARSE(app, argc, argv);
  auto t = parse_host_port(target);
  auto l = parse_host_port(listen);
  if (!t || !l) {
    std::cerr << "reservoir_fault_proxy: expected HOST:PORT\n";
    return 2;
  }
  try {
    FaultProxy proxy(t->host, t->port, l->host, l->port);
    std::cout << "listening " << proxy.host() << ":" << proxy.port() << std::endl;
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line.empty()) continue;
      auto reply = run_command(proxy, line);
      if (!reply) break;
      std::cout << *reply << std::endl;
    }
  } catch (const std::exception& e) {
    std::cerr << "reservoir_fault_proxy: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
