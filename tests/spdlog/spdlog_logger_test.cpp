// The spdlog adapter: levels, literal text, and a real pool's lines and events through it.
#include "reservoir/spdlog/spdlog_logger.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

#include "fake_connector.hpp"
#include "reservoir/pool.hpp"

namespace reservoir::testing {
namespace {

using namespace std::chrono_literals;

class SpdlogTest : public ::testing::Test {
 protected:
  SpdlogTest() {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    sink->set_pattern("%l %v");
    log_ = std::make_shared<spdlog::logger>("reservoir-test", sink);
    log_->set_level(spdlog::level::trace);
  }
  std::string text() {
    log_->flush();
    return out_.str();
  }
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> log_;
};

TEST_F(SpdlogTest, LinesKeepTheirLevelAndTheirBraces) {
  auto logger = spdlog_logger(log_);
  logger->log(LogLevel::warn, "server said {} and {0}");
  logger->log(LogLevel::error, "gone");
  logger->log(LogLevel::debug, "detail");
  EXPECT_EQ(text(), "warning server said {} and {0}\nerror gone\ndebug detail\n");
}

TEST_F(SpdlogTest, ALevelNobodyReadsWritesNothing) {
  log_->set_level(spdlog::level::warn);
  auto listener = spdlog_event_listener(log_);
  listener->on_event({.kind = PoolEventKind::connection_created, .pool = "p", .endpoint = "e"});
  listener->on_event({.kind = PoolEventKind::leak_suspected, .pool = "p", .endpoint = "e", .duration = 2s,
                      .where = {"app.cpp", 7}});
  EXPECT_EQ(text(), "error pool=p endpoint=e event=leak_suspected held_ms=2000 at=app.cpp:7\n");
}

TEST_F(SpdlogTest, EventLevelsFollowTheirWeight) {
  EXPECT_EQ(spdlog_level_of(PoolEventKind::leak_suspected), spdlog::level::err);
  EXPECT_EQ(spdlog_level_of(PoolEventKind::connect_failed), spdlog::level::warn);
  EXPECT_EQ(spdlog_level_of(PoolEventKind::operation_slow), spdlog::level::warn);
  EXPECT_EQ(spdlog_level_of(PoolEventKind::check_failed), spdlog::level::info);
  EXPECT_EQ(spdlog_level_of(PoolEventKind::connection_closed), spdlog::level::debug);
}

// A real pool wired as the README shows: its connect failure reaches spdlog twice, as the
// pool's own line and as a structured event.
TEST_F(SpdlogTest, APoolsLinesAndEventsReachSpdlog) {
  auto connector = std::make_shared<FakeConnector>();
  connector->script({ConnectOutcome::refuse});
  PoolOptions o;
  o.start_maintainer = false;
  o.logger = spdlog_logger(log_);
  o.listener = spdlog_event_listener(log_);
  PoolConfig c;
  c.min_idle = 0;
  c.max_size = 1;
  c.name = "orders";
  auto pool = Pool::create(connector, c, o);
  ASSERT_TRUE(pool) << pool.error().message();
  auto lease = pool->acquire(Deadline::after(pool->clock(), 2s));
  ASSERT_FALSE(lease);  // the first connect was refused; the pool says so within the deadline
  const std::string lines = text();
  EXPECT_NE(lines.find("info orders: connect failed: unavailable: fake:1: connection refused"), std::string::npos)
      << lines;
  EXPECT_NE(lines.find("warning pool=orders endpoint=fake:1 event=connect_failed took_ms="), std::string::npos)
      << lines;
  EXPECT_NE(lines.find("error=\"unavailable: fake:1: connection refused\""), std::string::npos) << lines;
}

TEST_F(SpdlogTest, NoLoggerMeansSpdlogsDefault) {
  auto logger = spdlog_logger(nullptr);
  ASSERT_NE(logger, nullptr);
  logger->log(LogLevel::debug, "reservoir spdlog test: default logger");  // must not crash
}

}  // namespace
}  // namespace reservoir::testing
