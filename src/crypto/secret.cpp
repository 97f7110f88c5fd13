#include "crypto/secret.hpp"

#include "crypto/encoding.hpp"
#include "crypto/hash.hpp"

namespace agentidp::crypto {

std::string HashClientSecret(std::string_view pepper, std::string_view secret) {
  return HmacSha256Hex(pepper, secret);
}

bool VerifyClientSecret(std::string_view pepper, std::string_view secret,
                        std::string_view stored_hex) {
  // HashClientSecret without its two allocations: this runs on every token request.
  uint8_t mac[32];
  HmacSha256To(pepper, secret, mac);
  char hex[64];
  HexEncodeTo(std::string_view(reinterpret_cast<const char*>(mac), sizeof mac), hex);
  return ConstantTimeEquals(std::string_view(hex, sizeof hex), stored_hex);
}

std::string GenerateClientSecret() {
  return std::string(kClientSecretPrefix) + HexEncode(RandomBytes(32));
}

}  // namespace agentidp::crypto
