// The pool never calls its Logger with the pool lock held: a log() that blocks (a full stderr
// pipe, a slow log shipper) must not stall every other caller of the pool.
#include <condition_variable>
#include <mutex>
#include <thread>

#include "pool_fixture.hpp"

namespace reservoir::testing {
namespace {

// Blocks inside log() for lines containing `trigger` until the test says another caller got
// through the pool, or a bound of real time runs out (so a regression fails, never hangs).
class StallingLogger final : public Logger {
 public:
  explicit StallingLogger(std::string trigger) : trigger_(std::move(trigger)) {}

  void log(LogLevel, std::string_view message) noexcept override {
    if (message.find(trigger_) == std::string_view::npos) return;
    std::unique_lock lk(mu_);
    entered_ = true;
    cv_.notify_all();
    saw_other_ = cv_.wait_for(lk, std::chrono::seconds(10), [&] { return other_done_; });
    left_ = true;
    cv_.notify_all();
  }
  bool wait_entered() {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, std::chrono::seconds(30), [&] { return entered_; });
  }
  void other_done() {
    std::lock_guard g(mu_);
    other_done_ = true;
    cv_.notify_all();
  }
  // Waits for the stalled log() to return (it may run on a pool thread the test cannot join).
  bool saw_other() {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, std::chrono::seconds(30), [&] { return left_; });
    return saw_other_;
  }

 private:
  const std::string trigger_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false, other_done_ = false, saw_other_ = false, left_ = false;
};

using PoolLoggingTest = PoolTest;

TEST_F(PoolLoggingTest, RefillFailureIsLoggedWithoutThePoolLock) {
  auto stalling = std::make_shared<StallingLogger>("connect failed");
  PoolConfig c = quiet_config();
  c.min_idle = 1;
  connector->set_fallback(ConnectOutcome::refuse);
  Pool pool = make_pool(c, false, stalling);
  std::thread maintainer([&] { pool.run_maintenance(); });
  ASSERT_TRUE(stalling->wait_entered());
  // set_max_size takes the pool lock: it must not wait for the logger.
  EXPECT_TRUE(pool.set_max_size(5).ok());
  stalling->other_done();
  maintainer.join();
  EXPECT_TRUE(stalling->saw_other()) << "the refill failure was logged under the pool lock";
}

TEST_F(PoolLoggingTest, ShutdownReportIsLoggedWithoutThePoolLock) {
  auto stalling = std::make_shared<StallingLogger>("still out after the grace period");
  Pool pool = make_pool(quiet_config(), false, stalling);
  auto lease = pool.acquire(in(1s));
  ASSERT_TRUE(lease.ok()) << lease.error().message();
  std::thread closer([&] { (void)pool.shutdown(Duration::zero()); });
  ASSERT_TRUE(stalling->wait_entered());
  // Returning a lease during shutdown takes the pool lock to retire the connection.
  lease->release();
  stalling->other_done();
  closer.join();
  EXPECT_TRUE(stalling->saw_other()) << "the shutdown report was logged under the pool lock";
  EXPECT_EQ(pool.stats().size, 0u);
}

}  // namespace
}  // namespace reservoir::testing
