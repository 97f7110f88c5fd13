#pragma once

// Agent-to-agent delegation (SPEC §4, docs/decisions.md "Delegation tokens are RFC 8693
// tokens"): an agent hands a narrowed slice of its token's authority to another agent of its
// organization. The delegation token is one of our access tokens with sub = the delegator,
// client_id and act.sub = the delegatee, the delegated scopes, and a "delegation_chain"
// claim listing every chain from the root; revoking a chain makes every token derived from
// it inactive on every node (it is a revocation-list entry "chain:<id>").

#include "core/clock.hpp"
#include "core/random.hpp"
#include "domain/audit/audit_log.hpp"
#include "domain/oauth/token_service.hpp"
#include "domain/principal.hpp"
#include "domain/store.hpp"

#include <optional>
#include <set>
#include <string>

namespace agentidp::domain {

inline constexpr int64_t kMinDelegationTtl = 60;
inline constexpr int64_t kMaxDelegationTtl = 86'400;

struct DelegateInput {
  std::string delegatee_agent_id;
  std::set<std::string> scopes;
  int64_t ttl_s = 3600;
};

struct DelegationGrant {
  Delegation record;
  IssuedToken token;
};

struct DelegationCheck {
  bool valid = false;
  std::string reason;  // when !valid: "invalid_token", "revoked", "not_a_delegation", ...
  AccessTokenInfo info;
  std::optional<Delegation> record;
};

class DelegationService {
 public:
  DelegationService(Store& store, AuditWriter& audit, TokenService& tokens,
                    RevocationList& revocations, const core::Clock& clock, core::Random& random);

  // `caller_token` is the validated token the caller authenticated with: the delegation is
  // a narrowed slice of it (scopes, lifetime, chain). Errors: INVALID_TTL / INVALID_SCOPES
  // (400), SELF_DELEGATION (422), AGENT_NOT_FOUND (404, also for other organizations),
  // FORBIDDEN cross_organization (403, cross-tenant callers), 409 for an inactive delegatee.
  core::Result<DelegationGrant> Delegate(const Principal& caller,
                                         const AccessTokenInfo& caller_token,
                                         const DelegateInput& input);
  // Never an error for a dead, foreign or malformed token: valid=false with a reason. Only
  // an unreachable store is an error.
  core::Result<DelegationCheck> Verify(const Principal& caller, std::string_view token);
  // Idempotent; delegator only (403), same organization (404 otherwise).
  core::Status Revoke(const Principal& caller, const std::string& chain_id);

 private:
  Store& store_;
  AuditWriter& audit_;
  TokenService& tokens_;
  RevocationList& revocations_;
  const core::Clock& clock_;
  core::Random& random_;
};

}  // namespace agentidp::domain
