#include "core/clock.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>

namespace agentidp::core {

namespace {
// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// RFC 3339 §5.7: the day must exist in that month (no February 30).
int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

bool Digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
void CivilFromDays(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
}

}  // namespace

size_t FormatIso8601To(int64_t epoch_ms, char (&out)[kIso8601MaxSize]) {
  int64_t secs = epoch_ms >= 0 ? epoch_ms / 1000 : (epoch_ms - 999) / 1000;
  const int ms = static_cast<int>(epoch_ms - secs * 1000);
  int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  const auto sod = static_cast<int>(secs - days * 86400);
  int64_t year;
  unsigned month, day;
  CivilFromDays(days, year, month, day);
  if (year < 0 || year > 9999) {
    int n = std::snprintf(out, sizeof out, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ",
                          static_cast<long long>(year), month, day, sod / 3600, sod / 60 % 60,
                          sod % 60, ms);
    return n > 0 ? std::min(static_cast<size_t>(n), sizeof out - 1) : 0;
  }
  auto put2 = [](char* p, int v) {
    p[0] = static_cast<char>('0' + v / 10);
    p[1] = static_cast<char>('0' + v % 10);
  };
  const int y = static_cast<int>(year);
  put2(out, y / 100);
  put2(out + 2, y % 100);
  out[4] = '-';
  put2(out + 5, static_cast<int>(month));
  out[7] = '-';
  put2(out + 8, static_cast<int>(day));
  out[10] = 'T';
  put2(out + 11, sod / 3600);
  out[13] = ':';
  put2(out + 14, sod / 60 % 60);
  out[16] = ':';
  put2(out + 17, sod % 60);
  out[19] = '.';
  out[20] = static_cast<char>('0' + ms / 100);
  put2(out + 21, ms % 100);
  out[23] = 'Z';
  out[24] = '\0';
  return 24;
}

std::string FormatIso8601(int64_t epoch_ms) {
  char buf[kIso8601MaxSize];
  return std::string(buf, FormatIso8601To(epoch_ms, buf));
}

bool ParseIso8601(std::string_view s, int64_t& epoch_ms) {
  int y, mo, d, h = 0, mi = 0, se = 0, ms = 0;
  if (!Digits(s, 0, 4, y) || s.size() < 10 || s[4] != '-' || !Digits(s, 5, 2, mo) || s[7] != '-' ||
      !Digits(s, 8, 2, d))
    return false;
  if (mo < 1 || mo > 12 || d < 1 || d > DaysInMonth(y, mo)) return false;
  size_t p = 10;
  int64_t offset_s = 0;
  if (p < s.size()) {
    if (s[p] != 'T' && s[p] != 't') return false;
    if (!Digits(s, p + 1, 2, h) || s.size() < p + 9 || s[p + 3] != ':' ||
        !Digits(s, p + 4, 2, mi) || s[p + 6] != ':' || !Digits(s, p + 7, 2, se))
      return false;
    if (h > 23 || mi > 59 || se > 60) return false;
    p += 9;
    if (p < s.size() && s[p] == '.') {
      ++p;
      size_t start = p;
      int scale = 100;
      while (p < s.size() && std::isdigit(static_cast<unsigned char>(s[p]))) {
        if (scale > 0) ms += (s[p] - '0') * scale;
        scale /= 10;
        ++p;
      }
      if (p == start) return false;
    }
    if (p >= s.size()) return false;
    if (s[p] == 'Z' || s[p] == 'z') {
      ++p;
    } else if (s[p] == '+' || s[p] == '-') {
      int oh, om;
      if (!Digits(s, p + 1, 2, oh) || s.size() < p + 6 || s[p + 3] != ':' ||
          !Digits(s, p + 4, 2, om))
        return false;
      if (oh > 23 || om > 59) return false;  // RFC 3339 §5.6 time-numoffset
      offset_s = (oh * 3600 + om * 60) * (s[p] == '+' ? 1 : -1);
      p += 6;
    } else {
      return false;
    }
    if (p != s.size()) return false;
  }
  int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  epoch_ms = ((days * 86400 + h * 3600 + mi * 60 + se) - offset_s) * 1000 + ms;
  return true;
}

}  // namespace agentidp::core
