#include "core/random.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

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
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(36, '-');
  size_t pos = 0;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) ++pos;  // the dashes are already there
    out[pos++] = kHex[b[i] >> 4];
    out[pos++] = kHex[b[i] & 15];
  }
  return out;
}

// UUID-sized requests (request ids, jti, audit event ids: several per request on the hot
// path) are served from a per-thread block of RAND_bytes output: one DRBG call per kBlock
// bytes instead of one per id. Bytes handed out are wiped from the block; each byte is
// handed out once. Anything larger (secrets, keys) goes to RAND_bytes directly.
constexpr size_t kBlock = 512;
constexpr size_t kBufferedMax = 16;

struct RandomBlock {
  uint8_t bytes[kBlock];
  size_t used = kBlock;  // empty until first use
  ~RandomBlock() { OPENSSL_cleanse(bytes, sizeof bytes); }
};
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

namespace {
void RandBytesOrDie(uint8_t* out, size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1) {
    std::fputs("fatal: RAND_bytes failed\n", stderr);
    std::abort();
  }
}
}  // namespace

void SecureRandom::Fill(uint8_t* out, size_t n) {
  if (n > kBufferedMax) return RandBytesOrDie(out, n);
  thread_local RandomBlock block;
  if (kBlock - block.used < n) {
    RandBytesOrDie(block.bytes, kBlock);
    block.used = 0;
  }
  std::memcpy(out, block.bytes + block.used, n);
  OPENSSL_cleanse(block.bytes + block.used, n);
  block.used += n;
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
