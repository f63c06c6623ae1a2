#include <gtest/gtest.h>

#include <cstdlib>

#include "reservoir/config.hpp"

using namespace reservoir;
using namespace std::chrono_literals;

namespace {

std::string problem(const PoolConfig& c) {
  Status s = c.validate();
  return s ? std::string("ok") : s.error().message();
}

TEST(PoolConfig, DefaultsAreValid) { EXPECT_EQ(problem(PoolConfig{}), "ok"); }

TEST(PoolConfig, ErrorsNameFieldValueAndRange) {
  PoolConfig c;
  c.max_size = 0;
  EXPECT_EQ(problem(c), "invalid_config: max_size=0: must be in 1..4096");
  c.max_size = 4097;
  EXPECT_EQ(problem(c), "invalid_config: max_size=4097: must be in 1..4096");
  c.max_size = 4096;
  EXPECT_EQ(problem(c), "ok");
  c.max_size = 1;
  c.min_idle = 1;
  EXPECT_EQ(problem(c), "ok");
  c.min_idle = 2;
  EXPECT_EQ(problem(c), "invalid_config: min_idle=2: must be <= max_size (1)");
}

TEST(PoolConfig, DurationBoundaries) {
  PoolConfig c;
  c.acquire_timeout = 0ms;
  EXPECT_EQ(problem(c), "invalid_config: acquire_timeout=0ms: must be in 1ms..3600000ms");
  c.acquire_timeout = 1ms;
  EXPECT_EQ(problem(c), "ok");
  c.max_lifetime = 999ms;
  EXPECT_EQ(problem(c), "invalid_config: max_lifetime=999ms: must be in 1000ms..3600000000ms (or 0 = off)");
  c.max_lifetime = 0ms;
  EXPECT_EQ(problem(c), "ok");
  c.connect_backoff_initial = 200ms;
  c.connect_backoff_max = 100ms;
  EXPECT_EQ(problem(c), "invalid_config: connect_backoff_max=100ms: must be >= connect_backoff_initial (200ms)");
}

TEST(PoolConfig, OtherFieldsAreChecked) {
  PoolConfig c;
  c.lifetime_jitter = 0.6;
  EXPECT_NE(problem(c).find("lifetime_jitter"), std::string::npos);
  c = PoolConfig{};
  c.max_concurrent_connects = 0;
  EXPECT_EQ(problem(c), "invalid_config: max_concurrent_connects=0: must be in 1..4096");
  c.max_concurrent_connects = 11;  // more than max_size is allowed: max_size bounds it anyway
  EXPECT_EQ(problem(c), "ok");
  c = PoolConfig{};
  c.max_waiters = 0;
  EXPECT_EQ(problem(c), "invalid_config: max_waiters=0: must be in 1..1000000");
  c = PoolConfig{};
  c.name = "";
  EXPECT_EQ(problem(c), "invalid_config: name=\"\": must not be empty");
}

class EnvTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const char* v : {"TRES_MAX_SIZE", "TRES_MIN_IDLE", "TRES_ACQUIRE_TIMEOUT_MS", "TRES_INIT_MODE",
                          "TRES_VALIDATE_ON_CHECKOUT", "TRES_LIFETIME_JITTER", "TRES_CONNECT_BACKOFF_INITIAL_MS",
                          "TRES_CONNECT_BACKOFF_MAX_MS"}) {
      unsetenv(v);
    }
  }
};

TEST_F(EnvTest, ReadsVariables) {
  setenv("TRES_MAX_SIZE", "12", 1);
  setenv("TRES_MIN_IDLE", "3", 1);
  setenv("TRES_ACQUIRE_TIMEOUT_MS", "250", 1);
  setenv("TRES_INIT_MODE", "wait", 1);
  setenv("TRES_VALIDATE_ON_CHECKOUT", "off", 1);
  setenv("TRES_LIFETIME_JITTER", "0.1", 1);
  auto c = PoolConfig::from_env("TRES_");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->max_size, 12u);
  EXPECT_EQ(c->min_idle, 3u);
  EXPECT_EQ(c->acquire_timeout, 250ms);
  EXPECT_EQ(c->init_mode, InitMode::wait);
  EXPECT_FALSE(c->validate_on_checkout);
  EXPECT_DOUBLE_EQ(c->lifetime_jitter, 0.1);
}

TEST_F(EnvTest, UnsetVariablesKeepTheBase) {
  PoolConfig base;
  base.max_size = 7;
  auto c = PoolConfig::from_env("TRES_", base);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->max_size, 7u);
}

TEST_F(EnvTest, GarbageNamesTheVariable) {
  setenv("TRES_MAX_SIZE", "abc", 1);
  auto c = PoolConfig::from_env("TRES_");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().kind(), ErrorKind::invalid_config);
  EXPECT_EQ(c.error().message(), "invalid_config: TRES_MAX_SIZE=\"abc\": expected a non-negative integer");
}

TEST_F(EnvTest, OutOfRangeNamesTheVariable) {
  setenv("TRES_MAX_SIZE", "0", 1);
  auto c = PoolConfig::from_env("TRES_");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message(),
            "invalid_config: max_size=0: must be in 1..4096 (from environment, see TRES_MAX_SIZE*)");
  EXPECT_EQ(c.error().code(), "max_size");
}

// The field travels as a value (code()), so the variable is named even for a field whose
// message does not start with it, and no caller parses an error text to find it.
TEST_F(EnvTest, CrossFieldErrorNamesTheVariableOfTheFieldItBlames) {
  setenv("TRES_CONNECT_BACKOFF_INITIAL_MS", "2000", 1);
  setenv("TRES_CONNECT_BACKOFF_MAX_MS", "1000", 1);
  auto c = PoolConfig::from_env("TRES_");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), "connect_backoff_max");
  EXPECT_NE(c.error().message().find("see TRES_CONNECT_BACKOFF_MAX*"), std::string::npos) << c.error().message();
}

TEST(InvalidConfig, CarriesTheFieldItNames) {
  const Error e = Error::invalid_config("backoff.cap", "2 h", "up to 1 h");
  EXPECT_EQ(e.kind(), ErrorKind::invalid_config);
  EXPECT_EQ(e.code(), "backoff.cap");
}

TEST_F(EnvTest, BadChoiceListsWhatIsAllowed) {
  setenv("TRES_INIT_MODE", "eager", 1);
  auto c = PoolConfig::from_env("TRES_");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message(), "invalid_config: TRES_INIT_MODE=\"eager\": expected fail_fast, wait or lazy");
}

TEST_F(EnvTest, NegativeNumberIsRejected) {
  setenv("TRES_MAX_SIZE", "-3", 1);
  EXPECT_FALSE(PoolConfig::from_env("TRES_"));
}

}  // namespace
