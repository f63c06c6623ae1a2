// tests/http_asio/descriptors.hpp — the kernel's view of this process's sockets and epoll
// instances (/proc/self/fd, /proc/self/fdinfo), to see where a connection's descriptor is
// registered without reaching into the library.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace reservoir::http::test {

inline std::vector<int> open_descriptors() {
  std::vector<int> fds;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    fds.push_back(std::stoi(entry.path().filename().string()));
  }
  return fds;
}

// The TCP sockets of this process connected to 127.0.0.1:`port`.
inline std::vector<int> sockets_to(std::uint16_t port) {
  std::vector<int> out;
  for (int fd : open_descriptors()) {
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0 && peer.sin_family == AF_INET &&
        ntohs(peer.sin_port) == port) {
      out.push_back(fd);
    }
  }
  return out;
}

inline bool is_nonblocking(int fd) { return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }
inline bool is_open_descriptor(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

// The epoll instances of this process that hold `fd` (their fdinfo lists it as "tfd: fd").
inline std::vector<int> epolls_holding(int fd) {
  std::vector<int> out;
  for (int e : open_descriptors()) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(e), ec);
    if (ec || target.string() != "anon_inode:[eventpoll]") continue;
    std::ifstream info("/proc/self/fdinfo/" + std::to_string(e));
    for (std::string word; info >> word;) {
      if (word != "tfd:") continue;
      int registered = -1;
      if (info >> registered && registered == fd) out.push_back(e);
    }
  }
  return out;
}

}  // namespace reservoir::http::test
