// StoreLock: flock on `<store>.lock` + owner record + a process-wide registry of shares.
#include "reservoir/sqlite/store_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <mutex>

#include "core/process_registry.hpp"
#include "reservoir/config_check.hpp"
#include "reservoir/duration.hpp"

namespace reservoir::sqlite {

namespace detail {

// This process's ownership of one store: the locked descriptor. Shared by every StoreLock on
// the same canonical path.
struct StoreLockHolder {
  std::string store_path;
  std::string lock_path;
  int fd = -1;
  pid_t pid = 0;  // the process that took the lock; a forked child must not unlink it
  bool recovered = false;

  StoreLockHolder() = default;
  StoreLockHolder(const StoreLockHolder&) = delete;
  StoreLockHolder& operator=(const StoreLockHolder&) = delete;
  ~StoreLockHolder() {
    if (fd < 0) return;
    // Unlink while the flock is still held: a process blocked on the old inode notices the
    // inode changed once it gets the lock, and retries on a fresh file.
    if (pid == ::getpid()) ::unlink(lock_path.c_str());
    ::close(fd);
  }
};

// The canonical store path: symlinks and `..` resolved, so two spellings share one lock (and
// one writer gate).
Result<std::string> canonical_store_path(std::string_view path) {
  namespace fs = std::filesystem;
  if (path.empty()) return Error::make(ErrorKind::invalid_argument, "store path is empty");
  std::error_code ec;
  const fs::path p = fs::absolute(fs::path(path), ec);
  if (ec) return Error::unavailable(path, ec.message());
  if (fs::is_directory(p, ec)) {
    return Error::make(ErrorKind::invalid_argument, std::string(path) + ": is a directory, not a store file");
  }
  const fs::path dir = p.parent_path();
  if (!fs::is_directory(dir, ec)) {
    return Error(ErrorKind::unavailable, std::string(path) + ": directory " + dir.string() + " does not exist",
                 false);
  }
  if (fs::exists(p, ec)) return fs::canonical(p, ec).string();
  return (fs::canonical(dir, ec) / p.filename()).string();
}

}  // namespace detail

namespace {

using detail::StoreLockHolder;

struct RegistrySlot {
  std::weak_ptr<StoreLockHolder> holder;
  bool acquiring = false;  // a thread of this process is taking the OS lock for this path
};

// A process registry (never destroyed: shares may outlive static teardown).
struct StoreLocks {
  std::condition_variable cv;
  std::map<std::string, RegistrySlot> slots;

  // The thread that was taking a lock does not exist in the child; its slot must not stay
  // "acquiring" forever.
  void after_fork_in_child_locked() {
    for (auto& [path, slot] : slots) slot.acquiring = false;
  }
};

using Registry = reservoir::detail::ProcessRegistry<StoreLocks>;


std::string errno_text(int err) { return std::strerror(err); }

std::string this_host() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

std::string default_program() {
#ifdef __GLIBC__
  return program_invocation_short_name;
#else
  return "unknown";
#endif
}

std::string format_utc(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string owner_record(const StoreOwner& o) {
  return "pid=" + std::to_string(o.pid) + "\nhost=" + o.host + "\nprogram=" + o.program +
         "\nsince=" + std::to_string(o.since_unix) + "\n";
}

std::optional<StoreOwner> parse_owner(const std::string& text) {
  StoreOwner o;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    if (key == "pid") o.pid = static_cast<pid_t>(std::atol(value.c_str()));
    else if (key == "host") o.host = value;
    else if (key == "program") o.program = value;
    else if (key == "since") o.since_unix = std::atoll(value.c_str());
  }
  if (o.pid <= 0) return std::nullopt;
  return o;
}

std::string read_fd(int fd) {
  std::string out;
  char buf[512];
  for (off_t off = 0; out.size() < 4096;) {
    const ssize_t n = ::pread(fd, buf, sizeof buf, off);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    off += n;
  }
  return out;
}

// One non-blocking attempt at the OS lock.
struct LockTry {
  enum class Outcome { locked, held, failed } outcome = Outcome::failed;
  int fd = -1;                       // locked: the descriptor, lock held
  std::optional<StoreOwner> owner;   // locked: a dead owner's record; held: the live owner's
  std::optional<Error> error;        // failed
};

LockTry try_lock_once(const std::string& store_path, const std::string& lock_path) {
  for (int tries = 0; tries < 100; ++tries) {
    const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
      const int err = errno;
      return {LockTry::Outcome::failed, -1, {},
              Error(ErrorKind::unavailable, store_path + ": cannot open lock file " + lock_path + ": " + errno_text(err),
                    false)};
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      if (err == EWOULDBLOCK) {
        auto owner = parse_owner(read_fd(fd));
        ::close(fd);
        return {LockTry::Outcome::held, -1, std::move(owner), {}};
      }
      ::close(fd);
      return {LockTry::Outcome::failed, -1, {},
              Error(ErrorKind::unavailable, store_path + ": cannot lock " + lock_path + ": " + errno_text(err), false)};
    }
    struct stat by_fd {}, by_path {};
    if (::fstat(fd, &by_fd) == 0 && ::stat(lock_path.c_str(), &by_path) == 0 && by_fd.st_ino == by_path.st_ino &&
        by_fd.st_dev == by_path.st_dev) {
      return {LockTry::Outcome::locked, fd, parse_owner(read_fd(fd)), {}};
    }
    ::close(fd);  // the previous owner unlinked this file as it released it: take the new one
  }
  return {LockTry::Outcome::failed, -1, {}, Error::make(ErrorKind::internal, store_path + ": lock file keeps being replaced")};
}

Status write_owner(int fd, const std::string& store_path, const std::string& program) {
  const StoreOwner me{::getpid(), this_host(), program,
                      std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count()};
  const std::string record = owner_record(me);
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, record.data(), record.size(), 0) != static_cast<ssize_t>(record.size())) {
    const int err = errno;
    return Error(ErrorKind::unavailable, store_path + ": cannot write owner record: " + errno_text(err), false);
  }
  return {};
}

Error busy_error(const std::string& store_path, const std::optional<StoreOwner>& owner, Duration waited) {
  std::string d = "store " + store_path + " is in use by ";
  d += owner ? owner->describe() : std::string("another process (its owner record is not written yet)");
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(waited).count();
  if (ms > 0) d += "; waited " + std::to_string(ms) + " ms";
  return Error::make(ErrorKind::busy, std::move(d));
}

// milliseconds -> Duration without overflow: a huge wait means "up to the deadline", not a
// negative one that gives up at once.
bool is_this_process(const std::optional<StoreOwner>& owner) {
  return owner && owner->pid == ::getpid() && owner->host == this_host();
}

// Polls the OS lock until it is ours, or the wait (or deadline) runs out. A record naming
// this very process means a share here is being released right now: keep polling up to the
// deadline even when the configured wait is zero.
Result<std::shared_ptr<StoreLockHolder>> lock_os(const std::string& store_path, Deadline deadline,
                                                 const StoreLockOptions& options) {
  const Clock& clock = deadline.clock();
  const TimePoint start = clock.now();
  const Deadline wait_end = deadline.capped(saturating_cast(options.wait));
  const std::string lock_path = store_path + ".lock";
  for (;;) {
    LockTry a = try_lock_once(store_path, lock_path);
    if (a.outcome == LockTry::Outcome::failed) return std::move(*a.error);
    if (a.outcome == LockTry::Outcome::locked) {
      auto holder = std::make_shared<StoreLockHolder>();
      holder->store_path = store_path;
      holder->lock_path = lock_path;
      holder->fd = a.fd;
      holder->pid = ::getpid();
      holder->recovered = a.owner.has_value();
      const std::string program = options.program.empty() ? default_program() : options.program;
      if (auto st = write_owner(a.fd, store_path, program); !st) return std::move(st).error();
      if (a.owner) {
        auto logger = options.logger ? options.logger : stderr_logger(LogLevel::warn);
        logger->log(LogLevel::warn, "recovered store lock " + lock_path + " left by " + a.owner->describe() +
                                        ", which died without releasing it");
      }
      return holder;
    }
    const Deadline& end = is_this_process(a.owner) ? deadline : wait_end;
    if (end.expired()) return busy_error(store_path, a.owner, clock.now() - start);
    clock.sleep_until(std::min(Deadline::after(clock, saturating_cast(options.poll_interval)).when(), end.when()));
  }
}

}  // namespace

std::string StoreOwner::describe() const {
  std::string d = "pid " + std::to_string(pid) + " (" + (program.empty() ? "unknown program" : program) +
                  ", since " + format_utc(since_unix) + ")";
  if (!host.empty() && host != this_host()) d += " on host " + host;
  return d;
}

Result<StoreLock> StoreLock::acquire(std::string_view store_path, Deadline deadline, StoreLockOptions options) {
  for (Status s : {config_check::duration_at_least("wait", options.wait, std::chrono::milliseconds(0)),
                   config_check::duration_at_least("poll_interval", options.poll_interval, std::chrono::milliseconds(1))}) {
    if (!s) return std::move(s).error();
  }
  auto canonical = detail::canonical_store_path(store_path);
  if (!canonical) return std::move(canonical).error();
  const std::string& path = canonical.value();

  Registry& registry = Registry::instance();
  StoreLocks& reg = registry.state();
  std::unique_lock lock(registry.mutex());
  for (;;) {
    RegistrySlot& slot = reg.slots[path];
    if (auto h = slot.holder.lock(); h && h->pid == ::getpid()) return StoreLock(std::move(h), false);
    if (!slot.acquiring) break;
    if (deadline.expired()) {
      return Error::timeout("store " + path + ": another thread of this process is still taking its lock");
    }
    deadline.clock().wait_until(reg.cv, lock, deadline.when());
  }
  reg.slots[path].acquiring = true;
  lock.unlock();

  auto holder = lock_os(path, deadline, options);  // I/O and waiting: outside the registry lock

  lock.lock();
  RegistrySlot& slot = reg.slots[path];
  slot.acquiring = false;
  if (holder) slot.holder = holder.value();
  else if (slot.holder.expired()) reg.slots.erase(path);
  reg.cv.notify_all();
  if (!holder) return std::move(holder).error();
  return StoreLock(std::move(holder).value(), true);
}

std::optional<StoreOwner> StoreLock::read_owner(std::string_view store_path) {
  auto canonical = detail::canonical_store_path(store_path);
  if (!canonical) return std::nullopt;
  const int fd = ::open((canonical.value() + ".lock").c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return std::nullopt;
  auto owner = parse_owner(read_fd(fd));
  ::close(fd);
  return owner;
}

StoreLock::~StoreLock() { release(); }

void StoreLock::release() noexcept {
  // The holder's destructor (unlink + close) runs outside the registry lock; a same-process
  // acquirer racing it sees its own pid in the record and polls until it is gone.
  holder_.reset();
}

const std::string& StoreLock::path() const noexcept {
  static const std::string kEmpty;
  return holder_ ? holder_->store_path : kEmpty;
}

const std::string& StoreLock::lock_path() const noexcept {
  static const std::string kEmpty;
  return holder_ ? holder_->lock_path : kEmpty;
}

long StoreLock::shares() const noexcept { return holder_ ? holder_.use_count() : 0; }

bool StoreLock::recovered() const noexcept { return holder_ && holder_->recovered; }

}  // namespace reservoir::sqlite
