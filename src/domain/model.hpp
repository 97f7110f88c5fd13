#pragma once

// Plain records of the domain. No I/O, no HTTP, no SQL. Times are epoch milliseconds (UTC).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace agentidp::domain {

struct Organization {
  std::string organization_id;
  std::string name;
  std::string slug;
  std::string plan_tier = "free";  // free|pro|enterprise
  int max_agents = 10;             // -1 = unlimited
  std::string status = "active";   // active|suspended|deleted
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

struct Agent {
  std::string agent_id;  // uuid, also the OAuth client_id
  std::string organization_id;
  std::string email;
  std::string agent_type;
  std::string version;
  std::vector<std::string> capabilities;
  std::string owner;
  std::string deployment_env;
  std::string status = "active";  // active|suspended|decommissioned
  std::string role = "member";    // organization role: member|admin (decides grantable scopes)
  bool is_public = false;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

struct Credential {
  std::string credential_id;
  std::string agent_id;                // = clientId
  std::string type = "client_secret";  // client_secret|private_key_jwt
  std::string status = "active";       // active|revoked
  // client_secret: HMAC-SHA-256(pepper, secret), hex. Never the secret itself (DESIGN §4).
  // Empty for private_key_jwt.
  std::string secret_hash;
  // private_key_jwt: the public JWK set (serialized JSON) or the HTTPS URL it is fetched
  // from; exactly one of the two is set. Both empty for client_secret.
  std::string jwks_json;
  std::string jwks_uri;
  int64_t created_at = 0;
  std::optional<int64_t> expires_at;
  std::optional<int64_t> revoked_at;
};

struct AuditEvent {
  int64_t seq = 0;  // position in the chain, assigned by the store on append
  std::string event_id;
  std::string agent_id;  // may be empty (e.g. auth failure for an unknown client)
  std::string organization_id;
  std::string action;
  std::string outcome;  // success|failure
  int64_t timestamp = 0;
  std::string ip_address;
  std::string user_agent;
  std::string metadata_json = "{}";  // a JSON object, serialized
  std::string hash;
  std::string previous_hash;
};

// A signing key. The private key is stored only sealed (AES-256-GCM under the master key).
struct SigningKey {
  std::string kid;
  std::string alg;  // RS256|ES256|EdDSA
  std::string public_jwk_json;
  std::string sealed_private_key;  // base64url(nonce|ciphertext|tag) of the PKCS#8 PEM
  std::string status;              // staged|active|retired
  int64_t created_at = 0;
  int64_t activates_at = 0;              // when it starts signing
  std::optional<int64_t> retired_at;     // when it stopped signing
  std::optional<int64_t> publish_until;  // when it leaves the JWKS (every token it signed expired)
};

// An A2A delegation (SPEC §4): `delegator` handed `scopes` to `delegatee` until `expires_at`.
// The delegation token carries every chain id from the root down; revoking a chain makes
// every token derived from it inactive.
struct Delegation {
  std::string chain_id;         // uuid
  std::string parent_chain_id;  // "" for a root delegation
  std::string organization_id;
  std::string delegator_agent_id;
  std::string delegatee_agent_id;
  std::string scopes;  // space-separated, sorted
  int depth = 1;       // nesting depth of the token's act claim
  std::string token_jti;
  int64_t created_at = 0;
  int64_t expires_at = 0;
  std::optional<int64_t> revoked_at;
};

// An agent's own signing key (its DID verification method). The private key is stored only
// sealed (AES-256-GCM under the master key, bound to agent id and kid).
struct AgentKey {
  std::string kid;  // RFC 7638 thumbprint
  std::string agent_id;
  std::string alg;  // EdDSA|ES256
  std::string public_jwk_json;
  std::string sealed_private_key;  // base64url(nonce|ciphertext|tag) of the PKCS#8 PEM
  std::string status = "active";   // active|retired
  int64_t created_at = 0;
};

struct OrgFilter {
  std::optional<std::string> organization_id;  // only this one (callers confined to their own)
  std::optional<std::string> status;           // unset = every status but "deleted"
};

struct RevokedToken {
  std::string jti;
  int64_t expires_at = 0;  // token's exp (ms); the row may be purged after it
  int64_t revoked_at = 0;
};

struct Page {
  int page = 1;    // 1-based
  int limit = 20;  // <= 100
};

template <typename T>
struct PageOf {
  std::vector<T> data;
  int64_t total = 0;
};

struct AgentFilter {
  std::optional<std::string> organization_id;  // unset = all organizations (admin:orgs callers)
  std::optional<std::string> status;
  std::optional<std::string> agent_type;
  std::optional<std::string> owner;
};

struct AuditFilter {
  std::optional<std::string> organization_id;
  std::optional<std::string> agent_id;
  std::optional<std::string> action;
  std::optional<std::string> outcome;
  std::optional<int64_t> from_ms;
  std::optional<int64_t> to_ms;
};

// ---------------------------------------------------------------------------------------
// Workload identity federation and federation partners (SPEC §4, §6).

// Trusts tokens of one external OIDC issuer, for workloads matching exact claims, to obtain
// a token of the organization (DESIGN: domain/federation/workload_identity).
struct TrustPolicy {
  std::string policy_id;
  std::string organization_id;
  std::string provider;    // github|gitlab|kubernetes|oidc
  std::string issuer;      // kubernetes/oidc: the issuer URL; "" for github/gitlab (configured)
  std::string repository;  // github/gitlab: owner/name; kubernetes: namespace/serviceaccount
  std::string branch;      // optional, exact ("" = any)
  std::string agent_id;    // "" = bootstrap policy (agents:write token for the organization)
  std::string audience;    // the "aud" the external token must carry
  std::string conditions_json = "{}";  // {"claim":"exact value",...}
  std::string created_by;              // agent id of the admin who created it
  int64_t created_at = 0;
};

// An issuer whose tokens POST /federation/verify checks for the allowed organizations.
struct FederationPartner {
  std::string partner_id;
  std::string name;
  std::string issuer;
  std::string jwks_uri;
  std::vector<std::string> allowed_organizations;
  std::string status = "active";  // active|inactive (stored); "expired" is derived
  std::optional<int64_t> expires_at;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

}  // namespace agentidp::domain
