#pragma once

// Workload identity federation (SPEC §6): trust policies and the exchange of an external
// OIDC token (GitHub Actions, GitLab CI, Kubernetes service accounts, any OIDC issuer) for an
// access token of ours, at POST /oidc/token and with the jwt-bearer grant (RFC 7523 §2.1).
//
// Rules (docs/security.md, "External OIDC tokens"):
// - only issuers named by at least one trust policy are ever contacted (an unknown `iss` is
//   refused before any fetch);
// - signature with the issuer's published keys (discovery, JWKS), RS256/ES256/EdDSA pinned per
//   key, `typ` absent or JWT, `exp` and `iat` required, `nbf` honoured, one leeway;
// - exact claim matches only: GitHub `repository` and `ref` = refs/heads/<branch>; GitLab
//   `project_path`, `ref` and `ref_type` branch; Kubernetes `sub`
//   system:serviceaccount:<ns>:<name> plus the `kubernetes.io` namespace and service account;
//   claim conditions compare top-level string claims exactly;
// - the token's `aud` must contain the policy's audience;
// - single use: `iss`+`jti` (or, without a jti, the token's SHA-256) is consumed once;
// - the token issued lives at most 1 hour, the configured TTL and the external token's
//   remaining lifetime.

#include "core/clock.hpp"
#include "core/random.hpp"
#include "core/result.hpp"
#include "domain/federation/issuer_keys.hpp"
#include "domain/model.hpp"
#include "domain/oauth/client_directory.hpp"
#include "domain/oauth/token_service.hpp"
#include "domain/policy/policy.hpp"
#include "domain/principal.hpp"
#include "domain/replay_cache.hpp"
#include "domain/store.hpp"

#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agentidp::domain {

inline constexpr std::string_view kJwtBearerGrantType =
    "urn:ietf:params:oauth:grant-type:jwt-bearer";
inline constexpr int64_t kMaxFederatedTokenTtlS = 3600;

struct FederationSettings {
  std::string our_issuer;  // the default audience of a trust policy
  std::string github_issuer = "https://token.actions.githubusercontent.com";
  std::string gitlab_issuer = "https://gitlab.com";
  int64_t leeway_s = 30;
};

// Validates a trust policy body (POST /oidc/trust-policies) into a record without ids and
// times. Validation errors name the field.
core::Result<TrustPolicy> ParseTrustPolicy(const boost::json::object& body,
                                           const FederationSettings& settings);
boost::json::object TrustPolicyToJson(const TrustPolicy& policy,
                                      const FederationSettings& settings);

// Why a verified external token does not satisfy `policy` ("" when it does).
std::string TrustPolicyMismatch(const TrustPolicy& policy, const boost::json::object& claims);

struct FederatedToken {
  IssuedToken token;
  TrustPolicy policy;
  std::string agent_id;  // the token's subject
  std::string organization_id;
  bool bootstrap = false;  // an agents:write token of a bootstrap policy
  std::string external_issuer;
  std::string external_subject;
  std::string external_jti;  // "" when the external token had none
};

class WorkloadIdentity {
 public:
  WorkloadIdentity(Store& store, ClientDirectory& clients, TokenService& tokens,
                   IssuerKeys& issuer_keys, ReplayCache& replay, const core::Clock& clock,
                   core::Random& random, FederationSettings settings);

  // Trust policy administration, confined to the caller's organization.
  core::Result<TrustPolicy> CreatePolicy(const Principal& caller, const boost::json::object& body);
  core::Result<std::vector<TrustPolicy>> ListPolicies(const Principal& caller);
  core::Result<TrustPolicy> DeletePolicy(const Principal& caller, const std::string& policy_id);

  // Exchanges an external JWT. Blocking (store, fetches, replay cache): worker threads only.
  // `policy_id`: pick one policy when several match. `requested_scope`: nullopt = the
  // policy's default (the agent's grantable scopes, or agents:write for bootstrap policies);
  // otherwise a subset of it. Errors are OAuth errors (invalid_request, invalid_grant,
  // invalid_scope, temporarily_unavailable).
  core::Result<FederatedToken> Exchange(std::string_view external_jwt,
                                        const std::optional<std::string>& policy_id,
                                        const std::optional<std::string>& requested_scope,
                                        const Policy& policy, const std::string& dpop_jkt = "");

  const FederationSettings& settings() const { return settings_; }

 private:
  Store& store_;
  ClientDirectory& clients_;
  TokenService& tokens_;
  IssuerKeys& issuer_keys_;
  ReplayCache& replay_;
  const core::Clock& clock_;
  core::Random& random_;
  FederationSettings settings_;
};

}  // namespace agentidp::domain
