#pragma once

// DPoP proofs (RFC 9449): a JWT of type dpop+jwt signed with the key in its own "jwk"
// header, bound to one HTTP method and URI (htm/htu), fresh (iat), used once (jti) and, at
// resource servers, to one access token (ath). Optional server nonces (§8) are stateless:
// HMAC-SHA-256 over a time slot under a key every node shares, so any node accepts a nonce
// another node issued.

#include "core/clock.hpp"
#include "core/result.hpp"
#include "domain/replay_cache.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agentidp::domain {

struct DpopSettings {
  int64_t leeway_s = 30;   // the one leeway (docs/security.md)
  int64_t max_age_s = 60;  // a proof is accepted while now - iat <= max_age + leeway
  bool require_nonce = false;
  std::string nonce_key;       // >= 32 bytes, same on every node (derived from the master key)
  int64_t nonce_slot_s = 300;  // a nonce is valid in its slot and the next one
};

struct DpopCheck {
  std::string_view proof;
  std::string_view method;  // the request's method
  std::string_view url;     // the request's URL as this server is reached (issuer + path)
  // At resource servers: the access token the proof must be bound to (ath).
  std::optional<std::string_view> access_token;
};

// The algorithms proofs may use; discovery's dpop_signing_alg_values_supported says exactly this.
const std::vector<std::string>& DpopAlgorithms();

// RFC 9449 §4.3 point 9 (RFC 3986 §6.2.2/6.2.3 normalization, no query or fragment): the
// form htu values are compared in. nullopt for anything that is not an absolute http(s) URL.
std::optional<std::string> NormalizeHtu(std::string_view url);

class DpopVerifier {
 public:
  DpopVerifier(ReplayCache& replay, const core::Clock& clock, DpopSettings settings);
  // The RFC 7638 thumbprint of the proof's key (the token's cnf.jkt). Errors are OAuth
  // errors: invalid_dpop_proof, or use_dpop_nonce carrying a DPoP-Nonce header; the caller
  // sets the status (400 at the token endpoint, 401 + WWW-Authenticate at resources).
  core::Result<std::string> Verify(const DpopCheck& check);
  // The nonce to hand out now (empty when nonces are off).
  std::string CurrentNonce() const;
  bool nonces_required() const { return settings_.require_nonce; }
  bool blocking() const { return replay_.Blocking(); }

 private:
  std::string NonceFor(int64_t slot) const;
  bool NonceValid(std::string_view nonce) const;

  ReplayCache& replay_;
  const core::Clock& clock_;
  DpopSettings settings_;
};

}  // namespace agentidp::domain
