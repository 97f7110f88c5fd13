#pragma once

// OAuth 2.0 token issuance (client_credentials), validation of our own access tokens (for
// introspection and Bearer authentication) and revocation. HTTP-free: the app parses the
// wire format and maps errors.

#include "core/clock.hpp"
#include "core/random.hpp"
#include "core/result.hpp"
#include "domain/keys/keyring.hpp"
#include "domain/oauth/client_directory.hpp"
#include "domain/policy/policy.hpp"
#include "domain/principal.hpp"
#include "domain/store.hpp"

#include <boost/json/object.hpp>

#include <array>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace agentidp::domain {

struct TokenSettings {
  std::string issuer;
  std::string audience;  // default audience of access tokens (RFC 9068 aud)
  int64_t ttl_s = 3600;
  int64_t leeway_s = 30;  // clock skew accepted on exp/nbf/iat (docs/security.md)
  int max_act_depth = 5;  // RFC 8693 / delegation chains: nested "act" claims at most
  std::string system_organization_id;
  // Server-side key of the client-secret hashes (DESIGN §4), derived from the master key.
  std::string secret_pepper;
};

// Revoked token ids, kept in memory until the token would have expired anyway; the
// durable record is the store's. Other nodes learn a revocation through the listener (the
// cluster bus) and Remember(); Load() merges the store's record (start-up, resynchronization).
class RevocationList {
 public:
  RevocationList(RevocationStore& store, const core::Clock& clock);
  core::Status Load();
  // Durable first, then visible: a revocation answered 200 survives a crash.
  core::Status Revoke(const std::string& jti, int64_t expires_at_ms);
  // A revocation made on another node (already durable there).
  void Remember(const std::string& jti, int64_t expires_at_ms);
  bool IsRevoked(const std::string& jti);
  void Sweep();
  // Called by Revoke once the revocation is durable. Set before serving.
  void SetListener(std::function<void(const std::string& jti, int64_t expires_at_ms)> listener);

 private:
  RevocationStore& store_;
  const core::Clock& clock_;
  std::function<void(const std::string&, int64_t)> listener_;
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, int64_t> jtis;  // jti -> exp ms
  };
  std::array<Shard, 8> shards_;
  Shard& ShardFor(const std::string& jti);
};

struct AuthenticatedClient {
  std::shared_ptr<const ClientRecord> record;
  std::string credential_id;
};

struct IssuedToken {
  std::string access_token;
  std::string token_type = "Bearer";
  int64_t expires_in = 0;
  std::string scope;
  std::string id_token;  // when openid was granted
  std::string jti;
  int64_t expires_at_ms = 0;
};

// A validated access token of ours: signature, issuer, type, expiry, revocation and the
// agent's status all checked.
struct AccessTokenInfo {
  boost::json::object claims;
  std::string jti;
  std::string agent_id;
  std::string client_id;
  std::string organization_id;
  std::set<std::string> scopes;
  int64_t exp_s = 0;
  std::string jkt;  // cnf.jkt of a DPoP-bound token (RFC 9449 §6), "" for bearer tokens
  // Delegation chains the token derives from, root first (claim "delegation_chain"); a
  // revoked chain makes every token carrying it inactive.
  std::vector<std::string> chain_ids;
  int act_depth = 0;                // nesting depth of the "act" claim (RFC 8693 §4.1), 0 = none
  std::set<std::string> audiences;  // "aud" as a set
  // Tokens exchanged for a subject of a trusted external issuer (claims "subject_issuer" and
  // "federation_partner"): agent_id (sub) is then the external subject, not an agent, and
  // the token is honoured only while the partner still trusts the organization.
  std::string subject_issuer;
  std::string partner_id;
};

// A verified subject token of a federation partner (RFC 8693 with an external issuer).
struct ExternalSubject {
  std::string partner_id;
  std::string issuer;            // the partner's issuer, = the token's iss
  std::string subject;           // its sub
  std::string jti;               // its jti, "" when it has none
  std::set<std::string> scopes;  // its "scope" (space-separated) or "scp" (array)
  int64_t exp_s = 0;
};

// A token derived from a validated one (RFC 8693 exchange, A2A delegation): same subject and
// organization, scopes and audience narrowed, lifetime capped by the subject token's.
struct DerivedTokenRequest {
  const AccessTokenInfo* subject = nullptr;
  std::string actor_agent_id;    // holder of the new token (its client_id); sub when narrowing
  std::set<std::string> scopes;  // must be a subset of subject->scopes
  std::optional<std::string> audience;  // must be one of subject->audiences; default kept
  int64_t ttl_s = 0;                    // 0 = the configured token lifetime
  std::vector<std::string> chain_ids;   // subject's chains plus any new one
  std::string jkt;                      // DPoP binding of the new token
};

// RFC 8693 token-exchange parameters, already read from the form.
struct ExchangeRequest {
  std::string subject_token;
  std::string subject_token_type;
  std::optional<std::string> actor_token;
  std::optional<std::string> actor_token_type;
  std::optional<std::string> requested_token_type;
  std::optional<std::string> audience;  // `audience` or `resource`
  std::optional<std::string> scope;
  std::string jkt;  // from a verified DPoP proof of this request
};

struct ExchangeResult {
  IssuedToken token;
  AccessTokenInfo subject;  // for an external subject: agent_id = its sub, jti = its jti
  std::string actor_agent_id;
  std::string subject_issuer;  // external subjects only
  std::string partner_id;      // external subjects only
};

// Whether federation partner `partner_id` (still) trusts `organization_id`: exists, is
// active, is not expired and lists the organization. WouldBlock() when `may_load` is false and
// the answer is not in memory.
using PartnerTrustCheck = std::function<core::Result<bool>(
    const std::string& partner_id, const std::string& organization_id, bool may_load)>;

inline constexpr std::string_view kTokenTypeAccessToken =
    "urn:ietf:params:oauth:token-type:access_token";
inline constexpr std::string_view kTokenTypeJwt = "urn:ietf:params:oauth:token-type:jwt";
inline constexpr std::string_view kGrantTokenExchange =
    "urn:ietf:params:oauth:grant-type:token-exchange";

// The RevocationList key under which a revoked delegation chain is kept.
inline std::string ChainRevocationKey(std::string_view chain_id) {
  return "chain:" + std::string(chain_id);
}

class TokenService {
 public:
  TokenService(ClientDirectory& clients, Keyring& keyring, RevocationList& revocations,
               const core::Clock& clock, core::Random& random, TokenSettings settings);

  // client_secret_basic / client_secret_post. Unknown clients and wrong secrets take the
  // same path and fail with the same error (no enumeration, no timing oracle).
  // `may_load` false (I/O thread): WouldBlock() instead of a store read on a cache miss.
  core::Result<AuthenticatedClient> AuthenticateSecret(const std::string& client_id,
                                                       const std::string& client_secret,
                                                       bool may_load = true);
  // `requested_scope`: nullopt = every scope the agent may hold.
  // `dpop_jkt`: thumbprint of a verified DPoP proof's key; the token is then bound to it
  // (cnf.jkt, token_type DPoP).
  core::Result<IssuedToken> IssueClientCredentials(
      const AuthenticatedClient& client, const std::optional<std::string>& requested_scope,
      const Policy& policy, const std::string& dpop_jkt = "");
  // A narrowed token for `request.actor_agent_id` (see DerivedTokenRequest). Errors:
  // invalid_scope (widening), invalid_target (audience), invalid_request (chain too deep).
  core::Result<IssuedToken> IssueDerived(const DerivedTokenRequest& request);
  // RFC 8693 token exchange by an authenticated client (SPEC §5): only ever narrows.
  core::Result<ExchangeResult> Exchange(const AuthenticatedClient& caller,
                                        const ExchangeRequest& request, const Policy& policy,
                                        bool may_load = true);
  // Token exchange whose subject token was issued by a federation partner and verified by
  // FederationPartners::VerifySubjectToken. The new token's sub is the external subject
  // (with "subject_issuer" and "federation_partner"), its act the caller; scopes are a subset
  // of the external token's and of the caller's own; it lives at most as long as the external
  // token and the configured lifetime.
  core::Result<ExchangeResult> ExchangeExternal(const AuthenticatedClient& caller,
                                                const ExchangeRequest& request,
                                                const ExternalSubject& subject,
                                                const Policy& policy);
  // The token names this server as its issuer (unverified: decides which verification applies).
  bool IssuedHere(std::string_view token) const;
  // Set before serving. Without it, tokens with an external subject are never valid.
  void SetPartnerTrustCheck(PartnerTrustCheck check) { partner_trust_ = std::move(check); }

  // For introspection: any of our access tokens, whatever its audience.
  core::Result<AccessTokenInfo> Validate(std::string_view token, bool may_load = true);
  // Validate without copying: the verified-token cache's own entry (immutable, shared).
  core::Result<std::shared_ptr<const AccessTokenInfo>> ValidateShared(std::string_view token,
                                                                      bool may_load = true);
  // For Bearer authentication of our API: additionally requires our API audience.
  core::Result<Principal> AuthenticateBearer(std::string_view token, const Policy& policy,
                                             bool may_load = true);
  // Principal of a client authenticated at an OAuth endpoint (introspection, revocation).
  Principal ClientPrincipal(const AuthenticatedClient& client, const Policy& policy) const;

  // Parses one of our tokens for revocation: verified signature and issuer, but expiry and
  // revocation state do not matter. nullopt for anything that is not ours.
  std::optional<AccessTokenInfo> ParseForRevocation(std::string_view token);
  core::Status Revoke(const AccessTokenInfo& token);

  const TokenSettings& settings() const { return settings_; }
  std::set<std::string> GrantableScopes(const Agent& agent, const Policy& policy) const;

  // Workload identity federation and the jwt-bearer grant: a token with `agent` as subject,
  // exactly `scopes` (the caller decides them), living `ttl_s` (1 .. the configured TTL), with
  // `extra_claims` added (they cannot replace a registered claim).
  core::Result<IssuedToken> IssueForAgent(const Agent& agent, const std::set<std::string>& scopes,
                                          int64_t ttl_s, const boost::json::object& extra_claims,
                                          const std::string& dpop_jkt = "");

 private:
  struct MintRequest {
    std::string sub, client_id, organization_id, audience;
    const std::set<std::string>* scopes = nullptr;
    int64_t exp_s = 0;  // 0: iat + ttl_s
    int64_t ttl_s = 0;
    int64_t iat_s = 0;  // set by Mint
    const boost::json::value* act = nullptr;
    std::vector<std::string> chain_ids;
    std::string jkt;
    // Further claims (trust-policy claims, the external subject's issuer); members named
    // like a claim Mint writes itself are ignored, so they cannot override it.
    const boost::json::object* extra = nullptr;
  };
  // Signs one access token (RFC 9068 claims plus act / delegation_chain / cnf when set).
  IssuedToken Mint(MintRequest& request);
  core::Result<AccessTokenInfo> Verify(std::string_view token, bool check_expiry);

  struct VerifiedCache {
    static constexpr size_t kPerShard = 1024;  // 16 shards: at most ~16k tokens remembered
    struct Shard {
      std::mutex mu;
      std::unordered_map<std::string, std::shared_ptr<const AccessTokenInfo>> entries;
    };
    std::array<Shard, 16> shards;
    std::shared_ptr<const AccessTokenInfo> Find(const std::string& key);
    void Put(const std::string& key, std::shared_ptr<const AccessTokenInfo> info);
  };

  ClientDirectory& clients_;
  Keyring& keyring_;
  RevocationList& revocations_;
  const core::Clock& clock_;
  core::Random& random_;
  TokenSettings settings_;
  PartnerTrustCheck partner_trust_;
  std::string dummy_hash_;  // compared against when the client is unknown
  VerifiedCache verified_;
};

}  // namespace agentidp::domain
