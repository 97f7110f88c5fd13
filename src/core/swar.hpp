#pragma once

// Sixteen bytes at a time with SSE2 where the target has it, else eight at a time ("SIMD
// within a register", portable 64-bit arithmetic), for the scans on every request:
// finding the bytes a JSON string must escape, or the bytes that make a form component
// need percent-decoding. GCC does not vectorize loops that stop at the first match, and
// these loops ran at 5-15 instructions per byte over tokens of ~600 bytes.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace agentidp::core::swar {

inline constexpr uint64_t kOnes = 0x0101010101010101ULL;
inline constexpr uint64_t kHighs = 0x8080808080808080ULL;

inline uint64_t Load8(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Non-zero if and only if some byte of x is below n (n <= 0x80). Exact as a yes/no
// answer: a borrow can only flag bytes above one that truly is below n.
constexpr uint64_t AnyBelow(uint64_t x, uint8_t n) {
  return (x - kOnes * n) & ~x & kHighs;
}

// Non-zero if and only if some byte of x equals b.
constexpr uint64_t AnyEqual(uint64_t x, uint8_t b) {
  return AnyBelow(x ^ (kOnes * b), 1);
}

// Non-zero if and only if some byte of x has its high bit set (>= 0x80).
constexpr uint64_t AnyHigh(uint64_t x) {
  return x & kHighs;
}

// Index of the first byte of s[from..] that JSON must escape inside a string (below 0x20,
// quotation mark, reverse solidus), or s.size().
inline size_t FindJsonSpecial(std::string_view s, size_t from = 0) {
  size_t i = from;
#if defined(__SSE2__)
  // Sixteen bytes per step where SSE2 is there (every x86-64): x <= 0x1f is min(x, 0x1f) == x.
  {
    const __m128i ctl = _mm_set1_epi8(0x1f);
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    for (; i + 16 <= s.size(); i += 16) {
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i));
      const __m128i hit =
          _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(x, ctl), x),
                       _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)));
      if (const int mask = _mm_movemask_epi8(hit); mask != 0)
        return i + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
    }
  }
#endif
  for (; i + 8 <= s.size(); i += 8) {
    const uint64_t x = Load8(s.data() + i);
    if (AnyBelow(x, 0x20) | AnyEqual(x, '"') | AnyEqual(x, '\\')) break;
  }
  for (; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == '"' || c == '\\') return i;
  }
  return s.size();
}

// True if s holds a '%', a '+' or a byte >= 0x80: a form component that needs decoding
// (and, for non-ASCII, a UTF-8 check).
inline bool HasFormSpecial(std::string_view s) {
  size_t i = 0;
#if defined(__SSE2__)
  {
    const __m128i pct = _mm_set1_epi8('%');
    const __m128i plus = _mm_set1_epi8('+');
    for (; i + 16 <= s.size(); i += 16) {
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i));
      // movemask takes each byte's high bit: non-ASCII bytes, and the 0xff of a match.
      const __m128i hit =
          _mm_or_si128(x, _mm_or_si128(_mm_cmpeq_epi8(x, pct), _mm_cmpeq_epi8(x, plus)));
      if (_mm_movemask_epi8(hit) != 0) return true;
    }
  }
#endif
  for (; i + 8 <= s.size(); i += 8) {
    const uint64_t x = Load8(s.data() + i);
    if (AnyHigh(x) | AnyEqual(x, '%') | AnyEqual(x, '+')) return true;
  }
  for (; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '%' || c == '+' || c >= 0x80) return true;
  }
  return false;
}

}  // namespace agentidp::core::swar
