#pragma once

// The one way the server reaches out to other hosts (DESIGN §5): JWKS of private_key_jwt
// clients, of federation partners and OIDC issuers. The implementation (http/outbound_client)
// is guarded: HTTPS only, no redirects, a total timeout, a response size cap, and every
// resolved address checked against loopback, link-local, private and other non-public
// ranges before connecting (the checked address is the one connected to: no second lookup
// that DNS rebinding could redirect).

#include "core/result.hpp"

#include <string>

namespace agentidp::core {

struct OutboundResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

class OutboundFetcher {
 public:
  virtual ~OutboundFetcher() = default;
  // Blocking GET (worker threads only). Errors: Errc::kValidation with code
  // "OUTBOUND_REFUSED" when the guard refuses the URL or address, Errc::kUnavailable when
  // the host cannot be reached, times out, or answers too much.
  virtual Result<OutboundResponse> Get(const std::string& url) = 0;
};

}  // namespace agentidp::core
