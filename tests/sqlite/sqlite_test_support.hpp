// Shared by the SQLite tests: a fresh temp directory per test, a real child process running
// the helper program, and a logger that keeps what it was told.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "reservoir/clock.hpp"
#include "reservoir/deadline.hpp"
#include "reservoir/logger.hpp"
#include "reservoir/sqlite/connector.hpp"

namespace reservoir::testing {

inline Deadline in_ms(long ms) { return Deadline::after(SteadyClock::instance(), std::chrono::milliseconds(ms)); }
inline Deadline in_10s() { return in_ms(10'000); }

// The connector for a config the test means to be valid; anything else ends the test binary.
inline sqlite::Connector valid_connector(sqlite::Config config) {
  auto connector = sqlite::Connector::create(std::move(config));
  if (!connector) {
    ADD_FAILURE() << connector.error().message();
    std::abort();
  }
  return std::move(connector).value();
}

// A directory removed with everything in it when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "reservoir-sqlite-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all, std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // Names of the entries in the directory.
  std::set<std::string> entries() const {
    std::set<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path_)) out.insert(e.path().filename().string());
    return out;
  }

 private:
  std::filesystem::path path_;
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// The helper program (tests/sqlite/helper) running as a real second process.
class Child {
 public:
  explicit Child(std::vector<std::string> args) : args_(std::move(args)) {
    // Built before fork(): the child of a threaded process may only call async-signal-safe
    // functions until it execs.
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(RESERVOIR_SQLITE_HELPER));
    for (auto& a : args_) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fds[2];
    if (::pipe(fds) != 0) std::abort();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::close(fds[0]);
      ::close(fds[1]);
      ::execv(RESERVOIR_SQLITE_HELPER, argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_ = fds[0];
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      (void)wait();
    }
    if (out_ >= 0) ::close(out_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }

  // True once the child printed `ready`; false if it exited or 10 s passed first.
  bool wait_ready() {
    std::string got;
    const Deadline deadline = in_10s();
    while (!deadline.expired()) {
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, deadline.remaining_ms()) <= 0) continue;
      char buf[128];
      const ssize_t n = ::read(out_, buf, sizeof buf);
      if (n <= 0) return false;
      got.append(buf, static_cast<std::size_t>(n));
      if (got.find("ready") != std::string::npos) return true;
    }
    return false;
  }

  void kill9() {
    ::kill(pid_, SIGKILL);
    (void)wait();
  }

  // Waits for exit; returns the exit status (or 128 + signal).
  int wait() {
    if (pid_ <= 0) return exit_code_;
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return exit_code_;
  }

 private:
  std::vector<std::string> args_;
  pid_t pid_ = -1;
  int out_ = -1;
  int exit_code_ = -1;
};

// Keeps every message it receives.
class CapturingLogger final : public Logger {
 public:
  void log(LogLevel level, std::string_view message) noexcept override {
    std::lock_guard g(mu_);
    lines_.push_back(std::string(to_string(level)) + ": " + std::string(message));
  }
  std::vector<std::string> lines() const {
    std::lock_guard g(mu_);
    return lines_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

}  // namespace reservoir::testing
