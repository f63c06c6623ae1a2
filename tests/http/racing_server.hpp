// tests/http/racing_server.hpp — a scripted server that loses the stale keep-alive race
// (Go #22158, hyper #2136) on purpose, for the blocking and the asynchronous request tests.
#pragma once

#include <atomic>
#include <string>
#include <string_view>

#include "scripted_server.hpp"

namespace reservoir::http::test {

// The first connection answers one request, then reads the second and closes without an
// answer; later connections answer everything. Counts requests by method.
struct RacingServer {
  static constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  std::atomic<int> connections{0};
  std::atomic<int> posts{0};
  std::atomic<int> gets{0};
  tools::ScriptedServer server{[this](tools::ScriptedSocket& s) {
    int index = connections++;
    for (int served = 0;; ++served) {
      std::string head = s.read_until("\r\n\r\n");
      if (head.empty()) return;
      (head.rfind("POST", 0) == 0 ? posts : gets)++;
      if (index == 0 && served == 1) {
        s.close();
        return;
      }
      if (!s.write(kOk)) return;
    }
  }};
};

}  // namespace reservoir::http::test
