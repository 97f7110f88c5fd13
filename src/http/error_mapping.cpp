#include "http/error_mapping.hpp"

#include <boost/json/serialize.hpp>

namespace agentidp::http {

int StatusFor(const core::Error& e) {
  using core::Errc;
  switch (e.kind) {
    case Errc::kValidation:
      return 400;
    case Errc::kUnauthorized:
      return 401;
    case Errc::kForbidden:
      return 403;
    case Errc::kNotFound:
      return 404;
    case Errc::kConflict:
      return 409;
    case Errc::kGone:
      return 410;
    case Errc::kPayloadTooLarge:
      return 413;
    case Errc::kUnsupportedMedia:
      return 415;
    case Errc::kUnprocessable:
      return 422;
    case Errc::kRateLimited:
      return 429;
    case Errc::kUnavailable:
      return 503;
    case Errc::kInternal:
      return 500;
    case Errc::kOAuth:
      return e.status_override != 0 ? e.status_override : 400;
  }
  return 500;
}

Response JsonResponse(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response ErrorResponse(const core::Error& e) {
  Response r;
  r.status = StatusFor(e);
  boost::json::object o;
  if (e.kind == core::Errc::kOAuth) {
    o["error"] = e.code;
    if (!e.message.empty()) o["error_description"] = e.message;
    // RFC 6749 §5.2: a 401 for client authentication names the scheme; RFC 6750 §3 for
    // bearer tokens.
    if (r.status == 401) {
      if (e.code == "invalid_token")
        r.SetHeader("WWW-Authenticate", "Bearer error=\"invalid_token\"");
      else
        r.SetHeader("WWW-Authenticate", "Basic realm=\"agentidp\"");
    }
    if (e.code == "insufficient_scope")
      r.SetHeader("WWW-Authenticate", "Bearer error=\"insufficient_scope\"");
    r.SetHeader("Cache-Control", "no-store");
  } else {
    o["code"] = e.code.empty() ? "INTERNAL_ERROR" : e.code;
    // Internal failures never leak details (SPEC §1).
    o["message"] = e.kind == core::Errc::kInternal ? "Internal server error" : e.message;
    if (!e.details.empty() && e.kind != core::Errc::kInternal) o["details"] = e.details;
    if (e.kind == core::Errc::kForbidden) {
      if (auto* reason = e.details.if_contains("reason")) o["reason"] = *reason;
    }
    if (r.status == 401) r.SetHeader("WWW-Authenticate", "Bearer realm=\"agentidp\"");
  }
  if (e.retry_after > 0) r.SetHeader("Retry-After", std::to_string(e.retry_after));
  for (const auto& [name, value] : e.headers) r.SetHeader(name, value);
  r.body = boost::json::serialize(o);
  return r;
}

}  // namespace agentidp::http
