#include "crypto/secret.hpp"

#include "crypto/hash.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <string>

namespace agentidp::crypto {
namespace {

TEST(ClientSecret, GeneratedFormat) {
  std::string a = GenerateClientSecret();
  std::string b = GenerateClientSecret();
  EXPECT_TRUE(std::regex_match(a, std::regex("sk_live_[0-9a-f]{64}"))) << a;
  EXPECT_EQ(a.size(), 8u + 64u);
  EXPECT_NE(a, b);
}

TEST(ClientSecret, HashIsPepperedHmacHex) {
  std::string h = HashClientSecret("pepper", "sk_live_abc");
  EXPECT_TRUE(std::regex_match(h, std::regex("[0-9a-f]{64}"))) << h;
  EXPECT_EQ(h, HmacSha256Hex("pepper", "sk_live_abc"));
  EXPECT_EQ(h, HashClientSecret("pepper", "sk_live_abc"));
  EXPECT_NE(h, HashClientSecret("other pepper", "sk_live_abc"));
  EXPECT_NE(h, Sha256Hex("sk_live_abc"));
}

TEST(ClientSecret, VerifiesOnlyTheRightSecretAndPepper) {
  std::string secret = GenerateClientSecret();
  std::string stored = HashClientSecret("pepper", secret);
  EXPECT_TRUE(VerifyClientSecret("pepper", secret, stored));
  EXPECT_FALSE(VerifyClientSecret("pepper", secret + "x", stored));
  EXPECT_FALSE(VerifyClientSecret("pepper", secret.substr(0, secret.size() - 1), stored));
  EXPECT_FALSE(VerifyClientSecret("pepper2", secret, stored));
  EXPECT_FALSE(VerifyClientSecret("pepper", "", stored));
  EXPECT_FALSE(VerifyClientSecret("pepper", secret, stored.substr(1)));
  EXPECT_FALSE(VerifyClientSecret("pepper", secret, ""));
  // The stored value is compared as-is: the secret itself is not a valid hash.
  EXPECT_FALSE(VerifyClientSecret("pepper", secret, secret));
  // Any one character of the stored hash changed (including to upper case) fails.
  for (size_t i = 0; i < stored.size(); ++i) {
    std::string changed = stored;
    changed[i] = changed[i] == '0' ? '1' : (changed[i] >= 'a' ? changed[i] - 32 : '0');
    EXPECT_FALSE(VerifyClientSecret("pepper", secret, changed)) << i;
  }
}

}  // namespace
}  // namespace agentidp::crypto
