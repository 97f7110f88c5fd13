#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace agentidp::crypto {

// base64url without padding (RFC 7515 §2, RFC 4648 §5).
std::string Base64UrlEncode(std::string_view bytes);
void Base64UrlEncodeAppend(std::string& out, std::string_view bytes);

// Strict base64url: only A-Z a-z 0-9 - _, no padding, no whitespace, a length that
// is not 1 mod 4, and the unused low bits of the last character must be zero, so
// every byte string has exactly one accepted encoding (no signature malleability).
std::optional<std::string> Base64UrlDecode(std::string_view text);

// Lower-case hex.
std::string HexEncode(std::string_view bytes);
// The same into `out`, which has room for 2 * bytes.size() characters (no allocation).
void HexEncodeTo(std::string_view bytes, char* out);
// Accepts upper- and lower-case digits; refuses odd length and anything else.
std::optional<std::string> HexDecode(std::string_view text);

}  // namespace agentidp::crypto
