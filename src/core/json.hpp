#pragma once

#include "core/result.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace agentidp::core {

struct JsonLimits {
  size_t max_depth = 32;      // nesting of arrays and objects
  size_t max_size = 1 << 20;  // bytes of input
};

// Strict RFC 8259 parsing for everything that comes from outside (request bodies,
// JWT headers and claims, JWKS documents). Unlike boost::json::parse, which keeps
// one of two members with the same name, a duplicate member name at any depth is
// an error: two parsers that disagree on which one wins are a classic token- and
// policy-confusion bug (RFC 7515 §5.2, RFC 8259 §4). Also refused: invalid UTF-8,
// comments, trailing commas, trailing data, NaN/Infinity and numbers that overflow
// a double. Every failure is Error::Validation with a message safe for clients.
Result<boost::json::value> ParseJsonStrict(std::string_view text, const JsonLimits& limits = {});

// As ParseJsonStrict, and the top-level value must be an object.
Result<boost::json::object> ParseJsonObjectStrict(std::string_view text,
                                                  const JsonLimits& limits = {});

// Compact serialization (no whitespace, members in insertion order).
std::string JsonSerialize(const boost::json::value& value);

// Appends `s` as a JSON string (quotes included), escaped exactly as JsonSerialize
// escapes strings: quotation mark, reverse solidus and control characters; every other
// byte as it is. For hot paths that write JSON text directly instead of building a
// boost::json tree (token claims, access log lines).
void AppendJsonString(std::string& out, std::string_view s);
// Appends `key` as a JSON string and a colon: `"key":`.
inline void AppendJsonKey(std::string& out, std::string_view key) {
  AppendJsonString(out, key);
  out.push_back(':');
}

// Writes one JSON object as text into `out`, members in call order: byte for byte what
// JsonSerialize writes for a boost::json::object given the same members in the same order
// (a unit test holds it to that). For responses and audit metadata on the token endpoint,
// where building a boost::json tree cost a dozen allocations per request. Member names must
// be distinct: unlike boost::json::object::operator[], a repeated name is written twice.
class JsonObjectWriter {
 public:
  explicit JsonObjectWriter(std::string& out) : out_(out) { out_.push_back('{'); }
  JsonObjectWriter(const JsonObjectWriter&) = delete;
  JsonObjectWriter& operator=(const JsonObjectWriter&) = delete;

  JsonObjectWriter& String(std::string_view key, std::string_view value);
  JsonObjectWriter& Int(std::string_view key, int64_t value);
  JsonObjectWriter& Bool(std::string_view key, bool value);
  // Any value; strings, integers, booleans and null without a detour through the serializer.
  JsonObjectWriter& Value(std::string_view key, const boost::json::value& value);
  // Closes the object; nothing may be added afterwards.
  void Finish() { out_.push_back('}'); }

 private:
  void Key(std::string_view key) {
    if (!first_) out_.push_back(',');
    first_ = false;
    AppendJsonKey(out_, key);
  }
  std::string& out_;
  bool first_ = true;
};

}  // namespace agentidp::core
