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

namespace agentidp::domain {

struct TokenSettings {
  std::string issuer;
  std::string audience;  // default audience of access tokens (RFC 9068 aud)
  int64_t ttl_s = 3600;
  int64_t leeway_s = 30;  // clock skew accepted on exp/nbf/iat (docs/security.md)
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
};

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
  core::Result<IssuedToken> IssueClientCredentials(
      const AuthenticatedClient& client, const std::optional<std::string>& requested_scope,
      const Policy& policy);
  // For introspection: any of our access tokens, whatever its audience.
  core::Result<AccessTokenInfo> Validate(std::string_view token, bool may_load = true);
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

 private:
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
  std::string dummy_hash_;  // compared against when the client is unknown
  VerifiedCache verified_;
};

}  // namespace agentidp::domain
