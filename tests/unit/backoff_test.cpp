#include "reservoir/backoff.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace reservoir {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::vector<Duration> sequence(const BackoffConfig& config, std::uint64_t seed, int n) {
  Backoff backoff(config);
  Random random(seed);
  std::vector<Duration> out;
  for (int i = 0; i < n; ++i) out.push_back(backoff.next(random));
  return out;
}

// exp for the n-th retry: min(cap, initial × multiplier^n).
Duration exp_for(const BackoffConfig& c, int n) {
  const double ns = static_cast<double>(c.initial.count()) * std::pow(c.multiplier, n);
  return ns >= static_cast<double>(c.cap.count()) ? c.cap : Duration(static_cast<Duration::rep>(ns));
}

BackoffConfig with(Jitter jitter) {
  BackoffConfig c;
  c.jitter = jitter;
  return c;
}

TEST(Backoff, DefaultsAreHalfSecondDoublingToThirtySecondsWithQuarterJitter) {
  BackoffConfig c;
  EXPECT_EQ(c.initial, milliseconds(500));
  EXPECT_EQ(c.multiplier, 2.0);
  EXPECT_EQ(c.cap, seconds(30));
  EXPECT_EQ(c.jitter, Jitter::proportional);
  EXPECT_EQ(c.jitter_fraction, 0.25);
  EXPECT_TRUE(c.validate().ok());
}

TEST(Backoff, NoJitterIsExactExponentialUpToTheCap) {
  const auto seq = sequence(with(Jitter::none), 1, 10);
  const std::vector<Duration> want = {milliseconds(500),  milliseconds(1000), milliseconds(2000), milliseconds(4000),
                                      milliseconds(8000), milliseconds(16000), seconds(30),        seconds(30),
                                      seconds(30),        seconds(30)};
  EXPECT_EQ(seq, want);
}

TEST(Backoff, CapHoldsAfterManyRetriesWithoutOverflow) {
  BackoffConfig c = with(Jitter::none);
  Backoff backoff(c);
  Random random(7);
  Duration last{};
  for (int i = 0; i < 10000; ++i) last = backoff.next(random);
  EXPECT_EQ(last, seconds(30));
  EXPECT_EQ(backoff.count(), 10000u);
}

TEST(Backoff, FullJitterStaysWithinZeroAndExp) {
  const BackoffConfig c = with(Jitter::full);
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    const auto seq = sequence(c, seed, 12);
    for (int n = 0; n < 12; ++n) {
      EXPECT_GE(seq[n], Duration::zero());
      EXPECT_LE(seq[n], exp_for(c, n)) << "retry " << n;
    }
  }
}

TEST(Backoff, EqualJitterStaysWithinHalfExpAndExp) {
  const BackoffConfig c = with(Jitter::equal);
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    const auto seq = sequence(c, seed, 12);
    for (int n = 0; n < 12; ++n) {
      EXPECT_GE(seq[n], exp_for(c, n) / 2) << "retry " << n;
      EXPECT_LE(seq[n], exp_for(c, n)) << "retry " << n;
    }
  }
}

TEST(Backoff, DecorrelatedJitterStaysWithinInitialAndThreeTimesPreviousCapped) {
  const BackoffConfig c = with(Jitter::decorrelated);
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    const auto seq = sequence(c, seed, 30);
    Duration previous = c.initial;
    for (const Duration d : seq) {
      EXPECT_GE(d, c.initial);
      EXPECT_LE(d, std::min<Duration>(c.cap, previous * 3));
      previous = d;
    }
  }
}

TEST(Backoff, ProportionalJitterStaysWithinQuarterOfExpAndUnderTheCap) {
  const BackoffConfig c = with(Jitter::proportional);
  bool below = false;
  bool above = false;
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    const auto seq = sequence(c, seed, 12);
    for (int n = 0; n < 12; ++n) {
      const Duration e = exp_for(c, n);
      EXPECT_GE(seq[n], e * 3 / 4) << "retry " << n;
      EXPECT_LE(seq[n], std::min<Duration>(c.cap, e * 5 / 4)) << "retry " << n;
      below = below || seq[n] < e;
      above = above || seq[n] > e;
    }
  }
  EXPECT_TRUE(below && above) << "jitter spreads both ways";
}

TEST(Backoff, SameSeedSameSequenceOtherSeedOtherSequence) {
  for (Jitter j : {Jitter::full, Jitter::equal, Jitter::decorrelated, Jitter::proportional}) {
    EXPECT_EQ(sequence(with(j), 42, 20), sequence(with(j), 42, 20)) << to_string(j);
    EXPECT_NE(sequence(with(j), 42, 20), sequence(with(j), 43, 20)) << to_string(j);
  }
}

TEST(Backoff, ResetStartsOver) {
  Backoff backoff(with(Jitter::none));
  Random random(1);
  (void)backoff.next(random);
  (void)backoff.next(random);
  backoff.reset();
  EXPECT_EQ(backoff.next(random), milliseconds(500));
  EXPECT_EQ(backoff.count(), 1u);
}

TEST(Backoff, ValidateNamesFieldValueAndRange) {
  auto message = [](BackoffConfig c) { return c.validate().error().message(); };
  BackoffConfig c;
  c.initial = Duration::zero();
  EXPECT_EQ(message(c), "invalid_config: backoff.initial=0: allowed 1us..1h");
  c = {};
  c.cap = milliseconds(100);
  EXPECT_EQ(message(c), "invalid_config: backoff.cap=100ms: allowed backoff.initial (500ms)..1h");
  c = {};
  c.multiplier = 0.5;
  EXPECT_EQ(message(c), "invalid_config: backoff.multiplier=0.5: allowed 1..16");
  c.multiplier = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(message(c), "invalid_config: backoff.multiplier=nan: allowed 1..16");
  c = {};
  c.jitter_fraction = 1.5;
  EXPECT_EQ(message(c), "invalid_config: backoff.jitter_fraction=1.5: allowed 0..1");
  c = {};
  c.jitter = static_cast<Jitter>(9);
  EXPECT_EQ(message(c), "invalid_config: backoff.jitter=9: allowed none, full, equal, decorrelated, proportional");
  c.jitter = static_cast<Jitter>(-1);
  EXPECT_EQ(message(c), "invalid_config: backoff.jitter=-1: allowed none, full, equal, decorrelated, proportional");
}

TEST(Random, BetweenIsInclusiveAndDegenerateRangesReturnLow) {
  Random random(3);
  EXPECT_EQ(random.between(milliseconds(5), milliseconds(5)), milliseconds(5));
  EXPECT_EQ(random.between(milliseconds(5), milliseconds(1)), milliseconds(5));
  bool lo = false;
  bool hi = false;
  for (int i = 0; i < 1000; ++i) {
    const Duration d = random.between(Duration(0), Duration(1));
    lo = lo || d == Duration(0);
    hi = hi || d == Duration(1);
  }
  EXPECT_TRUE(lo && hi);
}

}  // namespace
}  // namespace reservoir
