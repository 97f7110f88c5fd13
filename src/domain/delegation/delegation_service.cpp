#include "domain/delegation/delegation_service.hpp"

#include "domain/policy/policy.hpp"

#include <boost/json/serialize.hpp>

namespace agentidp::domain {

DelegationService::DelegationService(Store& store, AuditWriter& audit, TokenService& tokens,
                                     RevocationList& revocations, const core::Clock& clock,
                                     core::Random& random)
    : store_(store),
      audit_(audit),
      tokens_(tokens),
      revocations_(revocations),
      clock_(clock),
      random_(random) {}

core::Result<DelegationGrant> DelegationService::Delegate(const Principal& caller,
                                                          const AccessTokenInfo& caller_token,
                                                          const DelegateInput& input) {
  if (input.ttl_s < kMinDelegationTtl || input.ttl_s > kMaxDelegationTtl)
    return core::Error{core::Errc::kValidation, "INVALID_TTL",
                       "ttlSeconds must be from 60 to 86400"};
  if (input.scopes.empty())
    return core::Error{core::Errc::kValidation, "INVALID_SCOPES", "scopes must not be empty"};
  for (const auto& s : input.scopes)
    if (!caller_token.scopes.count(s))
      return core::Error{core::Errc::kValidation, "INVALID_SCOPES",
                         "Scope \"" + s + "\" is not held by the delegating token"};
  // The delegator is whoever holds the presented token (a delegatee may delegate further).
  const std::string& delegator = caller.holder();
  if (input.delegatee_agent_id == delegator)
    return core::Error{core::Errc::kUnprocessable, "SELF_DELEGATION",
                       "An agent cannot delegate to itself"};
  // Handing a chain back to the agent whose authority it carries (A -> B -> A) would give A
  // nothing it does not hold already and would leave a token whose "act" no longer names
  // its holder; refuse it like a self-delegation.
  if (!caller_token.agent_id.empty() && input.delegatee_agent_id == caller_token.agent_id)
    return core::Error{core::Errc::kUnprocessable, "SELF_DELEGATION",
                       "A delegation cannot be handed back to the agent it originates from"};
  auto not_found = core::Error::NotFound("AGENT_NOT_FOUND", "Agent not found");
  if (!core::IsUuid(input.delegatee_agent_id)) return not_found;
  TRY_ASSIGN(auto delegatee,
             store_.agents().Get(TenantScope::ReadFor(caller), input.delegatee_agent_id));
  if (!delegatee || !caller.CanSee(delegatee->organization_id)) return not_found;
  if (delegatee->organization_id != caller_token.organization_id)
    return core::Error::Forbidden("cross_organization", "Delegation stays inside one organization");
  if (delegatee->status != "active")
    return core::Error::Conflict("AGENT_NOT_ACTIVE", "The delegatee agent is not active");

  Delegation d;
  d.chain_id = random_.UuidV4();
  d.parent_chain_id = caller_token.chain_ids.empty() ? "" : caller_token.chain_ids.back();
  d.organization_id = caller_token.organization_id;
  d.delegator_agent_id = delegator;
  d.delegatee_agent_id = delegatee->agent_id;
  d.scopes = JoinScopes(input.scopes);
  d.created_at = clock_.NowMs();

  DerivedTokenRequest r;
  r.subject = &caller_token;
  r.actor_agent_id = delegatee->agent_id;
  r.scopes = input.scopes;
  r.ttl_s = input.ttl_s;
  r.chain_ids = caller_token.chain_ids;
  r.chain_ids.push_back(d.chain_id);
  auto issued = tokens_.IssueDerived(r);
  if (!issued.ok()) {
    // Depth over the cap is the caller's problem, not a server error.
    if (issued.error().kind == core::Errc::kOAuth)
      return core::Error{core::Errc::kUnprocessable, "DELEGATION_TOO_DEEP", issued.error().message};
    return std::move(issued).error();
  }
  d.depth = caller_token.act_depth + 1;
  d.token_jti = issued->jti;
  d.expires_at = issued->expires_at_ms;
  TRY(store_.delegations().Create(TenantScope::Org(d.organization_id), d));

  boost::json::object meta;
  meta["chainId"] = d.chain_id;
  meta["parentChainId"] = d.parent_chain_id.empty() ? boost::json::value(nullptr)
                                                    : boost::json::value(d.parent_chain_id);
  meta["delegatorAgentId"] = d.delegator_agent_id;
  meta["delegateeAgentId"] = d.delegatee_agent_id;
  meta["scopes"] = d.scopes;
  meta["depth"] = d.depth;
  meta["jti"] = d.token_jti;
  meta["subjectJti"] = caller_token.jti;
  meta["expiresAt"] = core::FormatIso8601(d.expires_at);
  AuditRecord rec;
  rec.agent_id = delegator;
  rec.organization_id = d.organization_id;
  rec.action = "delegation.created";
  rec.ip_address = caller.ip_address;
  rec.user_agent = caller.user_agent;
  rec.metadata_json = boost::json::serialize(meta);
  // The token is handed out only once its creation is durable in the audit log.
  TRY(audit_.Write(std::move(rec)));
  return DelegationGrant{std::move(d), std::move(issued).value()};
}

core::Result<DelegationCheck> DelegationService::Verify(const Principal& caller,
                                                        std::string_view token) {
  DelegationCheck out;
  auto info = tokens_.Validate(token);
  if (!info.ok()) {
    if (info.error().kind != core::Errc::kOAuth) return std::move(info).error();
    out.reason = info.error().message == "Its delegation chain has been revoked" ? "revoked"
                                                                                 : "invalid_token";
    return out;
  }
  if (!caller.CanSee(info->organization_id)) {
    out.reason = "invalid_token";  // foreign tokens look like any invalid one
    return out;
  }
  if (info->chain_ids.empty()) {
    out.reason = "not_a_delegation";
    return out;
  }
  TRY_ASSIGN(auto record, store_.delegations().Get(TenantScope::Org(info->organization_id),
                                                   info->chain_ids.back()));
  if (!record) {
    out.reason = "invalid_token";
    return out;
  }
  if (record->revoked_at) {
    out.reason = "revoked";
    return out;
  }
  out.valid = true;
  out.info = std::move(info).value();
  out.record = std::move(record);
  return out;
}

core::Status DelegationService::Revoke(const Principal& caller, const std::string& chain_id) {
  auto not_found = core::Error::NotFound("NOT_FOUND", "Delegation chain not found");
  if (!core::IsUuid(chain_id)) return not_found;
  TRY_ASSIGN(auto record, store_.delegations().Get(TenantScope::ReadFor(caller), chain_id));
  if (!record || !caller.CanSee(record->organization_id)) return not_found;
  if (record->delegator_agent_id != caller.holder())
    return core::Error::Forbidden("not_delegator", "Only the delegator may revoke a delegation");
  // Durable revocation first (it is what every node's cache and every derived token's
  // validation look at), then the record; both idempotent.
  TRY(revocations_.Revoke(ChainRevocationKey(chain_id), record->expires_at));
  TRY_ASSIGN(bool first, store_.delegations().MarkRevoked(TenantScope::Org(record->organization_id),
                                                          chain_id, clock_.NowMs()));
  if (!first) return core::Ok();
  boost::json::object meta;
  meta["chainId"] = chain_id;
  meta["delegateeAgentId"] = record->delegatee_agent_id;
  AuditRecord rec;
  rec.agent_id = caller.holder();
  rec.organization_id = record->organization_id;
  rec.action = "delegation.revoked";
  rec.ip_address = caller.ip_address;
  rec.user_agent = caller.user_agent;
  rec.metadata_json = boost::json::serialize(meta);
  return audit_.Write(std::move(rec));
}

}  // namespace agentidp::domain
