#include "core/random.hpp"

#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>

namespace agentidp::core {

std::vector<uint8_t> Random::Bytes(size_t n) {
  std::vector<uint8_t> out(n);
  Fill(out.data(), n);
  return out;
}

std::string Random::Hex(size_t n_bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto b = Bytes(n_bytes);
  std::string out;
  out.reserve(n_bytes * 2);
  for (uint8_t c : b) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

namespace {
std::string FormatUuid(const uint8_t* b) {
  char buf[37];
  std::snprintf(buf, sizeof buf,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return buf;
}
}  // namespace

std::string Random::UuidV4() {
  uint8_t b[16];
  Fill(b, sizeof b);
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);
  return FormatUuid(b);
}

std::string Random::UuidV7(int64_t unix_ms) {
  uint8_t b[16];
  Fill(b, sizeof b);
  const auto ms = static_cast<uint64_t>(unix_ms);
  for (int i = 0; i < 6; ++i) b[i] = static_cast<uint8_t>(ms >> (40 - 8 * i));
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x70);
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);
  return FormatUuid(b);
}

void SecureRandom::Fill(uint8_t* out, size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1) {
    std::fputs("fatal: RAND_bytes failed\n", stderr);
    std::abort();
  }
}

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

}  // namespace agentidp::core
