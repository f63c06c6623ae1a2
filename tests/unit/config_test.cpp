#include <gtest/gtest.h>

#include <cmath>
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
  EXPECT_EQ(problem(c), "invalid_config: max_size=0: allowed 1..4096");
  c.max_size = 4097;
  EXPECT_EQ(problem(c), "invalid_config: max_size=4097: allowed 1..4096");
  c.max_size = 4096;
  EXPECT_EQ(problem(c), "ok");
  c.max_size = 1;
  c.min_idle = 1;
  EXPECT_EQ(problem(c), "ok");
  c.min_idle = 2;
  EXPECT_EQ(problem(c), "invalid_config: min_idle=2: allowed 0..max_size (1)");
}

TEST(PoolConfig, DurationBoundaries) {
  PoolConfig c;
  c.acquire_timeout = 0ms;
  EXPECT_EQ(problem(c), "invalid_config: acquire_timeout=0: allowed 1ms..1h");
  c.acquire_timeout = 1ms;
  EXPECT_EQ(problem(c), "ok");
  c.max_lifetime = 999ms;
  EXPECT_EQ(problem(c), "invalid_config: max_lifetime=999ms: allowed 0 (off) or 1s..1000h");
  c.max_lifetime = 0ms;
  EXPECT_EQ(problem(c), "ok");
  c.queue_bypass = 2h;
  EXPECT_EQ(problem(c), "invalid_config: queue_bypass=2h: allowed 0 (off) or 1ms..1h");
  c.queue_bypass = 0ms;  // strict FIFO handoff
  EXPECT_EQ(problem(c), "ok");
  c.connect_backoff_initial = 200ms;
  c.connect_backoff_max = 100ms;
  EXPECT_EQ(problem(c), "invalid_config: connect_backoff_max=100ms: allowed connect_backoff_initial (200ms)..1h");
}

TEST(PoolConfig, OtherFieldsAreChecked) {
  PoolConfig c;
  c.lifetime_jitter = 0.6;
  EXPECT_EQ(problem(c), "invalid_config: lifetime_jitter=0.6: allowed 0..0.5");
  c.lifetime_jitter = std::nan("");
  EXPECT_EQ(problem(c), "invalid_config: lifetime_jitter=nan: allowed 0..0.5");
  c = PoolConfig{};
  c.max_concurrent_connects = 0;
  EXPECT_EQ(problem(c), "invalid_config: max_concurrent_connects=0: allowed 1..4096");
  c.max_concurrent_connects = 11;  // more than max_size is allowed: max_size bounds it anyway
  EXPECT_EQ(problem(c), "ok");
  c = PoolConfig{};
  c.max_waiters = 0;
  EXPECT_EQ(problem(c), "invalid_config: max_waiters=0: allowed 1..1000000");
  c = PoolConfig{};
  c.name = "";
  EXPECT_EQ(problem(c), "invalid_config: name=\"\": allowed a non-empty name");
}

// An enum holding a value outside its enumerators passed validate(); sqlite::Synchronous(9)
// silently became synchronous=1.
TEST(PoolConfig, OutOfRangeEnumValuesAreRefused) {
  PoolConfig c;
  c.checkout_check = static_cast<CheckDepth>(7);
  EXPECT_EQ(problem(c), "invalid_config: checkout_check=7: allowed fast, ping, deep");
  c = PoolConfig{};
  c.keepalive_check = static_cast<CheckDepth>(-1);
  EXPECT_EQ(problem(c), "invalid_config: keepalive_check=-1: allowed fast, ping, deep");
  c = PoolConfig{};
  c.init_mode = static_cast<InitMode>(9);
  EXPECT_EQ(problem(c), "invalid_config: init_mode=9: allowed fail_fast, wait, lazy");
  for (CheckDepth d : {CheckDepth::fast, CheckDepth::ping, CheckDepth::deep}) {
    c = PoolConfig{};
    c.checkout_check = c.keepalive_check = d;
    EXPECT_EQ(problem(c), "ok");
  }
}

// Huge values are reported as themselves, not wrapped into negatives.
TEST(PoolConfig, HugeDurationsAreReportedExactly) {
  PoolConfig c;
  c.idle_timeout = milliseconds::max();
  EXPECT_EQ(problem(c), "invalid_config: idle_timeout=9223372036854775807ms: allowed 0 (off) or 1ms..1000h");
  c = PoolConfig{};
  c.acquire_timeout = -1ms;
  EXPECT_EQ(problem(c), "invalid_config: acquire_timeout=-1ms: allowed 1ms..1h");
}

class EnvTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const char* v : {"TRES_MAX_SIZE", "TRES_MIN_IDLE", "TRES_ACQUIRE_TIMEOUT_MS", "TRES_INIT_MODE",
                          "TRES_VALIDATE_ON_CHECKOUT", "TRES_LIFETIME_JITTER", "TRES_MAX_LIFETIME_MS",
                          "TRES_NAME", "TRES_CHECKOUT_CHECK", "TRES_MAX_USES", "TRES_CONNECT_BACKOFF_MAX_MS",
                          "TRES_CONNECT_BACKOFF_INITIAL_MS", "TRES_QUEUE_BYPASS_MS"}) {
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
  setenv("TRES_QUEUE_BYPASS_MS", "0", 1);
  auto c = PoolConfig::from_env("TRES_");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->max_size, 12u);
  EXPECT_EQ(c->min_idle, 3u);
  EXPECT_EQ(c->acquire_timeout, 250ms);
  EXPECT_EQ(c->init_mode, InitMode::wait);
  EXPECT_FALSE(c->validate_on_checkout);
  EXPECT_DOUBLE_EQ(c->lifetime_jitter, 0.1);
  EXPECT_EQ(c->queue_bypass, 0ms);
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
  EXPECT_EQ(c.error().message(), "invalid_config: TRES_MAX_SIZE=\"abc\": allowed an integer 1..4096");
}

TEST_F(EnvTest, OutOfRangeNamesTheVariable) {
  setenv("TRES_MAX_SIZE", "0", 1);
  auto c = PoolConfig::from_env("TRES_");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message(),
            "invalid_config: TRES_MAX_SIZE=\"0\": allowed an integer 1..4096");
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
  EXPECT_EQ(c.error().message(), "invalid_config: TRES_INIT_MODE=\"eager\": allowed fail_fast, wait, lazy");
}

TEST_F(EnvTest, NegativeNumberIsRejected) {
  setenv("TRES_MAX_SIZE", "-3", 1);
  EXPECT_FALSE(PoolConfig::from_env("TRES_"));
}

// RESERVOIR_ACQUIRE_TIMEOUT_MS=18446744073709551615 was read as acquire_timeout=-1ms, 2^63 as
// -9223372036854775808ms: the parse wrapped around before the range check.
TEST_F(EnvTest, HugeDurationsAreRefusedNamingTheRange) {
  for (const char* v : {"18446744073709551615", "9223372036854775808", "99999999999999999999999", "3600001"}) {
    setenv("TRES_ACQUIRE_TIMEOUT_MS", v, 1);
    auto c = PoolConfig::from_env("TRES_");
    ASSERT_FALSE(c) << v << " was accepted as " << c->acquire_timeout.count() << "ms";
    EXPECT_EQ(c.error().message(),
              std::string("invalid_config: TRES_ACQUIRE_TIMEOUT_MS=\"") + v + "\": allowed an integer 1..3600000 (ms)");
  }
  setenv("TRES_ACQUIRE_TIMEOUT_MS", "3600000", 1);
  auto ok = PoolConfig::from_env("TRES_");
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(ok->acquire_timeout, 1h);
  unsetenv("TRES_ACQUIRE_TIMEOUT_MS");

  setenv("TRES_MAX_LIFETIME_MS", "999", 1);
  auto c = PoolConfig::from_env("TRES_");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message(),
            "invalid_config: TRES_MAX_LIFETIME_MS=\"999\": allowed an integer 0 (off) or 1000..3600000000 (ms)");
}

// One rule for every variable: the value exactly, no spaces around it (LIFETIME_JITTER="  0.1"
// was accepted while MAX_SIZE="  5" was not).
TEST_F(EnvTest, SpacesAroundAnyValueAreRefused) {
  const std::pair<const char*, const char*> cases[] = {
      {"TRES_MAX_SIZE", "  5"},           {"TRES_MAX_SIZE", "5 "},          {"TRES_LIFETIME_JITTER", "  0.1"},
      {"TRES_LIFETIME_JITTER", "0.1\n"},  {"TRES_ACQUIRE_TIMEOUT_MS", " 9"}, {"TRES_INIT_MODE", "wait "},
      {"TRES_VALIDATE_ON_CHECKOUT", " on"}, {"TRES_NAME", " pool"},         {"TRES_MAX_USES", "+3"},
      {"TRES_LIFETIME_JITTER", "nan"},     {"TRES_LIFETIME_JITTER", "+0.1"}, {"TRES_NAME", ""}};
  for (const auto& [var, value] : cases) {
    setenv(var, value, 1);
    auto c = PoolConfig::from_env("TRES_");
    ASSERT_FALSE(c) << var << "=\"" << value << "\" was accepted";
    EXPECT_EQ(c.error().message().rfind(std::string("invalid_config: ") + var + "=\"" + value + "\": allowed ", 0), 0u)
        << c.error().message();
    unsetenv(var);
  }
  setenv("TRES_LIFETIME_JITTER", "0.6", 1);
  auto c = PoolConfig::from_env("TRES_");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message(), "invalid_config: TRES_LIFETIME_JITTER=\"0.6\": allowed a number 0..0.5");
}

TEST_F(EnvTest, CombinationsNameTheVariables) {
  setenv("TRES_MAX_SIZE", "2", 1);
  setenv("TRES_MIN_IDLE", "3", 1);
  auto c = PoolConfig::from_env("TRES_");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message(), "invalid_config: TRES_MIN_IDLE=\"3\": allowed 0..TRES_MAX_SIZE (2)");
  unsetenv("TRES_MIN_IDLE");
  unsetenv("TRES_MAX_SIZE");
  setenv("TRES_CONNECT_BACKOFF_MAX_MS", "5", 1);  // below the default initial of 10 ms
  c = PoolConfig::from_env("TRES_");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message(),
            "invalid_config: TRES_CONNECT_BACKOFF_MAX_MS=\"5\": allowed TRES_CONNECT_BACKOFF_INITIAL_MS (10)..3600000 (ms)");
}

}  // namespace
