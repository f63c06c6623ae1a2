// The one duration arithmetic: clamped sums and conversions, ceil to ms, readable text.
#include <gtest/gtest.h>

#include "reservoir/duration.hpp"

using namespace reservoir;
using namespace std::chrono;

TEST(Duration, SumsClampInsteadOfWrapping) {
  EXPECT_EQ(saturating_add(Duration(5), Duration(7)), Duration(12));
  EXPECT_EQ(saturating_add(Duration::max(), Duration(1)), Duration::max());
  EXPECT_EQ(saturating_add(Duration::min(), Duration(-1)), Duration::min());
  EXPECT_EQ(saturating_add(TimePoint(hours(1)), Duration::max()), TimePoint::max());
  EXPECT_EQ(saturating_add(TimePoint(hours(1)), -Duration::max()), TimePoint(hours(1) - Duration::max()));
}

TEST(Duration, ConversionsToNanosecondsClamp) {
  EXPECT_EQ(saturating_cast(milliseconds(1500)), Duration(1'500'000'000));
  EXPECT_EQ(saturating_cast(milliseconds::max()), Duration::max());
  EXPECT_EQ(saturating_cast(milliseconds::min()), Duration::min());
  EXPECT_EQ(saturating_cast(hours(-1)), -Duration(hours(1)));
  EXPECT_EQ(saturating_cast(duration<std::uint64_t, std::milli>(~std::uint64_t{0})), Duration::max());
}

TEST(Duration, CeilToMillisecondsNeverOverflows) {
  EXPECT_EQ(ceil_ms(Duration(0)), 0);
  EXPECT_EQ(ceil_ms(Duration(-5)), 0);
  EXPECT_EQ(ceil_ms(Duration(1)), 1);
  EXPECT_EQ(ceil_ms(milliseconds(2)), 2);
  EXPECT_EQ(ceil_ms(milliseconds(2) + Duration(1)), 3);
  EXPECT_EQ(ceil_ms(Duration::max()), Duration::max().count() / 1'000'000 + 1);
}

TEST(Duration, FormatsInTheLargestWholeUnit) {
  EXPECT_EQ(format_duration(milliseconds(0)), "0");
  EXPECT_EQ(format_duration(milliseconds(999)), "999ms");
  EXPECT_EQ(format_duration(milliseconds(1000)), "1s");
  EXPECT_EQ(format_duration(milliseconds(1500)), "1500ms");
  EXPECT_EQ(format_duration(milliseconds(30 * 60 * 1000)), "30min");
  EXPECT_EQ(format_duration(milliseconds(3'600'000)), "1h");
  EXPECT_EQ(format_duration(hours(1000)), "1000h");
  EXPECT_EQ(format_duration(microseconds(250)), "250us");
  EXPECT_EQ(format_duration(Duration(1'000'001)), "1000001ns");
  EXPECT_EQ(format_duration(milliseconds(-1)), "-1ms");
  EXPECT_EQ(format_duration(milliseconds::max()), "9223372036854775807ms");
}
