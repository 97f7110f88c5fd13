#include "core/clock.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace agentidp::core {
namespace {

TEST(FormatIso8601, UtcWithMilliseconds) {
  EXPECT_EQ(FormatIso8601(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatIso8601(1'774'688'400'123), "2026-03-28T09:00:00.123Z");
  EXPECT_EQ(FormatIso8601(951'782'400'000), "2000-02-29T00:00:00.000Z");  // leap day
  EXPECT_EQ(FormatIso8601(253'402'300'799'999), "9999-12-31T23:59:59.999Z");
}

TEST(FormatIso8601, BeforeTheEpochRoundsDown) {
  EXPECT_EQ(FormatIso8601(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatIso8601(-1000), "1969-12-31T23:59:59.000Z");
  EXPECT_EQ(FormatIso8601(-62'167'219'200'000), "0000-01-01T00:00:00.000Z");
}

TEST(FormatIso8601, YearsOutsideFourDigitsKeepTheirDigits) {
  EXPECT_EQ(FormatIso8601(253'402'300'800'000), "10000-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatIso8601(-62'167'219'200'001), "-001-12-31T23:59:59.999Z");
}

TEST(FormatIso8601, ToBufferWritesTheSameText) {
  for (int64_t ms = -100'000'000'000; ms < 300'000'000'000'000; ms += 987'654'321'123) {
    char buf[kIso8601MaxSize];
    const size_t n = FormatIso8601To(ms, buf);
    EXPECT_EQ(std::string(buf, n), FormatIso8601(ms));
    int64_t parsed = 0;
    if (ms >= 0 && ms < 253'402'300'800'000) {
      ASSERT_TRUE(ParseIso8601(std::string(buf, n), parsed)) << std::string(buf, n);
      EXPECT_EQ(parsed, ms);
    }
  }
}

}  // namespace
}  // namespace agentidp::core
