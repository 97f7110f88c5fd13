#include "crypto/hash.hpp"

#include "crypto/encoding.hpp"

#include <gtest/gtest.h>

#include <string>

namespace agentidp::crypto {
namespace {

std::string Raw(const std::array<uint8_t, 32>& d) {
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

TEST(Sha256, MatchesFips180Vectors) {
  EXPECT_EQ(HexEncode(Raw(Sha256("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(HmacSha256, MatchesRfc4231Vectors) {
  // Test case 1.
  EXPECT_EQ(HmacSha256Hex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 2.
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 6: key longer than the block size.
  EXPECT_EQ(HmacSha256Hex(std::string(131, '\xaa'),
                          "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(HmacSha256, RawIs32BytesAndMatchesHex) {
  std::string raw = HmacSha256("k", "data");
  ASSERT_EQ(raw.size(), 32u);
  EXPECT_EQ(HexEncode(raw), HmacSha256Hex("k", "data"));
  uint8_t to[32];
  HmacSha256To("k", "data", to);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(to), sizeof to), raw);
  EXPECT_EQ(HmacSha256("", "data").size(), 32u);
  EXPECT_NE(HmacSha256("k1", "data"), HmacSha256("k2", "data"));
}

TEST(ConstantTimeEquals, ComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_FALSE(ConstantTimeEquals("ab", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
  EXPECT_TRUE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(RandomBytes, HasRequestedSizeAndVaries) {
  EXPECT_TRUE(RandomBytes(0).empty());
  std::string a = RandomBytes(32);
  std::string b = RandomBytes(32);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  EXPECT_EQ(RandomBytes(1000).size(), 1000u);
}

}  // namespace
}  // namespace agentidp::crypto
