#include "core/swar.hpp"

#include <gtest/gtest.h>

#include <string>

namespace agentidp::core::swar {
namespace {

size_t NaiveJsonSpecial(std::string_view s, size_t from) {
  for (size_t i = from; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == '"' || c == '\\') return i;
  }
  return s.size();
}

bool NaiveFormSpecial(std::string_view s) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '%' || c == '+' || c >= 0x80) return true;
  }
  return false;
}

// Every byte value at every position of strings of 1..40 bytes (the sixteen-byte SSE2
// blocks, the eight-byte blocks after them and the byte tail), in a background of a plain character
// and of neighbours of the special bytes that a wrong mask would confuse with them.
TEST(Swar, AgreesWithTheByteLoopForEveryByteAtEveryPosition) {
  for (char fill : {'a', '!', '#', '*', ',', '[', ']', '~', ' ', '\x7f'}) {
    for (size_t len = 1; len <= 40; ++len) {
      for (size_t pos = 0; pos < len; ++pos) {
        for (int c = 0; c < 256; ++c) {
          std::string s(len, fill);
          s[pos] = static_cast<char>(c);
          for (size_t from = 0; from <= len; from += 3)
            ASSERT_EQ(FindJsonSpecial(s, from), NaiveJsonSpecial(s, from))
                << "len " << len << " pos " << pos << " byte " << c << " from " << from;
          ASSERT_EQ(HasFormSpecial(s), NaiveFormSpecial(s))
              << "len " << len << " pos " << pos << " byte " << c;
        }
      }
    }
  }
}

TEST(Swar, FindsTheFirstOfSeveral) {
  std::string s = "abcdefghij\"klmnop\\qr\x01";
  EXPECT_EQ(FindJsonSpecial(s), 10u);
  EXPECT_EQ(FindJsonSpecial(s, 11), 17u);
  EXPECT_EQ(FindJsonSpecial(s, 18), 20u);
  EXPECT_EQ(FindJsonSpecial(s, 21), s.size());
  EXPECT_EQ(FindJsonSpecial(""), 0u);
  EXPECT_FALSE(HasFormSpecial(""));
  EXPECT_FALSE(HasFormSpecial("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_"));
  EXPECT_TRUE(HasFormSpecial("client_credentials+x"));
  EXPECT_TRUE(HasFormSpecial("abcdefgh%20"));
  EXPECT_TRUE(HasFormSpecial("abcdefgh\xc3\xa9"));
}

}  // namespace
}  // namespace agentidp::core::swar
