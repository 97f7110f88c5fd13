#include "crypto/aead.hpp"

#include "crypto/hash.hpp"

#include <gtest/gtest.h>

#include <string>

namespace agentidp::crypto {
namespace {

class AeadTest : public ::testing::Test {
 protected:
  std::string key_ = RandomBytes(32);
};

TEST_F(AeadTest, RoundTrips) {
  auto sealed = Seal(key_, "private key pem", "signing_keys/k1");
  ASSERT_TRUE(sealed.ok()) << sealed.error().message;
  EXPECT_EQ(sealed->size(), kAeadNonceSize + 15 + kAeadTagSize);
  EXPECT_EQ(sealed->find("private key pem"), std::string::npos);
  auto opened = Open(key_, *sealed, "signing_keys/k1");
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  EXPECT_EQ(*opened, "private key pem");
}

TEST_F(AeadTest, RoundTripsEmptyPlaintextAndAad) {
  auto sealed = Seal(key_, "", "");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->size(), kAeadNonceSize + kAeadTagSize);
  auto opened = Open(key_, *sealed, "");
  ASSERT_TRUE(opened.ok());
  EXPECT_TRUE(opened->empty());
}

TEST_F(AeadTest, UsesFreshNonces) {
  auto a = Seal(key_, "same", "aad");
  auto b = Seal(key_, "same", "aad");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->substr(0, kAeadNonceSize), b->substr(0, kAeadNonceSize));
  EXPECT_NE(*a, *b);
}

TEST_F(AeadTest, DetectsAnyBitFlip) {
  auto sealed = Seal(key_, "a secret worth protecting", "ctx");
  ASSERT_TRUE(sealed.ok());
  // Every byte: nonce, ciphertext and tag.
  for (size_t i = 0; i < sealed->size(); ++i) {
    std::string tampered = *sealed;
    tampered[i] = static_cast<char>(tampered[i] ^ 0x01);
    auto opened = Open(key_, tampered, "ctx");
    ASSERT_FALSE(opened.ok()) << "byte " << i;
    EXPECT_EQ(opened.error().message, "Authenticated decryption failed");
  }
}

TEST_F(AeadTest, RefusesWrongAadKeyOrTruncation) {
  auto sealed = Seal(key_, "payload", "row-1");
  ASSERT_TRUE(sealed.ok());
  EXPECT_FALSE(Open(key_, *sealed, "row-2").ok());
  EXPECT_FALSE(Open(key_, *sealed, "").ok());
  EXPECT_FALSE(Open(RandomBytes(32), *sealed, "row-1").ok());
  EXPECT_FALSE(Open(key_, sealed->substr(0, sealed->size() - 1), "row-1").ok());
  EXPECT_FALSE(Open(key_, sealed->substr(0, 27), "row-1").ok());
  EXPECT_FALSE(Open(key_, "", "row-1").ok());
  EXPECT_FALSE(Open(key_, *sealed + "x", "row-1").ok());
}

TEST_F(AeadTest, RefusesKeysOfWrongSize) {
  auto sealed = Seal(std::string(16, 'k'), "x", "");
  ASSERT_FALSE(sealed.ok());
  EXPECT_EQ(sealed.error().message, "AEAD key must be 32 bytes");
  auto good = Seal(key_, "x", "");
  ASSERT_TRUE(good.ok());
  EXPECT_FALSE(Open(std::string(33, 'k'), *good, "").ok());
}

}  // namespace
}  // namespace agentidp::crypto
