#pragma once

#include "core/result.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
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

}  // namespace agentidp::core
