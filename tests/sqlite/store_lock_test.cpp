// StoreLock across real processes and within one process.
#include "reservoir/sqlite/store_lock.hpp"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "sqlite_test_support.hpp"

namespace reservoir::sqlite {
namespace {

using testing::Child;
using testing::in_10s;
using testing::in_ms;
using testing::TempDir;

TEST(StoreLock, SecondProcessGetsBusyNamingTheLiveHolder) {
  TempDir dir;
  const std::string store = dir.file("x.db");
  Child holder({"hold", store, "holder-prog"});
  ASSERT_TRUE(holder.wait_ready());

  auto lock = StoreLock::acquire(store, in_10s());
  ASSERT_FALSE(lock);
  const Error& e = lock.error();
  EXPECT_EQ(e.kind(), ErrorKind::busy);
  EXPECT_TRUE(e.retryable());
  const std::string msg = e.message();
  EXPECT_NE(msg.find("store " + std::filesystem::canonical(dir.path()).string() + "/x.db is in use by pid " +
                     std::to_string(holder.pid()) + " (holder-prog, since "),
            std::string::npos)
      << msg;
}

TEST(StoreLock, WaitingHolderIsStillBusyAtTheEndOfTheWait) {
  TempDir dir;
  const std::string store = dir.file("x.db");
  Child holder({"hold", store, "holder-prog"});
  ASSERT_TRUE(holder.wait_ready());
  auto lock = StoreLock::acquire(store, in_10s(), {.wait = std::chrono::milliseconds(100)});
  ASSERT_FALSE(lock);
  EXPECT_EQ(lock.error().kind(), ErrorKind::busy);
  EXPECT_NE(lock.error().message().find("waited"), std::string::npos) << lock.error().message();
}

TEST(StoreLock, ProgramNameDefaultsToTheHoldersOwn) {
  TempDir dir;
  const std::string store = dir.file("x.db");
  Child holder({"hold", store});
  ASSERT_TRUE(holder.wait_ready());
  auto owner = StoreLock::read_owner(store);
  ASSERT_TRUE(owner.has_value());
  EXPECT_EQ(owner->pid, holder.pid());
  EXPECT_NE(owner->program.find("reservoir_sql"), std::string::npos) << owner->program;  // comm is 15 chars
  EXPECT_GT(owner->since_unix, 0);
}

TEST(StoreLock, LockOfAKilledHolderIsRecoveredAndLogged) {
  TempDir dir;
  const std::string store = dir.file("x.db");
  Child holder({"hold", store, "doomed"});
  ASSERT_TRUE(holder.wait_ready());
  const pid_t dead = holder.pid();
  holder.kill9();
  ASSERT_TRUE(std::filesystem::exists(store + ".lock"));  // the stale record stays behind

  auto logger = std::make_shared<testing::CapturingLogger>();
  auto lock = StoreLock::acquire(store, in_10s(), {.logger = logger});
  ASSERT_TRUE(lock) << lock.error().message();
  EXPECT_TRUE(lock->recovered());
  const auto lines = logger->lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("warn: recovered store lock"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("pid " + std::to_string(dead) + " (doomed"), std::string::npos) << lines[0];
  auto owner = StoreLock::read_owner(store);
  ASSERT_TRUE(owner.has_value());
  EXPECT_EQ(owner->pid, ::getpid());  // the stale record was replaced
}

TEST(StoreLock, ARecordWithoutAnOsLockDoesNotBlock) {
  // A record naming a live process (pid 1) is not proof of ownership: only the OS lock is.
  TempDir dir;
  const std::string store = dir.file("x.db");
  testing::write_bytes(store + ".lock", "pid=1\nhost=elsewhere\nprogram=init\nsince=1\n");
  auto logger = std::make_shared<testing::CapturingLogger>();
  auto lock = StoreLock::acquire(store, in_10s(), {.logger = logger});
  ASSERT_TRUE(lock) << lock.error().message();
  EXPECT_TRUE(lock->recovered());
  EXPECT_EQ(logger->lines().size(), 1u);
}

TEST(StoreLock, SameProcessSharesOneOwnership) {
  TempDir dir;
  const std::string store = dir.file("x.db");
  auto a = StoreLock::acquire(store, in_10s());
  ASSERT_TRUE(a) << a.error().message();
  // Another spelling of the same path shares the same ownership.
  auto b = StoreLock::acquire(dir.path().string() + "/./x.db", in_10s());
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_TRUE(a->first_share());
  EXPECT_FALSE(b->first_share());
  EXPECT_EQ(a->shares(), 2);
  EXPECT_EQ(a->path(), b->path());

  // Another process still sees it held.
  Child other({"try", store});
  EXPECT_EQ(other.wait(), 3);

  a->release();
  EXPECT_TRUE(std::filesystem::exists(store + ".lock"));
  EXPECT_EQ(b->shares(), 1);
  b->release();
  EXPECT_FALSE(std::filesystem::exists(store + ".lock"));  // the last releaser cleans up
  Child again({"try", store});
  EXPECT_EQ(again.wait(), 0);
}

TEST(StoreLock, ThreadsRacingForOnePathAllShare) {
  TempDir dir;
  const std::string store = dir.file("x.db");
  constexpr int kThreads = 8;
  std::vector<StoreLock> locks(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      auto l = StoreLock::acquire(store, in_10s());
      if (l) locks[static_cast<std::size_t>(i)] = std::move(l).value();
      else failures.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(locks[0].shares(), kThreads);
  int firsts = 0;
  for (auto& l : locks) firsts += l.first_share() ? 1 : 0;
  EXPECT_EQ(firsts, 1);
}

TEST(StoreLock, ReacquireRightAfterReleaseInTheSameProcess) {
  TempDir dir;
  const std::string store = dir.file("x.db");
  for (int i = 0; i < 50; ++i) {
    auto l = StoreLock::acquire(store, in_10s());
    ASSERT_TRUE(l) << l.error().message();
    EXPECT_FALSE(l->recovered());
  }
}

TEST(StoreLock, WaitsForAHolderThatExitsWithinTheWait) {
  TempDir dir;
  const std::string store = dir.file("x.db");
  Child holder({"hold", store, "brief", "300"});
  ASSERT_TRUE(holder.wait_ready());
  auto lock = StoreLock::acquire(store, in_10s(), {.wait = std::chrono::seconds(10)});
  ASSERT_TRUE(lock) << lock.error().message();
  EXPECT_FALSE(lock->recovered());  // a clean exit released it: nothing to recover
}

// `wait` is "further bounded by the caller's deadline", so milliseconds::max() reads as "as
// long as the deadline allows". Converting it to nanoseconds overflowed into a negative wait,
// and the acquire gave up at once.
TEST(StoreLock, HugeWaitMeansUpToTheDeadline) {
  TempDir dir;
  const std::string store = dir.file("x.db");
  Child holder({"hold", store, "brief", "300"});
  ASSERT_TRUE(holder.wait_ready());
  auto lock = StoreLock::acquire(store, in_10s(),
                                 {.wait = std::chrono::milliseconds::max(), .poll_interval = std::chrono::milliseconds(20)});
  ASSERT_TRUE(lock) << lock.error().message();
  // A huge poll interval is bounded by the deadline the same way (no overflow into a spin).
  auto again = StoreLock::acquire(dir.file("y.db"), in_10s(), {.poll_interval = std::chrono::milliseconds::max()});
  EXPECT_TRUE(again) << again.error().message();
}

// A negative wait passed as "fail at once" unchecked; both are refused in the one wording.
TEST(StoreLock, BadOptionsNameFieldValueAndWhatIsAllowed) {
  TempDir dir;
  auto neg = StoreLock::acquire(dir.file("x.db"), in_10s(), {.wait = std::chrono::milliseconds(-5)});
  ASSERT_FALSE(neg);
  EXPECT_EQ(neg.error().message(), "invalid_config: wait=-5ms: allowed 0 or more");
  auto zero = StoreLock::acquire(dir.file("x.db"), in_10s(), {.poll_interval = std::chrono::milliseconds(0)});
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().message(), "invalid_config: poll_interval=0: allowed 1ms or more");
}

TEST(StoreLock, WaitIsPolledOnTheInjectedClock) {
  TempDir dir;
  const std::string store = dir.file("x.db");
  Child holder({"hold", store, "holder-prog"});
  ASSERT_TRUE(holder.wait_ready());
  ManualClock clock;
  std::optional<Error> got;
  std::thread waiter([&] {
    auto l = StoreLock::acquire(store, Deadline::after(clock, std::chrono::seconds(60)),
                                {.wait = std::chrono::seconds(1)});
    if (!l) got = l.error();
  });
  // Time moves only when the test moves it; the acquirer gives up once 1 s of clock time has
  // passed, long before its 60 s deadline.
  std::atomic<bool> done{false};
  std::thread mover([&] {
    while (!done.load()) {
      if (clock.waiters() > 0) clock.advance(std::chrono::milliseconds(20));
      std::this_thread::yield();
    }
  });
  waiter.join();
  done = true;
  mover.join();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->kind(), ErrorKind::busy);
  EXPECT_NE(got->message().find("; waited "), std::string::npos) << got->message();
  EXPECT_LT(clock.now() - ManualClock().now(), std::chrono::seconds(60));
}

TEST(StoreLock, AHolderThatDiesWhileWeWaitIsRecovered) {
  TempDir dir;
  const std::string store = dir.file("x.db");
  Child holder({"hold", store, "dies-soon"});
  ASSERT_TRUE(holder.wait_ready());
  auto logger = std::make_shared<testing::CapturingLogger>();
  // The wait polls on a manual clock: once it sleeps there, the acquirer has found the lock
  // held, so the holder dies while we wait (not before we looked).
  ManualClock clock;
  std::atomic<bool> done{false};
  std::optional<Result<StoreLock>> got;
  std::thread waiter([&] {
    got = StoreLock::acquire(store, Deadline::after(clock, std::chrono::seconds(60)),
                             {.wait = std::chrono::seconds(10), .logger = logger});
    done = true;
  });
  while (clock.waiters() == 0) std::this_thread::yield();
  holder.kill9();
  while (!done) {
    if (clock.waiters() > 0) clock.advance(std::chrono::milliseconds(20));
    std::this_thread::yield();
  }
  waiter.join();
  ASSERT_TRUE(got.has_value());
  ASSERT_TRUE(*got) << got->error().message();
  EXPECT_TRUE((*got)->recovered());
  EXPECT_EQ(logger->lines().size(), 1u);
}

TEST(StoreLock, AForkedChildDroppingItsCopyKeepsTheParentsLock) {
  TempDir dir;
  const std::string store = dir.file("x.db");
  auto lock = StoreLock::acquire(store, in_10s());
  ASSERT_TRUE(lock);
  const pid_t pid = ::fork();
  if (pid == 0) {
    lock->release();  // the child's copy of the share: must neither unlink nor unlock
    ::_exit(0);
  }
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(std::filesystem::exists(store + ".lock"));
  Child other({"try", store});
  EXPECT_EQ(other.wait(), 3);  // still busy: the parent owns the store
}

TEST(StoreLock, MissingDirectoryIsAClearErrorAndCreatesNothing) {
  TempDir dir;
  auto lock = StoreLock::acquire(dir.file("missing/x.db"), in_10s());
  ASSERT_FALSE(lock);
  EXPECT_EQ(lock.error().kind(), ErrorKind::unavailable);
  EXPECT_NE(lock.error().message().find("does not exist"), std::string::npos) << lock.error().message();
  EXPECT_TRUE(dir.entries().empty());
}

TEST(StoreLock, DirectoryOrEmptyPathIsInvalid) {
  TempDir dir;
  EXPECT_EQ(StoreLock::acquire("", in_10s()).error().kind(), ErrorKind::invalid_argument);
  EXPECT_EQ(StoreLock::acquire(dir.path().string(), in_10s()).error().kind(), ErrorKind::invalid_argument);
}

}  // namespace
}  // namespace reservoir::sqlite
