#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace agentidp::crypto {

std::array<uint8_t, 32> Sha256(std::string_view data);
// Lower-case hex of the SHA-256 digest.
std::string Sha256Hex(std::string_view data);

// HMAC-SHA-256; returns the raw 32-byte tag.
std::string HmacSha256(std::string_view key, std::string_view data);
// HmacSha256 into a caller's buffer (no allocation, for client authentication).
void HmacSha256To(std::string_view key, std::string_view data, uint8_t (&out)[32]);
// Lower-case hex of HmacSha256.
std::string HmacSha256Hex(std::string_view key, std::string_view data);

// Compares in time that depends only on the lengths (CRYPTO_memcmp). Different
// lengths answer false after a comparison of the same cost as an equal-length one,
// so the time does not say which byte differed or how long the secret is.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// n bytes from OpenSSL's CSPRNG. Aborts if the generator fails: carrying on
// without randomness would mint guessable secrets and nonces.
std::string RandomBytes(size_t n);

}  // namespace agentidp::crypto
