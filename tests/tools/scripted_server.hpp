// tests/tools/scripted_server.hpp — ScriptedServer: a raw TCP server on 127.0.0.1:0 whose every
// connection runs a test-supplied script on its own thread (echo, a garbled protocol, a peer
// that stops mid-message...). Blocking POSIX sockets; for tests only.
//
//   ScriptedServer server([](ScriptedSocket& s) { s.write("HTTP/1.1 200 OK\r\n"); s.close(); });
//   connect_to("127.0.0.1", server.port());
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace reservoir::tools {

class ScriptedSocket {
 public:
  explicit ScriptedSocket(int fd) noexcept : fd_(fd) {}
  ~ScriptedSocket();
  ScriptedSocket(const ScriptedSocket&) = delete;
  ScriptedSocket& operator=(const ScriptedSocket&) = delete;

  // Reads what is available, waiting up to `wait`; "" on timeout, end of stream or error.
  std::string read_some(std::chrono::milliseconds wait = std::chrono::milliseconds(5000));
  // Reads until `marker` was seen (e.g. "\r\n\r\n" for a request head); returns all read so far.
  std::string read_until(std::string_view marker, std::chrono::milliseconds wait = std::chrono::milliseconds(5000));
  // Writes everything; false if the peer went away.
  bool write(std::string_view bytes);
  void close();  // FIN
  void reset();  // RST (SO_LINGER 0)
  int fd() const noexcept { return fd_; }

 private:
  int fd_;
};

class ScriptedServer {
 public:
  using Script = std::function<void(ScriptedSocket&)>;
  explicit ScriptedServer(Script script);
  // Stops accepting and waits for every running script (scripts should end on their own; their
  // sockets are shut down to unblock reads).
  ~ScriptedServer();
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  int accepted() const noexcept { return accepted_.load(); }

 private:
  void accept_loop();

  Script script_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::mutex mu_;
  std::vector<int> open_fds_;
  std::vector<std::thread> workers_;
  std::thread acceptor_;
};

// A blocking client socket for tests: connect to 127.0.0.1:port. -1 on failure.
int connect_loopback(std::uint16_t port);

}  // namespace reservoir::tools
