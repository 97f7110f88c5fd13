#pragma once

// Signing keys of external OIDC issuers (SPEC §6): the issuer's discovery document
// (`<issuer>/.well-known/openid-configuration`) names its `jwks_uri`; both are fetched through
// the guarded outbound client (DESIGN §5). The discovered `issuer` must equal the configured
// one (OIDC Discovery §4.3). Key sets are cached by RemoteKeySets (TTL, refresh on an unknown
// kid at most every 10 s per URL); discovery documents are cached here for the same TTL.

#include "core/clock.hpp"
#include "core/outbound.hpp"
#include "core/result.hpp"
#include "domain/oauth/client_keys.hpp"

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace agentidp::domain {

// An issuer identifier we accept in a trust policy or partner record: an absolute https URL
// without query, fragment or user information, <= 2048 characters. `field` names the field in
// the error message.
core::Status ValidateIssuerUrl(std::string_view issuer, std::string_view field);

class IssuerKeys {
 public:
  IssuerKeys(core::OutboundFetcher* fetcher, RemoteKeySets& sets, const core::Clock& clock,
             int64_t ttl_ms = 300'000, int64_t min_refresh_ms = 10'000);
  // Blocking (worker threads only). `refresh`: the caller met an unknown kid; the key set is
  // fetched again (at most every min_refresh_ms). Errors: the fetcher's OUTBOUND_REFUSED
  // (Errc::kValidation), or Errc::kUnavailable with code ISSUER_DISCOVERY_FAILED /
  // JWKS_FETCH_FAILED.
  core::Result<std::shared_ptr<const KeySet>> Get(const std::string& issuer, bool refresh);

 private:
  core::Result<std::string> JwksUri(const std::string& issuer);

  struct Entry {
    std::string jwks_uri;  // "" when the last discovery failed
    int64_t fetched_ms = 0;
    int64_t attempted_ms = 0;
  };
  core::OutboundFetcher* fetcher_;
  RemoteKeySets& sets_;
  const core::Clock& clock_;
  const int64_t ttl_ms_;
  const int64_t min_refresh_ms_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace agentidp::domain
