#pragma once

// application/x-www-form-urlencoded and query-string parsing (Beast-free).

#include "core/result.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agentidp::http {

using FormParams = std::vector<std::pair<std::string, std::string>>;

// Token, introspection and revocation bodies (RFC 6749 §4.1.3, Appendix B): '+' is a
// space, percent escapes must be well formed, decoded names and values must be UTF-8.
// Repeated names are all kept in order: RFC 6749 §3.2 makes a repeated parameter an
// error, and only the caller knows which ones matter. Empty pairs ("a=1&&b=2") are
// skipped; a pair without '=' has an empty value.
// Errors: Error::OAuth("invalid_request", ...).
core::Result<FormParams> ParseFormUrlEncoded(std::string_view body);

// The same rules for a URL query (the part after '?', without it).
// Errors: Error::Validation(...).
core::Result<FormParams> ParseQuery(std::string_view query);

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool IsValidUtf8(std::string_view s);

// "Application/JSON; charset=utf-8" -> "application/json". Trims optional whitespace;
// empty when the header is empty.
std::string MediaType(std::string_view content_type);

}  // namespace agentidp::http
