#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace agentidp::core {

// Cryptographically secure randomness, injected so tests can make ids predictable.
class Random {
 public:
  virtual ~Random() = default;
  virtual void Fill(uint8_t* out, size_t n) = 0;

  std::vector<uint8_t> Bytes(size_t n);
  std::string Hex(size_t n_bytes);
  // RFC 9562 version 4 UUID, lower-case canonical form.
  std::string UuidV4();
  // RFC 9562 version 7 UUID: 48-bit Unix milliseconds, then randomness. Time-ordered, so
  // ids of append-only records land at the right edge of their index instead of on a
  // random page.
  std::string UuidV7(int64_t unix_ms);
};

// OpenSSL's CSPRNG (RAND_bytes). Aborts if the generator fails: continuing
// without randomness would mint guessable secrets.
class SecureRandom final : public Random {
 public:
  void Fill(uint8_t* out, size_t n) override;
};

// Canonical lower-case UUID check (8-4-4-4-12 hex).
bool IsUuid(std::string_view s);

}  // namespace agentidp::core
