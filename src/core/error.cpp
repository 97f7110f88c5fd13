#include "core/error.hpp"

namespace agentidp::core {

Error Error::Validation(std::string message, boost::json::object details) {
  return Error{Errc::kValidation, "VALIDATION_ERROR", std::move(message), std::move(details)};
}
Error Error::NotFound(std::string code, std::string message) {
  return Error{Errc::kNotFound, std::move(code), std::move(message)};
}
Error Error::Conflict(std::string code, std::string message) {
  return Error{Errc::kConflict, std::move(code), std::move(message)};
}
Error Error::Forbidden(std::string reason, std::string message) {
  boost::json::object details;
  Error e{Errc::kForbidden, "FORBIDDEN", std::move(message)};
  e.details["reason"] = reason;
  return e;
}
Error Error::Unauthorized(std::string message) {
  return Error{Errc::kUnauthorized, "UNAUTHORIZED", std::move(message)};
}
Error Error::Unavailable(std::string message, int retry_after) {
  Error e{Errc::kUnavailable, "SERVICE_UNAVAILABLE", std::move(message)};
  e.retry_after = retry_after;
  return e;
}
Error Error::RateLimited(int retry_after, std::string message) {
  Error e{Errc::kRateLimited, "RATE_LIMIT_EXCEEDED", std::move(message)};
  e.retry_after = retry_after;
  return e;
}
Error Error::Internal(std::string message) {
  return Error{Errc::kInternal, "INTERNAL_ERROR", std::move(message)};
}
Error Error::OAuth(std::string error, std::string description, int status) {
  Error e{Errc::kOAuth, std::move(error), std::move(description)};
  e.status_override = status != 0 ? status : (e.code == "invalid_client" ? 401 : 400);
  return e;
}

}  // namespace agentidp::core
