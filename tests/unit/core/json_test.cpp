#include "core/json.hpp"

#include <gtest/gtest.h>
#include <boost/json/array.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace agentidp::core {
namespace {

std::string ErrorOf(std::string_view text, const JsonLimits& limits = {}) {
  auto r = ParseJsonStrict(text, limits);
  if (r.ok()) return "<ok>";
  EXPECT_EQ(r.error().kind, Errc::kValidation);
  return r.error().message;
}

TEST(ParseJsonStrict, ParsesNestedDocument) {
  auto r = ParseJsonStrict(
      R"({"a":[1,-2,3.5,true,null,"x\u00e9"],"b":{"c":{}},"d":18446744073709551615})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& o = r->as_object();
  EXPECT_EQ(o.at("a").as_array().size(), 6u);
  EXPECT_EQ(o.at("a").as_array()[0].as_int64(), 1);
  EXPECT_EQ(o.at("a").as_array()[1].as_int64(), -2);
  EXPECT_DOUBLE_EQ(o.at("a").as_array()[2].as_double(), 3.5);
  EXPECT_EQ(o.at("a").as_array()[5].as_string(), "x\xC3\xA9");
  EXPECT_TRUE(o.at("b").as_object().at("c").as_object().empty());
  EXPECT_EQ(o.at("d").as_uint64(), 18446744073709551615ull);
}

TEST(ParseJsonStrict, ParsesScalarsAtTopLevel) {
  auto r = ParseJsonStrict(" \"hi\" ");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->as_string(), "hi");
  ASSERT_TRUE(ParseJsonStrict("42").ok());
  EXPECT_EQ(ParseJsonStrict("42")->as_int64(), 42);
}

TEST(ParseJsonStrict, PreservesMemberOrder) {
  auto r = ParseJsonStrict(R"({"z":1,"a":2,"m":3})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(JsonSerialize(*r), R"({"z":1,"a":2,"m":3})");
}

TEST(ParseJsonStrict, RefusesDuplicateMembersAtTopLevel) {
  EXPECT_EQ(ErrorOf(R"({"scope":"read","scope":"admin"})"), "Duplicate JSON member \"scope\"");
}

TEST(ParseJsonStrict, RefusesDuplicateMembersNested) {
  EXPECT_EQ(ErrorOf(R"({"a":{"b":1,"b":2}})"), "Duplicate JSON member \"b\"");
  EXPECT_EQ(ErrorOf(R"([{"x":1},{"y":1,"y":1}])"), "Duplicate JSON member \"y\"");
  // The first "a" holds an object, so it completes before the second "a" is seen.
  EXPECT_EQ(ErrorOf(R"({"a":{"k":[1,2]},"a":1})"), "Duplicate JSON member \"a\"");
}

TEST(ParseJsonStrict, DuplicateDetectionSeesEscapedNames) {
  // "\u0061" is "a": the same member name spelled differently.
  EXPECT_EQ(ErrorOf(R"({"a":1,"\u0061":2})"), "Duplicate JSON member \"a\"");
}

TEST(ParseJsonStrict, SameNameInSiblingObjectsIsFine) {
  EXPECT_TRUE(ParseJsonStrict(R"({"a":{"id":1},"b":{"id":2},"id":3})").ok());
}

TEST(ParseJsonStrict, DuplicateMessageDoesNotEchoLongOrControlNames) {
  std::string name(200, 'k');
  std::string msg = ErrorOf("{\"" + name + "\":1,\"" + name + "\":2}");
  EXPECT_LT(msg.size(), 120u);
  EXPECT_NE(msg.find("..."), std::string::npos);
  EXPECT_EQ(ErrorOf(R"({"a\nb":1,"a\nb":2})"), "Duplicate JSON member \"a?b\"");
}

TEST(ParseJsonStrict, RefusesInvalidUtf8) {
  EXPECT_EQ(ErrorOf("{\"a\":\"\xC3\x28\"}"), "Invalid UTF-8 in JSON");
  EXPECT_EQ(ErrorOf("\"\xFF\""), "Invalid UTF-8 in JSON");
  EXPECT_EQ(ErrorOf("\"\xC0\xAF\""), "Invalid UTF-8 in JSON");      // overlong '/'
  EXPECT_EQ(ErrorOf("\"\xED\xA0\x80\""), "Invalid UTF-8 in JSON");  // encoded surrogate
  EXPECT_EQ(ErrorOf("{\"\xC3\":1}"), "Invalid UTF-8 in JSON");      // truncated, in a key
}

TEST(ParseJsonStrict, EnforcesDepthLimit) {
  std::string ok_doc = std::string(32, '[') + std::string(32, ']');
  EXPECT_TRUE(ParseJsonStrict(ok_doc).ok());
  std::string deep = std::string(33, '[') + std::string(33, ']');
  EXPECT_EQ(ErrorOf(deep), "JSON nesting exceeds depth 32");
  JsonLimits shallow;
  shallow.max_depth = 2;
  EXPECT_TRUE(ParseJsonStrict(R"({"a":{}})", shallow).ok());
  EXPECT_EQ(ErrorOf(R"({"a":{"b":[]}})", shallow), "JSON nesting exceeds depth 2");
}

TEST(ParseJsonStrict, EnforcesSizeLimit) {
  JsonLimits small;
  small.max_size = 8;
  EXPECT_TRUE(ParseJsonStrict(R"({"a":1})", small).ok());
  EXPECT_EQ(ErrorOf(R"({"ab":12})", small), "JSON document exceeds 8 bytes");
}

TEST(ParseJsonStrict, RefusesTrailingGarbage) {
  EXPECT_EQ(ErrorOf(R"({"a":1}x)"), "Malformed JSON body");
  EXPECT_EQ(ErrorOf(R"({"a":1}{"b":2})"), "Malformed JSON body");
  EXPECT_EQ(ErrorOf("1 2"), "Malformed JSON body");
  EXPECT_EQ(ErrorOf(std::string("{}\0", 3)), "Malformed JSON body");
  EXPECT_TRUE(ParseJsonStrict("{}  \n").ok());
}

TEST(ParseJsonStrict, RefusesExtensions) {
  EXPECT_EQ(ErrorOf(R"({"a":1 /* c */})"), "Malformed JSON body");
  EXPECT_EQ(ErrorOf("{\"a\":1} // c"), "Malformed JSON body");
  EXPECT_EQ(ErrorOf(R"({"a":1,})"), "Malformed JSON body");
  EXPECT_EQ(ErrorOf("[1,]"), "Malformed JSON body");
  EXPECT_EQ(ErrorOf("NaN"), "Malformed JSON body");
  EXPECT_EQ(ErrorOf("[Infinity]"), "Malformed JSON body");
  EXPECT_EQ(ErrorOf("[-Infinity]"), "Malformed JSON body");
  EXPECT_EQ(ErrorOf("{'a':1}"), "Malformed JSON body");
  EXPECT_EQ(ErrorOf("[01]"), "Malformed JSON body");
}

TEST(ParseJsonStrict, RefusesNumbersThatOverflowDouble) {
  EXPECT_EQ(ErrorOf("[1e400]"), "JSON number out of range");
  EXPECT_EQ(ErrorOf("[-1e400]"), "JSON number out of range");
}

TEST(ParseJsonStrict, RefusesLoneSurrogateEscapes) {
  EXPECT_EQ(ErrorOf(R"(["\ud800"])"), "Malformed JSON body");
  EXPECT_EQ(ErrorOf(R"(["\udc00"])"), "Malformed JSON body");
  auto pair = ParseJsonStrict(R"(["\ud83d\ude00"])");
  ASSERT_TRUE(pair.ok());
  EXPECT_EQ(pair->as_array()[0].as_string(), "\xF0\x9F\x98\x80");
}

TEST(ParseJsonStrict, RefusesEmptyAndTruncatedInput) {
  EXPECT_EQ(ErrorOf(""), "Malformed JSON body");
  EXPECT_EQ(ErrorOf("   "), "Malformed JSON body");
  EXPECT_EQ(ErrorOf(R"({"a":)"), "Malformed JSON body");
  EXPECT_EQ(ErrorOf(R"("abc)"), "Malformed JSON body");
}

TEST(ParseJsonObjectStrict, RequiresObject) {
  auto ok = ParseJsonObjectStrict(R"({"grant_type":"client_credentials"})");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->at("grant_type").as_string(), "client_credentials");

  auto arr = ParseJsonObjectStrict("[1]");
  ASSERT_FALSE(arr.ok());
  EXPECT_EQ(arr.error().kind, Errc::kValidation);
  EXPECT_EQ(arr.error().message, "JSON body must be an object");

  auto dup = ParseJsonObjectStrict(R"({"a":1,"a":1})");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().message, "Duplicate JSON member \"a\"");
}

TEST(JsonSerialize, IsCompact) {
  boost::json::object o;
  o["a"] = 1;
  o["b"] = "x\"y";
  EXPECT_EQ(JsonSerialize(o), R"({"a":1,"b":"x\"y"})");
}

TEST(AppendJsonString, WritesWhatSerializeWritesForEveryByte) {
  for (int c = 0; c < 256; ++c) {
    std::string s = "a";
    s.push_back(static_cast<char>(c));
    s += "\"\\b";
    std::string ours = "[";
    AppendJsonString(ours, s);
    ours += "]";
    boost::json::array expected;
    expected.emplace_back(boost::json::string_view(s));
    EXPECT_EQ(ours, JsonSerialize(expected)) << "byte " << c;
  }
}

TEST(AppendJsonString, KeyIsAStringAndAColon) {
  std::string out;
  AppendJsonKey(out, "a\"b");
  EXPECT_EQ(out, R"("a\"b":)");
}

// Long strings cross the eight-byte blocks of the escape scan: each byte value at each
// position of a 21-byte string.
TEST(AppendJsonString, WritesWhatSerializeWritesAtEveryPositionOfALongString) {
  for (size_t pos = 0; pos < 21; ++pos) {
    for (int c = 0; c < 256; ++c) {
      std::string s = "abcdefghijklmnopqrstu";
      s[pos] = static_cast<char>(c);
      std::string ours = "[";
      AppendJsonString(ours, s);
      ours += "]";
      boost::json::array expected;
      expected.emplace_back(boost::json::string_view(s));
      ASSERT_EQ(ours, JsonSerialize(expected)) << "byte " << c << " at " << pos;
    }
  }
}

TEST(JsonObjectWriter, WritesWhatSerializeWritesForTheSameMembers) {
  const std::vector<std::string> tricky = {
      "plain",
      "quote \" and backslash \\ and slash /",
      "controls \b\f\n\r\t \x01\x1f\x7f",
      std::string("nul \0 inside", 13),
      "UTF-8: \xc3\xa9 \xe2\x80\xa8 \xe2\x80\xa9 \xf0\x9f\x98\x80 \xef\xbb\xbf",
      "not UTF-8: \xff\xfe \xc3",
      "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiYXQrand0In0.eyJpc3MiOiJodHRwOi8v",
      "</script><!-- \\u0000 -->",
  };
  for (const std::string& v : tricky) {
    for (const std::string& k : tricky) {
      boost::json::object o;
      o["a"] = boost::json::string_view(v);
      o[k] = boost::json::string_view(v);
      o["n"] = -42;
      o["z"] = false;
      std::string ours;
      JsonObjectWriter w(ours);
      w.String("a", v).String(k, v).Int("n", -42).Bool("z", false);
      w.Finish();
      EXPECT_EQ(ours, JsonSerialize(o)) << v;
      // Where the text is valid JSON (valid UTF-8), it reads back as the same document.
      auto parsed = ParseJsonObjectStrict(ours);
      if (parsed.ok()) {
        EXPECT_EQ(*parsed, o);
      }
    }
  }
  EXPECT_TRUE(ParseJsonObjectStrict([&] {
                std::string t;
                JsonObjectWriter w(t);
                w.String(tricky[4], tricky[2]).String("q", tricky[1]).String("nul", tricky[3]);
                w.Finish();
                return t;
              }())
                  .ok());
}

TEST(JsonObjectWriter, WritesEveryKindOfValueAsSerializeDoes) {
  auto value = ParseJsonStrict(
      R"({"s":"x\"y\u00e9","i":-9223372036854775808,"u":18446744073709551615,"big":9223372036854775807,)"
      R"("t":true,"f":false,"n":null,"d":1.5,"e":-0.0,"x":1e300,"arr":[1,"two",{"three":[]}],)"
      R"("obj":{"k":"v","nested":{"a":[null]}},"empty":{},"ea":[]})");
  ASSERT_TRUE(value.ok());
  const boost::json::object& o = value->as_object();
  std::string ours;
  JsonObjectWriter w(ours);
  for (const auto& kv : o) w.Value(std::string_view(kv.key().data(), kv.key().size()), kv.value());
  w.Finish();
  EXPECT_EQ(ours, JsonSerialize(o));
  std::string empty;
  JsonObjectWriter(empty).Finish();
  EXPECT_EQ(empty, "{}");
  std::string ints;
  JsonObjectWriter iw(ints);
  iw.Int("min", INT64_MIN).Int("max", INT64_MAX).Int("zero", 0);
  iw.Finish();
  EXPECT_EQ(ints, R"({"min":-9223372036854775808,"max":9223372036854775807,"zero":0})");
}

}  // namespace
}  // namespace agentidp::core
