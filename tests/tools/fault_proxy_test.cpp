// The fault proxy does what tests rely on: forwards faithfully, and injects each fault.
// Lower bounds on elapsed time are behaviour (the delay happened), never a speed claim.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "fault_proxy.hpp"
#include "scripted_server.hpp"

namespace reservoir::tools {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

void echo(ScriptedSocket& s) {
  for (;;) {
    std::string got = s.read_some(10s);
    if (got.empty() || !s.write(got)) return;
  }
}

// Reads from a client fd until `n` bytes arrived, the peer ended, or `wait` passed.
struct ReadResult {
  std::string bytes;
  bool eof = false;
  bool reset = false;
};
ReadResult read_n(int fd, std::size_t n, std::chrono::milliseconds wait) {
  ReadResult r;
  auto end = Clock::now() + wait;
  while (r.bytes.size() < n && Clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10) <= 0) continue;
    char buf[4096];
    ssize_t got = ::recv(fd, buf, sizeof buf, 0);
    if (got == 0) {
      r.eof = true;
      break;
    }
    if (got < 0) {
      r.reset = errno == ECONNRESET;
      break;
    }
    r.bytes.append(buf, static_cast<std::size_t>(got));
  }
  return r;
}

struct Client {
  explicit Client(std::uint16_t port) : fd(connect_loopback(port)) {}
  ~Client() {
    if (fd >= 0) ::close(fd);
  }
  bool send(std::string_view s) const { return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == ssize_t(s.size()); }
  ReadResult read(std::size_t n, std::chrono::milliseconds wait = 5s) {
    return read_n(fd, n, wait);
  }
  int fd;
};

TEST(FaultProxy, ForwardsBothWays) {
  ScriptedServer server(echo);
  FaultProxy proxy("127.0.0.1", server.port());
  Client c(proxy.port());
  ASSERT_GE(c.fd, 0);
  ASSERT_TRUE(c.send("hello"));
  EXPECT_EQ(c.read(5).bytes, "hello");
  // The proxy counts a chunk after its write completes, which may be after the client read it.
  for (int i = 0; i < 1000 && proxy.counters().downstream_bytes < 5; ++i) std::this_thread::sleep_for(1ms);
  auto counters = proxy.counters();
  EXPECT_EQ(counters.accepted, 1u);
  EXPECT_EQ(counters.upstream_bytes, 5u);
  EXPECT_EQ(counters.downstream_bytes, 5u);
}

TEST(FaultProxy, PassesTheServersCloseOn) {
  ScriptedServer server([](ScriptedSocket& s) {
    s.read_some();
    s.write("bye");
    s.close();
  });
  FaultProxy proxy("127.0.0.1", server.port());
  Client c(proxy.port());
  ASSERT_TRUE(c.send("x"));
  auto r = c.read(100);
  EXPECT_EQ(r.bytes, "bye");
  EXPECT_TRUE(r.eof);
}

TEST(FaultProxy, BlackholeAcceptsButNeverAnswers) {
  ScriptedServer server(echo);
  FaultProxy proxy("127.0.0.1", server.port());
  proxy.set_blackhole(true);
  Client c(proxy.port());
  ASSERT_GE(c.fd, 0);  // accepted
  ASSERT_TRUE(c.send("hello"));
  auto r = c.read(1, 200ms);
  EXPECT_EQ(r.bytes, "");
  EXPECT_FALSE(r.eof);
  EXPECT_EQ(server.accepted(), 0);  // never connected upstream
}

TEST(FaultProxy, BlackholeSilencesAnOpenConnectionToo) {
  ScriptedServer server(echo);
  FaultProxy proxy("127.0.0.1", server.port());
  Client c(proxy.port());
  ASSERT_TRUE(c.send("a"));
  ASSERT_EQ(c.read(1).bytes, "a");
  proxy.set_blackhole(true);
  ASSERT_TRUE(c.send("b"));
  EXPECT_EQ(c.read(1, 200ms).bytes, "");
  proxy.set_blackhole(false);
  ASSERT_TRUE(c.send("c"));
  EXPECT_EQ(c.read(1).bytes, "c");  // "b" was dropped, later data flows again
}

TEST(FaultProxy, ResetAllResetsOpenConnections) {
  ScriptedServer server(echo);
  FaultProxy proxy("127.0.0.1", server.port());
  Client c(proxy.port());
  ASSERT_TRUE(c.send("a"));
  ASSERT_EQ(c.read(1).bytes, "a");
  proxy.reset_all();
  auto r = c.read(1, 2s);
  EXPECT_TRUE(r.reset) << "eof=" << r.eof << " bytes=" << r.bytes;
  EXPECT_EQ(proxy.counters().resets, 1u);
  Client again(proxy.port());  // new connections still work
  ASSERT_TRUE(again.send("z"));
  EXPECT_EQ(again.read(1).bytes, "z");
}

TEST(FaultProxy, CloseAfterResetsMidResponse) {
  const std::string big(1000, 'x');
  ScriptedServer server([&](ScriptedSocket& s) {
    s.read_some();
    s.write(big);
    s.read_some(2s);
  });
  FaultProxy proxy("127.0.0.1", server.port());
  proxy.close_after(100);
  Client c(proxy.port());
  ASSERT_TRUE(c.send("go"));
  auto r = c.read(1000, 3s);
  EXPECT_EQ(r.bytes.size(), 100u);
  EXPECT_TRUE(r.reset);
}

TEST(FaultProxy, CloseAfterUpstreamCutsTheRequest) {
  ScriptedServer server(echo);
  FaultProxy proxy("127.0.0.1", server.port());
  proxy.close_after(3, Direction::upstream);
  Client c(proxy.port());
  ASSERT_TRUE(c.send("abcdef"));
  auto r = c.read(6, 3s);
  EXPECT_LE(r.bytes.size(), 3u);
  EXPECT_TRUE(r.reset);
}

TEST(FaultProxy, PauseHoldsDataAndResumeDeliversIt) {
  ScriptedServer server(echo);
  FaultProxy proxy("127.0.0.1", server.port());
  Client c(proxy.port());
  ASSERT_TRUE(c.send("a"));
  ASSERT_EQ(c.read(1).bytes, "a");
  proxy.pause();
  ASSERT_TRUE(c.send("held"));
  EXPECT_EQ(c.read(4, 200ms).bytes, "");
  proxy.resume();
  EXPECT_EQ(c.read(4).bytes, "held");
}

TEST(FaultProxy, LatencyDelaysEachDirection) {
  ScriptedServer server(echo);
  FaultProxy proxy("127.0.0.1", server.port());
  Client c(proxy.port());
  ASSERT_TRUE(c.send("a"));
  ASSERT_EQ(c.read(1).bytes, "a");  // connected before measuring
  proxy.set_latency(Direction::upstream, 60ms);
  proxy.set_latency(Direction::downstream, 40ms);
  auto start = Clock::now();
  ASSERT_TRUE(c.send("b"));
  ASSERT_EQ(c.read(1).bytes, "b");
  EXPECT_GE(Clock::now() - start, 100ms);
}

TEST(FaultProxy, BandwidthLimitPacesDelivery) {
  ScriptedServer server(echo);
  FaultProxy proxy("127.0.0.1", server.port());
  proxy.set_bandwidth(Direction::downstream, 10'000);
  Client c(proxy.port());
  const std::string payload(3000, 'y');
  auto start = Clock::now();
  ASSERT_TRUE(c.send(payload));
  EXPECT_EQ(c.read(payload.size()).bytes.size(), payload.size());
  EXPECT_GE(Clock::now() - start, 250ms);  // 3000 B at 10 kB/s: at least 0.3 s minus a pacing step
}

TEST(FaultProxy, UnreachableTargetResetsTheClient) {
  int port;
  {
    ScriptedServer gone(echo);  // a port that was free a moment ago
    port = gone.port();
  }
  FaultProxy proxy("127.0.0.1", static_cast<std::uint16_t>(port));
  Client c(proxy.port());
  auto r = c.read(1, 3s);
  EXPECT_TRUE(r.reset || r.eof);
  EXPECT_EQ(proxy.counters().connect_failures, 1u);
}

TEST(FaultProxy, SetTargetAppliesToNewConnections) {
  ScriptedServer first([](ScriptedSocket& s) { s.write("1"); s.read_some(2s); });
  ScriptedServer second([](ScriptedSocket& s) { s.write("2"); s.read_some(2s); });
  FaultProxy proxy("127.0.0.1", first.port());
  Client a(proxy.port());
  EXPECT_EQ(a.read(1).bytes, "1");
  proxy.set_target("127.0.0.1", second.port());
  Client b(proxy.port());
  EXPECT_EQ(b.read(1).bytes, "2");
}

TEST(FaultProxy, ClearFaultsRestoresForwarding) {
  ScriptedServer server(echo);
  FaultProxy proxy("127.0.0.1", server.port());
  proxy.set_blackhole(true);
  proxy.pause();
  proxy.close_after(1);
  proxy.clear_faults();
  Client c(proxy.port());
  ASSERT_TRUE(c.send("abc"));
  EXPECT_EQ(c.read(3).bytes, "abc");
}

#ifdef RESERVOIR_FAULT_PROXY_BIN
TEST(FaultProxyBinary, SpeaksTheLineProtocol) {
  std::string cmd = std::string("printf 'latency both 250\\nbandwidth down 0\\nblackhole on\\nclose_after 10 up\\n"
                                "stats\\nbogus\\nlatency sideways 1\\nquit\\n' | ") +
                    RESERVOIR_FAULT_PROXY_BIN + " --target 127.0.0.1:9";
  FILE* out = ::popen(cmd.c_str(), "r");
  ASSERT_NE(out, nullptr);
  std::string all;
  char buf[512];
  while (std::fgets(buf, sizeof buf, out)) all += buf;
  EXPECT_EQ(::pclose(out), 0);
  EXPECT_NE(all.find("listening 127.0.0.1:"), std::string::npos) << all;
  EXPECT_NE(all.find("ok\nok\nok\nok\naccepted 0 open 0"), std::string::npos) << all;
  EXPECT_NE(all.find("error: unknown command 'bogus'"), std::string::npos) << all;
  EXPECT_NE(all.find("error: usage: latency up|down|both N"), std::string::npos) << all;
}
#endif

}  // namespace
}  // namespace reservoir::tools
