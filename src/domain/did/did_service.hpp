#pragma once

// W3C DIDs for the instance and its agents (SPEC §4 "did"), method did:web:
//   instance  did:web:<host%3Aport>                -> https://<host:port>/.well-known/did.json
//   agent     did:web:<host%3Aport>:agents:<id>    -> https://<host:port>/agents/<id>/did.json
// Verification methods are JsonWebKey2020 with public members only. The instance's are the
// keys that sign access tokens (the JWKS); an agent's is its own signing key, created on first
// need, whose private part is stored only sealed under the master key. An agent's key signs
// its agent card JWT, so what the DID document publishes is exactly what signs.

#include "core/clock.hpp"
#include "core/result.hpp"
#include "domain/keys/keyring.hpp"
#include "domain/model.hpp"
#include "domain/store.hpp"

#include <boost/json/object.hpp>

#include <string>
#include <string_view>

namespace agentidp::domain {

// The did:web identifier of an https/http URL: the host, its port's ':' percent-encoded
// (did:web §3.1.1), then each path segment after a ':'.
std::string DidWebFromUrl(std::string_view url);
std::string AgentDid(std::string_view did_base, std::string_view agent_id);
// XML datetime in UTC without fractional seconds, as DID Core §7.1.3 wants for metadata.
std::string DidTimestamp(int64_t ms);

inline constexpr std::string_view kDidContentType = "application/did+ld+json";

struct DidSettings {
  std::string issuer;                   // https://host:port
  std::string did_base;                 // DidWebFromUrl(issuer)
  std::string agent_key_alg = "EdDSA";  // EdDSA (Ed25519) or ES256
};

class DidService {
 public:
  DidService(AgentKeyStore& keys, const core::Clock& clock, std::string master_key,
             DidSettings settings);

  const DidSettings& settings() const { return settings_; }

  // The instance DID document: every key of the JWKS (staged, signing, retiring).
  boost::json::object InstanceDocument(const KeySnapshot& keys) const;

  // The agent's active signing key, created (and stored sealed) on first need. Concurrent
  // first calls on several nodes agree on one key (the store's one-active-key rule).
  core::Result<AgentKey> KeyFor(const Agent& agent);
  // Replaces the agent's signing key with a new one (its first, if it had none): the old key
  // is retired and leaves the DID document at once; cards are signed with the new key from
  // now on. Returns the new key and the retired key's kid ("" when there was none).
  struct RotatedKey {
    AgentKey key;
    std::string previous_kid;
  };
  core::Result<RotatedKey> RotateKey(const Agent& agent);

  boost::json::object AgentDocument(const Agent& agent, const AgentKey& key) const;
  // A W3C DID Resolution result. `key` is null for a decommissioned agent: its document is
  // then only {@context, id} and didDocumentMetadata.deactivated is true.
  boost::json::object Resolution(const Agent& agent, const AgentKey* key) const;
  // AGNTCY-style agent card (docs/api.md#agent-cards).
  boost::json::object Card(const Agent& agent, const AgentKey& key) const;
  // The card as a compact JWS signed with the agent's DID key: header {alg, kid: <did>#<kid>,
  // typ: JWT}, claims {iss: <did>, sub: <did>, iat, card}.
  core::Result<std::string> SignedCard(const Agent& agent, const AgentKey& key) const;

 private:
  boost::json::object VerificationMethod(const std::string& controller, const std::string& kid,
                                         const std::string& public_jwk_json) const;
  std::string Aad(const std::string& agent_id, const std::string& kid) const;
  core::Result<AgentKey> NewKey(const Agent& agent) const;

  AgentKeyStore& keys_;
  const core::Clock& clock_;
  const std::string master_key_;
  DidSettings settings_;
};

}  // namespace agentidp::domain
