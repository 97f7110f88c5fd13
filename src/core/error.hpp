#pragma once

#include <boost/json/object.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agentidp::core {

// One error vocabulary for the whole tree. `Errc` says what kind of failure it
// is; the HTTP layer's single mapping function turns it into a status code.
// Product errors carry the SPEC §1 code (`AGENT_NOT_FOUND`, ...); OAuth errors
// carry the RFC 6749/7009/7662 error string (`invalid_client`, ...).
enum class Errc {
  kValidation,        // 400 VALIDATION_ERROR / INVALID_SCOPES / INVALID_TTL
  kUnauthorized,      // 401
  kForbidden,         // 403
  kNotFound,          // 404
  kConflict,          // 409
  kGone,              // 410
  kPayloadTooLarge,   // 413
  kUnsupportedMedia,  // 415
  kUnprocessable,     // 422
  kRateLimited,       // 429
  kUnavailable,       // 503
  kInternal,          // 500
  // OAuth 2.0 (RFC 6749 §5.2 and friends). `code` holds the RFC error string.
  kOAuth,
};

struct Error {
  Errc kind = Errc::kInternal;
  std::string code;     // SPEC code or RFC error string
  std::string message;  // safe for clients, never contains secrets or internals
  boost::json::object details{};
  int status_override = 0;  // OAuth: 400 or 401 (invalid_client); 0 = derived from kind
  int retry_after = 0;      // seconds, for 429 / 503
  // Response headers the error needs (DPoP-Nonce, a WWW-Authenticate challenge); set after
  // the mapping's own, so they win.
  std::vector<std::pair<std::string, std::string>> headers{};

  static Error Validation(std::string message, boost::json::object details = {});
  static Error NotFound(std::string code, std::string message);
  static Error Conflict(std::string code, std::string message);
  static Error Forbidden(std::string reason, std::string message = "Insufficient permissions");
  static Error Unauthorized(std::string message = "Authentication required");
  static Error Unavailable(std::string message, int retry_after = 1);
  static Error RateLimited(int retry_after, std::string message = "Rate limit exceeded");
  static Error Internal(std::string message = "Internal server error");
  // RFC 6749 §5.2 error. invalid_client answers 401, everything else 400.
  static Error OAuth(std::string error, std::string description, int status = 0);
};

}  // namespace agentidp::core
