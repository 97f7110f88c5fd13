#pragma once

// private_key_jwt client authentication (RFC 7523 §2.2 and §3 as updated for the issuer
// audience; SPEC §5): a JWT signed with a key of one of the client's active private_key_jwt
// credentials, with iss = sub = client id, our issuer identifier as the sole audience
// (a string), a bounded lifetime and a jti that is accepted once.

#include "core/clock.hpp"
#include "crypto/keys.hpp"
#include "domain/oauth/client_keys.hpp"
#include "domain/oauth/token_service.hpp"
#include "domain/replay_cache.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace agentidp::domain {

inline constexpr std::string_view kJwtBearerAssertionType =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

struct AssertionSettings {
  std::string issuer;            // the only accepted audience
  int64_t leeway_s = 30;         // the one leeway (docs/security.md)
  int64_t max_lifetime_s = 300;  // exp may be at most this far ahead of now (+ leeway)
};

class ClientAssertionVerifier {
 public:
  ClientAssertionVerifier(ClientDirectory& clients, RemoteKeySets& remote, ReplayCache& replay,
                          const core::Clock& clock, AssertionSettings settings);

  // `client_id`: the client_id form parameter, when sent (must then equal the assertion's
  // iss). Every failure is invalid_client; those that depend on stored state (unknown client,
  // wrong key, bad signature, inactive agent) share one message. `may_block` false: WouldBlock()
  // whenever the answer needs the store, a fetch or a blocking replay cache.
  core::Result<AuthenticatedClient> Authenticate(std::string_view assertion,
                                                 const std::string* client_id, bool may_block);

 private:
  std::shared_ptr<const KeySet> InlineSet(const std::string& jwks_json);

  ClientDirectory& clients_;
  RemoteKeySets& remote_;
  ReplayCache& replay_;
  const core::Clock& clock_;
  AssertionSettings settings_;
  // Verified against when the client or its key is unknown, so that path costs the same.
  std::map<std::string, std::unique_ptr<crypto::PublicKey>, std::less<>> dummy_keys_;
  std::mutex inline_mu_;
  std::unordered_map<std::string, std::shared_ptr<const KeySet>> inline_sets_;
};

}  // namespace agentidp::domain
