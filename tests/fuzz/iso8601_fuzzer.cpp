// ParseIso8601 (src/core/clock.hpp): `expiresAt` of credentials and the `from`/`to`
// filters of the audit API come from clients.
//
// Properties: no out-of-bounds read and no signed overflow (UBSan) on any input; an
// accepted text names a real calendar date (no February 30) and a valid UTC offset
// (RFC 3339 §5.6: hours 00-23, minutes 00-59); the instant lies within years 0000..9999
// give or take the offset; for times from 1970 on, FormatIso8601 output parses back to
// the same instant.

#include "core/clock.hpp"
#include "fuzz_check.hpp"

#include <string>

namespace {

constexpr int64_t kDayMs = 86'400'000;
// 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z, widened by a day for offsets and leap
// seconds.
constexpr int64_t kMinMs = -62'167'219'200'000 - kDayMs;
constexpr int64_t kMaxMs = 253'402'300'800'000 + kDayMs;

int Num(std::string_view s, size_t pos, size_t n) {
  int v = 0;
  for (size_t i = 0; i < n; ++i) v = v * 10 + (s[pos + i] - '0');
  return v;
}

int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace agentidp::core;
  std::string_view in = agentidp::fuzz::AsView(data, size);
  int64_t ms = 0;
  if (!ParseIso8601(in, ms)) return 0;

  // Accepted, so in[0..10) is YYYY-MM-DD.
  FUZZ_CHECK(in.size() >= 10);
  int y = Num(in, 0, 4), m = Num(in, 5, 2), d = Num(in, 8, 2);
  FUZZ_CHECK(m >= 1 && m <= 12);
  FUZZ_CHECK(d >= 1 && d <= DaysInMonth(y, m));
  // A numeric offset, when present, is the last six characters: +hh:mm / -hh:mm.
  if (in.size() > 19 && (in[in.size() - 6] == '+' || in[in.size() - 6] == '-')) {
    FUZZ_CHECK(Num(in, in.size() - 5, 2) <= 23);
    FUZZ_CHECK(Num(in, in.size() - 2, 2) <= 59);
  }

  FUZZ_CHECK(ms >= kMinMs && ms < kMaxMs);
  if (ms >= 0 && ms < 253'402'300'800'000) {
    std::string text = FormatIso8601(ms);
    int64_t back = -1;
    FUZZ_CHECK(ParseIso8601(text, back));
    FUZZ_CHECK(back == ms);
  }
  return 0;
}
