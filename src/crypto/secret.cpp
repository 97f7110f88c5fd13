#include "crypto/secret.hpp"

#include "crypto/encoding.hpp"
#include "crypto/hash.hpp"

namespace agentidp::crypto {

std::string HashClientSecret(std::string_view pepper, std::string_view secret) {
  return HmacSha256Hex(pepper, secret);
}

bool VerifyClientSecret(std::string_view pepper, std::string_view secret,
                        std::string_view stored_hex) {
  return ConstantTimeEquals(HashClientSecret(pepper, secret), stored_hex);
}

std::string GenerateClientSecret() {
  return std::string(kClientSecretPrefix) + HexEncode(RandomBytes(32));
}

}  // namespace agentidp::crypto
