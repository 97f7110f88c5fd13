#pragma once

#include <string>
#include <string_view>

namespace agentidp::crypto {

// Client secrets are 256-bit random values, so a keyed hash with a server-side
// pepper is as strong as a slow KDF and costs microseconds (DESIGN §4).
inline constexpr std::string_view kClientSecretPrefix = "sk_live_";

// hex(HMAC-SHA-256(pepper, secret)), lower case, 64 characters.
std::string HashClientSecret(std::string_view pepper, std::string_view secret);

// Constant-time comparison of HashClientSecret(pepper, secret) with stored_hex.
// For unknown clients pass a dummy hash so both paths cost the same.
bool VerifyClientSecret(std::string_view pepper, std::string_view secret,
                        std::string_view stored_hex);

// "sk_live_" followed by 64 lower-case hex digits (32 random bytes).
std::string GenerateClientSecret();

}  // namespace agentidp::crypto
