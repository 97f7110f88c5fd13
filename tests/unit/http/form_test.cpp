#include "http/form.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace agentidp::http {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

TEST(FormTest, ParsesATokenRequest) {
  auto r = ParseFormUrlEncoded(
      "grant_type=client_credentials&client_id=abc&scope=agents%3Aread+agents%3Awrite");
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(*r, ElementsAre(Pair("grant_type", "client_credentials"), Pair("client_id", "abc"),
                              Pair("scope", "agents:read agents:write")));
}

TEST(FormTest, PlusIsSpaceAndEncodedPlusIsPlus) {
  auto r = ParseFormUrlEncoded("a=1+2&b=1%2B2&c+d=x");
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(*r, ElementsAre(Pair("a", "1 2"), Pair("b", "1+2"), Pair("c d", "x")));
}

TEST(FormTest, KeepsRepeatedKeysInOrder) {
  auto r = ParseFormUrlEncoded("scope=a&client_id=x&scope=b");
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(*r, ElementsAre(Pair("scope", "a"), Pair("client_id", "x"), Pair("scope", "b")));
}

TEST(FormTest, HandlesEmptyPairsAndMissingValues) {
  auto r = ParseFormUrlEncoded("&a=&&b&c=%3D=&");
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(*r, ElementsAre(Pair("a", ""), Pair("b", ""), Pair("c", "==")));
  auto empty = ParseFormUrlEncoded("");
  ASSERT_TRUE(empty.ok());
  EXPECT_THAT(*empty, IsEmpty());
}

TEST(FormTest, DecodesUtf8) {
  auto r = ParseFormUrlEncoded("name=Jos%C3%A9&raw=\xE2\x82\xAC");
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(*r, ElementsAre(Pair("name", "Jos\xC3\xA9"), Pair("raw", "\xE2\x82\xAC")));
}

TEST(FormTest, InvalidEscapesAreOAuthInvalidRequest) {
  for (const char* body : {"a=%", "a=%4", "a=%zz", "a%G1=b", "a=b&c=%%41"}) {
    auto r = ParseFormUrlEncoded(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().kind, core::Errc::kOAuth) << body;
    EXPECT_EQ(r.error().code, "invalid_request") << body;
    EXPECT_EQ(r.error().status_override, 400);
  }
}

TEST(FormTest, InvalidUtf8IsRefused) {
  for (const char* body : {"a=%FF", "a=%C0%AF", "a=%ED%A0%80", "a=%E2%82", "%80=b"}) {
    auto r = ParseFormUrlEncoded(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().code, "invalid_request");
  }
}

TEST(FormTest, QueryErrorsAreValidationErrors) {
  auto ok = ParseQuery("page=2&limit=50&q=a+b");
  ASSERT_TRUE(ok.ok());
  EXPECT_THAT(*ok, ElementsAre(Pair("page", "2"), Pair("limit", "50"), Pair("q", "a b")));
  auto bad = ParseQuery("page=%2");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, core::Errc::kValidation);
  EXPECT_EQ(bad.error().code, "VALIDATION_ERROR");
}

TEST(Utf8Test, AcceptsValidSequences) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("\xC3\xA9"));              // U+00E9
  EXPECT_TRUE(IsValidUtf8("\xE2\x82\xAC"));          // U+20AC
  EXPECT_TRUE(IsValidUtf8("\xF0\x9F\x98\x80"));      // U+1F600
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));      // U+10FFFF
  EXPECT_TRUE(IsValidUtf8("\xED\x9F\xBF"));          // U+D7FF, just below the surrogates
  EXPECT_TRUE(IsValidUtf8(std::string("a\0b", 3)));  // NUL is valid UTF-8
}

TEST(Utf8Test, RejectsInvalidSequences) {
  EXPECT_FALSE(IsValidUtf8("\x80"));              // lone continuation
  EXPECT_FALSE(IsValidUtf8("\xC3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xC0\x80"));          // overlong NUL
  EXPECT_FALSE(IsValidUtf8("\xC1\xBF"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));      // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate U+D800
  EXPECT_FALSE(IsValidUtf8("\xF0\x80\x80\xAF"));  // overlong
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xF5\x80\x80\x80"));
  EXPECT_FALSE(IsValidUtf8("\xFF"));
  EXPECT_FALSE(IsValidUtf8("\xE2\x28\xA1"));  // bad continuation
  EXPECT_FALSE(IsValidUtf8("ok\xE2\x82"));    // truncated at the end
}

TEST(MediaTypeTest, StripsParametersAndLowerCases) {
  EXPECT_EQ(MediaType("application/x-www-form-urlencoded"), "application/x-www-form-urlencoded");
  EXPECT_EQ(MediaType("Application/JSON; charset=UTF-8"), "application/json");
  EXPECT_EQ(MediaType("  text/plain ;q=1"), "text/plain");
  EXPECT_EQ(MediaType(""), "");
  EXPECT_EQ(MediaType(";charset=utf-8"), "");
}

}  // namespace
}  // namespace agentidp::http
