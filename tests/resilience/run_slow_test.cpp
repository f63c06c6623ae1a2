// Seed 000 logged every operation slower than 100 ms, with where its time went: run() reports
// a slow call once (log line + operation_slow event), its phases summed over the attempts.
#include <gtest/gtest.h>

#include <mutex>
#include <vector>

#include "capture_logger.hpp"
#include "jump_clock.hpp"
#include "reservoir/run.hpp"
#include "scripted_connector.hpp"

namespace reservoir {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::CaptureLogger;
using testing::JumpClock;
using testing::Script;
using testing::ScriptedConnection;
using testing::ScriptedConnector;

struct Recorder final : PoolListener {
  void on_event(const PoolEvent& e) noexcept override {
    std::lock_guard g(mu);
    Seen s{e.kind, e.duration, e.phases, e.call, e.backoff, e.attempts, e.error ? e.error->message() : "",
           std::string(e.where.file)};
    seen.push_back(std::move(s));
  }
  struct Seen {
    PoolEventKind kind;
    Duration duration;
    AcquirePhases phases;
    Duration call, backoff;
    std::uint32_t attempts;
    std::string error, file;
  };
  std::vector<Seen> of(PoolEventKind kind) {
    std::lock_guard g(mu);
    std::vector<Seen> out;
    for (const auto& s : seen) if (s.kind == kind) out.push_back(s);
    return out;
  }
  std::mutex mu;
  std::vector<Seen> seen;
};

class RunSlowTest : public ::testing::Test {
 protected:
  TypedPool<ScriptedConnector> make_pool(std::size_t max_size = 2) {
    PoolConfig config;
    config.min_idle = 0;
    config.max_size = max_size;
    config.validate_on_checkout = false;
    config.slow_acquire_threshold = milliseconds(100);
    PoolOptions options;
    options.clock = &clock_;
    options.start_maintainer = false;
    options.seed = 1;
    options.logger = logger_;
    options.listener = listener_;
    return std::move(TypedPool<ScriptedConnector>::create(config, std::move(options), script_)).value();
  }
  RunOptions options() {
    RunOptions o;
    o.timeout = seconds(5);
    o.retry.max_attempts = 3;
    o.retry.backoff = {.initial = milliseconds(40), .multiplier = 1.0, .cap = milliseconds(40), .jitter = Jitter::none};
    o.idempotent = true;
    o.seed = 1;
    return o;
  }
  JumpClock clock_;
  std::shared_ptr<Script> script_ = std::make_shared<Script>();
  std::shared_ptr<CaptureLogger> logger_ = std::make_shared<CaptureLogger>();
  std::shared_ptr<Recorder> listener_ = std::make_shared<Recorder>();
};

TEST_F(RunSlowTest, ASlowCallIsReportedOnceWithItsPhases) {
  auto pool = make_pool();
  auto r = run(pool, [&](ScriptedConnection&) -> Result<int> {
    clock_.advance(milliseconds(150));
    return 7;
  }, options());
  ASSERT_TRUE(r);
  auto slow = listener_->of(PoolEventKind::operation_slow);
  ASSERT_EQ(slow.size(), 1u);
  EXPECT_EQ(slow[0].duration, milliseconds(150));
  EXPECT_EQ(slow[0].call, milliseconds(150));
  EXPECT_EQ(slow[0].attempts, 1u);
  EXPECT_EQ(slow[0].error, "");
  EXPECT_NE(slow[0].file.find("run_slow_test.cpp"), std::string::npos) << slow[0].file;
  EXPECT_TRUE(logger_->contains("reservoir: slow operation: 150 ms, 1 attempt (queued 0 ms, connect 0 ms, check 0 ms, "
                                "call 150 ms, backoff 0 ms) at "));
  EXPECT_TRUE(logger_->contains("run_slow_test.cpp"));
  EXPECT_TRUE(logger_->contains(": ok"));
}

TEST_F(RunSlowTest, AQuickCallIsNotReported) {
  auto pool = make_pool();
  auto r = run(pool, [&](ScriptedConnection&) -> Result<int> {
    clock_.advance(milliseconds(99));
    return 7;
  }, options());
  ASSERT_TRUE(r);
  EXPECT_TRUE(listener_->of(PoolEventKind::operation_slow).empty());
  EXPECT_FALSE(logger_->contains("slow operation"));
}

TEST_F(RunSlowTest, RetriesAndBackoffAreSummedAndTheFailureNamed) {
  auto pool = make_pool();
  auto r = run(pool, [&](ScriptedConnection& c) -> Status {
    clock_.advance(milliseconds(30));
    c.broken = true;
    return Error::unavailable("fake:1", "connection reset by peer");
  }, options());
  ASSERT_FALSE(r);
  auto slow = listener_->of(PoolEventKind::operation_slow);
  ASSERT_EQ(slow.size(), 1u);
  EXPECT_EQ(slow[0].attempts, 3u);
  EXPECT_EQ(slow[0].call, milliseconds(90));
  EXPECT_EQ(slow[0].backoff, milliseconds(80));
  EXPECT_EQ(slow[0].duration, milliseconds(170));
  EXPECT_NE(slow[0].error.find("connection reset by peer"), std::string::npos) << slow[0].error;
  EXPECT_TRUE(logger_->contains("slow operation: 170 ms, 3 attempts"));
}

// The acquire inside a slow run() is part of the one report, not a second line of its own.
TEST_F(RunSlowTest, ASlowAcquireInsideRunIsReportedOnceAsTheOperation) {
  auto pool = make_pool(1);
  auto held = pool.acquire(Deadline::after(clock_, seconds(1)));
  ASSERT_TRUE(held);
  RunOptions o = options();
  o.timeout = milliseconds(300);
  o.retry.max_attempts = 1;
  // Nobody returns the held connection: the JumpClock jumps the queued wait to its deadline.
  auto r = run(pool, [&](ScriptedConnection&) -> Status { return {}; }, o);
  ASSERT_FALSE(r);
  auto slow = listener_->of(PoolEventKind::operation_slow);
  ASSERT_EQ(slow.size(), 1u);
  EXPECT_EQ(slow[0].phases.queued, milliseconds(300));
  EXPECT_EQ(slow[0].call, Duration::zero());
  EXPECT_TRUE(listener_->of(PoolEventKind::acquire_slow).empty());
  EXPECT_FALSE(logger_->contains("slow acquire"));
  held->release();
}

TEST_F(RunSlowTest, AZeroThresholdTurnsItOff) {
  auto pool = make_pool();
  RunOptions o = options();
  o.slow_threshold = Duration::zero();
  auto r = run(pool, [&](ScriptedConnection&) -> Status {
    clock_.advance(milliseconds(500));
    return {};
  }, o);
  ASSERT_TRUE(r);
  EXPECT_TRUE(listener_->of(PoolEventKind::operation_slow).empty());
}

}  // namespace
}  // namespace reservoir
