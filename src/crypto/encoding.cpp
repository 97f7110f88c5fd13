#include "crypto/encoding.hpp"

#include <array>
#include <cstdint>
#include <cstring>

namespace agentidp::crypto {
namespace {

constexpr char kBase64UrlAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr uint8_t kInvalid = 0xFF;

// Two output characters per 12 input bits: half the table look-ups and stores of a
// character-at-a-time encoder (every token's payload and signature go through here).
constexpr std::array<std::array<char, 2>, 4096> MakePairTable() {
  std::array<std::array<char, 2>, 4096> table{};
  for (size_t i = 0; i < table.size(); ++i)
    table[i] = {kBase64UrlAlphabet[i >> 6], kBase64UrlAlphabet[i & 63]};
  return table;
}
constexpr std::array<std::array<char, 2>, 4096> kPairTable = MakePairTable();

constexpr std::array<uint8_t, 256> MakeDecodeTable() {
  std::array<uint8_t, 256> table{};
  for (auto& entry : table) entry = kInvalid;
  for (uint8_t i = 0; i < 64; ++i) table[static_cast<uint8_t>(kBase64UrlAlphabet[i])] = i;
  return table;
}
constexpr std::array<uint8_t, 256> kDecodeTable = MakeDecodeTable();

constexpr char kHexDigits[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

void Base64UrlEncodeAppend(std::string& out, std::string_view bytes) {
  const auto* in = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t n = bytes.size();
  const size_t start = out.size();
  out.resize(start + (n * 4 + 2) / 3);  // unpadded length
  char* o = out.data() + start;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8) | in[i + 2];
    std::memcpy(o, kPairTable[v >> 12].data(), 2);
    std::memcpy(o + 2, kPairTable[v & 4095].data(), 2);
    o += 4;
  }
  if (n - i == 1) {
    uint32_t v = uint32_t{in[i]} << 16;
    o[0] = kBase64UrlAlphabet[(v >> 18) & 63];
    o[1] = kBase64UrlAlphabet[(v >> 12) & 63];
  } else if (n - i == 2) {
    uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8);
    o[0] = kBase64UrlAlphabet[(v >> 18) & 63];
    o[1] = kBase64UrlAlphabet[(v >> 12) & 63];
    o[2] = kBase64UrlAlphabet[(v >> 6) & 63];
  }
}

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  Base64UrlEncodeAppend(out, bytes);
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  size_t n = text.size();
  if (n % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(n / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    uint8_t v = kDecodeTable[static_cast<uint8_t>(c)];
    if (v == kInvalid) return std::nullopt;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
      acc &= (1u << bits) - 1;
    }
  }
  // 2 or 4 bits left over from the last character: they carry no data and must be
  // zero, otherwise several encodings would decode to the same bytes.
  if (acc != 0) return std::nullopt;
  return out;
}

void HexEncodeTo(std::string_view bytes, char* out) {
  // Written through a pointer: push_back's capacity check per character cost ~40
  // instructions per byte (client secret hashes, audit hashes).
  for (char ch : bytes) {
    auto c = static_cast<uint8_t>(ch);
    *out++ = kHexDigits[c >> 4];
    *out++ = kHexDigits[c & 15];
  }
}

std::string HexEncode(std::string_view bytes) {
  std::string out(bytes.size() * 2, '\0');
  HexEncodeTo(bytes, out.data());
  return out;
}

std::optional<std::string> HexDecode(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 2);
  for (size_t i = 0; i < text.size(); i += 2) {
    int hi = HexValue(text[i]);
    int lo = HexValue(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>((hi << 4) | lo));
  }
  return out;
}

}  // namespace agentidp::crypto
