#pragma once

#include "core/result.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace agentidp::http {

// Authorization: Basic <base64(urlencode(client_id) ":" urlencode(client_secret))>
// (RFC 6749 §2.3.1, RFC 7617). Strict: canonical base64 with padding, exactly one ':',
// percent-escapes valid. Errors are OAuth invalid_client.
core::Result<std::pair<std::string, std::string>> ParseBasicCredentials(std::string_view header);

// Strict RFC 4648 §4 base64 (with padding) decoding; nullopt on anything non-canonical.
std::optional<std::string> Base64StdDecode(std::string_view in);

}  // namespace agentidp::http
