#include "crypto/encoding.hpp"

#include <gtest/gtest.h>

#include <string>

namespace agentidp::crypto {
namespace {

TEST(Base64Url, EncodesRfc4648Vectors) {
  // RFC 4648 §10, without padding.
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foob"), "Zm9vYg");
  EXPECT_EQ(Base64UrlEncode("fooba"), "Zm9vYmE");
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
}

// Every byte value in every position of a 3-byte group, and every length up to 40, round
// trip; the output uses only the URL-safe alphabet, unpadded.
TEST(Base64Url, RoundTripsEveryByteInEveryPosition) {
  for (size_t len = 0; len <= 40; ++len) {
    for (int c = 0; c < 256; ++c) {
      std::string in(len, '\x5a');
      if (len > 0) in[c % len] = static_cast<char>(c);
      if (len > 1) in[(c + 1) % len] = static_cast<char>(255 - c);
      std::string enc = Base64UrlEncode(in);
      ASSERT_EQ(enc.size(), (len * 4 + 2) / 3);
      ASSERT_EQ(
          enc.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
          std::string::npos);
      auto dec = Base64UrlDecode(enc);
      ASSERT_TRUE(dec.has_value()) << enc;
      ASSERT_EQ(*dec, in) << len << " " << c;
    }
  }
}

TEST(Base64Url, UsesUrlSafeAlphabet) {
  EXPECT_EQ(Base64UrlEncode("\xFB\xFF"), "-_8");
  EXPECT_EQ(Base64UrlDecode("-_8"), std::string("\xFB\xFF"));
}

TEST(Base64Url, AppendKeepsPrefix) {
  std::string out = "x.";
  Base64UrlEncodeAppend(out, "foo");
  EXPECT_EQ(out, "x.Zm9v");
}

TEST(Base64Url, RoundTripsAllLengths) {
  std::string bytes;
  for (int i = 0; i < 70; ++i) {
    auto decoded = Base64UrlDecode(Base64UrlEncode(bytes));
    ASSERT_TRUE(decoded.has_value()) << i;
    EXPECT_EQ(*decoded, bytes);
    bytes.push_back(static_cast<char>(i * 37 + 250));
  }
}

TEST(Base64Url, DecodesValidInput) {
  EXPECT_EQ(Base64UrlDecode(""), std::string());
  EXPECT_EQ(Base64UrlDecode("Zg"), std::string("f"));
  EXPECT_EQ(Base64UrlDecode("Zm8"), std::string("fo"));
  EXPECT_EQ(Base64UrlDecode("Zm9vYmFy"), std::string("foobar"));
}

TEST(Base64Url, RefusesPadding) {
  EXPECT_FALSE(Base64UrlDecode("Zg=="));
  EXPECT_FALSE(Base64UrlDecode("Zg="));
  EXPECT_FALSE(Base64UrlDecode("Zm8="));
  EXPECT_FALSE(Base64UrlDecode("===="));
}

TEST(Base64Url, RefusesStandardAlphabet) {
  EXPECT_FALSE(Base64UrlDecode("+/8"));
  EXPECT_FALSE(Base64UrlDecode("ab+c"));
  EXPECT_FALSE(Base64UrlDecode("ab/c"));
}

TEST(Base64Url, RefusesWhitespaceAndControl) {
  EXPECT_FALSE(Base64UrlDecode("Zm 9v"));
  EXPECT_FALSE(Base64UrlDecode("Zm9v\n"));
  EXPECT_FALSE(Base64UrlDecode(" Zm9v"));
  EXPECT_FALSE(Base64UrlDecode("Zm9v\r\n"));
  EXPECT_FALSE(Base64UrlDecode("Zm\t9v"));
  EXPECT_FALSE(Base64UrlDecode(std::string("Zm9v\0", 5)));
  EXPECT_FALSE(Base64UrlDecode("Zm9.v"));
  EXPECT_FALSE(Base64UrlDecode("Zm9v\xC3\xA9"));
}

TEST(Base64Url, RefusesImpossibleLength) {
  EXPECT_FALSE(Base64UrlDecode("Z"));
  EXPECT_FALSE(Base64UrlDecode("Zm9vY"));
}

TEST(Base64Url, RefusesNonCanonicalTrailingBits) {
  // "Zg" is 'f'; "Zh".."Zv" carry nonzero unused low bits and would decode to 'f' too.
  EXPECT_TRUE(Base64UrlDecode("Zg"));
  EXPECT_FALSE(Base64UrlDecode("Zh"));
  EXPECT_FALSE(Base64UrlDecode("Zv"));
  // "Zm8" is "fo"; '9' sets one of the two unused low bits.
  EXPECT_TRUE(Base64UrlDecode("Zm8"));
  EXPECT_FALSE(Base64UrlDecode("Zm9"));
  EXPECT_FALSE(Base64UrlDecode("Zm_"));
}

TEST(Hex, EncodesLowerCase) {
  EXPECT_EQ(HexEncode(std::string("\x00\xFF\x10\xAB", 4)), "00ff10ab");
  EXPECT_EQ(HexEncode(""), "");
}

TEST(Hex, DecodesBothCases) {
  EXPECT_EQ(HexDecode("00ff10ab"), std::string("\x00\xFF\x10\xAB", 4));
  EXPECT_EQ(HexDecode("00FF10AB"), std::string("\x00\xFF\x10\xAB", 4));
  EXPECT_EQ(HexDecode(""), std::string());
}

TEST(Hex, RefusesMalformed) {
  EXPECT_FALSE(HexDecode("abc"));
  EXPECT_FALSE(HexDecode("zz"));
  EXPECT_FALSE(HexDecode("0x00"));
  EXPECT_FALSE(HexDecode("00 "));
}

}  // namespace
}  // namespace agentidp::crypto
