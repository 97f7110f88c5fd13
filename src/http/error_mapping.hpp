#pragma once

// The one place that turns a core::Error into an HTTP response (DESIGN §3).

#include "core/error.hpp"
#include "http/message.hpp"

namespace agentidp::http {

int StatusFor(const core::Error& error);
// SPEC §1 envelope {"code","message","details"?} or, for OAuth errors, RFC 6749 §5.2
// {"error","error_description"}; adds Retry-After and WWW-Authenticate where they apply.
Response ErrorResponse(const core::Error& error);
Response JsonResponse(int status, std::string body);

}  // namespace agentidp::http
