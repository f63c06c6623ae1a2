// Connect threads are joined, never left running past the pool: destroyed with a connect in
// flight, destroyed from one of its own connect threads, and in a fork child.
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "callback_box.hpp"
#include "pool_fixture.hpp"
#include "thread_count.hpp"

namespace reservoir::testing {
namespace {

// The fake, with connects that wait for open() (bounded in real time, so a bug fails instead
// of hanging the run) and a hook run inside connect, on the connect thread.
class GatedConnector final : public Connector {
 public:
  explicit GatedConnector(std::shared_ptr<FakeConnector> fake) : fake_(std::move(fake)) {}

  void set_open(bool open) {
    std::lock_guard g(mu_);
    open_ = open;
    cv_.notify_all();
  }
  int entered() const { return entered_.load(); }
  std::function<void()> during_connect;  // set before the pool is shared

  Result<std::unique_ptr<Connection>> connect(Deadline deadline) override {
    entered_.fetch_add(1);
    if (during_connect) during_connect();
    {
      std::unique_lock lk(mu_);
      if (!cv_.wait_for(lk, std::chrono::seconds(30), [&] { return open_; })) {
        return Error::timeout("gated connect never opened");
      }
    }
    return fake_->connect(deadline);
  }
  Status check(Connection& c, CheckDepth depth, Deadline d) override { return fake_->check(c, depth, d); }
  Status reset(Connection& c, Deadline d) override { return fake_->reset(c, d); }
  void close(std::unique_ptr<Connection> c, Deadline d) noexcept override { fake_->close(std::move(c), d); }
  void abandon(std::unique_ptr<Connection> c) noexcept override { fake_->abandon(std::move(c)); }
  std::string endpoint() const override { return fake_->endpoint(); }

 private:
  std::shared_ptr<FakeConnector> fake_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  std::atomic<int> entered_{0};
};

class PoolConnectThreadTest : public PoolTest {
 protected:
  std::optional<Pool> make_gated_pool() {
    PoolOptions o;
    o.clock = &clock;
    o.logger = logger;
    o.start_maintainer = false;
    o.seed = 42;
    auto r = Pool::create(gated, quiet_config(), o);
    if (!r) ADD_FAILURE() << r.error().message();
    return std::move(r).value();
  }
  // The core holds the connector until ~PoolCore has run.
  bool core_destroyed() const { return gated.use_count() == 1; }

  std::shared_ptr<GatedConnector> gated = std::make_shared<GatedConnector>(connector);
};

// ~Pool waited until a connect thread's work was done but left the thread detached: it could
// still be exiting (OpenSSL's thread-exit handlers) when a test's main() returned. Now the
// thread is gone from the process when ~Pool returns.
TEST_F(PoolConnectThreadTest, DestroyedWithAConnectInFlightJoinsItsThread) {
  const int threads_before = thread_count_baseline();
  std::optional<Pool> pool = make_gated_pool();
  CallbackBox<Lease> box;
  ASSERT_TRUE(pool->acquire_async(in(10s), box.callback()).ok());
  ASSERT_TRUE(eventually([&] { return gated->entered() == 1; }));
  std::thread destroyer([&] { pool.reset(); });
  // shutdown() has failed the queued caller: ~Pool is under way, the connect still in flight.
  ASSERT_TRUE(eventually([&] { return box.has(); }));
  EXPECT_EQ(box.got->error().kind(), ErrorKind::shutting_down);
  gated->set_open(true);
  destroyer.join();
  EXPECT_EQ(thread_count(), threads_before) << "the connect thread outlived ~Pool";
  EXPECT_TRUE(core_destroyed());
  EXPECT_EQ(connector->connects.load(), 1);
  EXPECT_EQ(connector->closes.load(), 1) << "the connection opened during ~Pool is closed";
}

// A callback on a connect thread drops the pool's last handle: ~Pool cannot join the thread
// it runs on. The thread's own reference keeps the core alive until its last instruction, and
// ~PoolCore, run there, detaches that one thread (ASan: no use after free).
TEST_F(PoolConnectThreadTest, DestroyedFromAnAsyncCallbackOnItsOwnConnectThread) {
  gated->set_open(true);
  const int threads_before = thread_count_baseline();
  std::optional<Pool> pool = make_gated_pool();
  std::atomic<bool> ran{false};
  ASSERT_TRUE(pool->acquire_async(in(10s), [&](Result<Lease> lease) {
                    EXPECT_TRUE(lease.ok());
                    lease->release();  // idle again: ~Pool retires it and orphans nothing
                    pool.reset();
                    ran.store(true);
                  }).ok());
  ASSERT_TRUE(eventually([&] { return ran.load(); }));
  ASSERT_TRUE(eventually([&] { return core_destroyed(); }));
  EXPECT_TRUE(eventually([&] { return thread_count() == threads_before; }));
  EXPECT_EQ(connector->closes.load(), 1);
}

// The same with the lease still held while the handle goes: the core is orphaned, and the
// lease's return on the connect thread gives back its last slot.
TEST_F(PoolConnectThreadTest, OrphanedFromItsOwnConnectThreadThenItsLastLeaseReturnsThere) {
  gated->set_open(true);
  std::optional<Pool> pool = make_gated_pool();
  std::atomic<bool> ran{false};
  ASSERT_TRUE(pool->acquire_async(in(10s), [&](Result<Lease> lease) {
                    EXPECT_TRUE(lease.ok());
                    pool.reset();  // the lease is out: the core stays, orphaned
                    ran.store(true);
                  }).ok());
  ASSERT_TRUE(eventually([&] { return ran.load(); }));
  ASSERT_TRUE(eventually([&] { return core_destroyed(); }));
  EXPECT_EQ(connector->closes.load(), 1);
}

// The connector itself drops the pool, in the middle of a connect: its slot counts as open,
// so ~Pool orphans the core; the connect's result is closed and frees the last slot.
TEST_F(PoolConnectThreadTest, DestroyedByItsConnectorOnItsOwnConnectThread) {
  std::optional<Pool> pool = make_gated_pool();
  std::atomic<bool> submitted{false};
  gated->during_connect = [&] {
    if (!eventually([&] { return submitted.load(); })) return;  // acquire_async has returned
    pool.reset();
    gated->set_open(true);
  };
  CallbackBox<Lease> box;
  ASSERT_TRUE(pool->acquire_async(in(10s), box.callback()).ok());
  submitted.store(true);
  ASSERT_TRUE(eventually([&] { return core_destroyed(); }));
  ASSERT_TRUE(box.has());
  EXPECT_EQ(box.got->error().kind(), ErrorKind::shutting_down);
  EXPECT_EQ(connector->closes.load(), 1);
}

// A child of fork() has none of its parent's threads: it must neither join a connect thread
// that was running at fork time nor one that had ended and waited to be joined.
TEST_F(PoolConnectThreadTest, ForkChildNeverJoinsItsParentsConnectThreads) {
  std::optional<Pool> pool = make_gated_pool();
  gated->set_open(true);
  { ASSERT_TRUE(pool->acquire(in(1s))); }
  auto first = pool->acquire(in(1s));
  ASSERT_TRUE(first);
  auto second = pool->acquire(in(1s));  // a second connect: the first's thread is joined, its own waits
  ASSERT_TRUE(second);
  gated->set_open(false);
  CallbackBox<Lease> box;
  ASSERT_TRUE(pool->acquire_async(in(10s), box.callback()).ok());
  ASSERT_TRUE(eventually([&] { return gated->entered() == 3; }));  // a connect in flight
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    alarm(20);  // a join of a parent's thread would hang: SIGALRM fails the child instead
    first->release();  // the parent's connection: abandoned, never closed
    pool.reset();
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child hung or crashed destroying its pool";
  EXPECT_EQ(WEXITSTATUS(status), 0);
  gated->set_open(true);
  ASSERT_TRUE(eventually([&] { return box.has(); }));
  EXPECT_TRUE(box.got->ok());
  box.got.reset();
  first->release();
  second->release();
  pool.reset();
  EXPECT_TRUE(core_destroyed());
}

}  // namespace
}  // namespace reservoir::testing
