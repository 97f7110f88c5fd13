#include "store/common/rows.hpp"
#include "store/postgres/stores.hpp"

namespace agentidp::store::postgres {

namespace {

constexpr std::string_view kInsert = R"sql(
INSERT INTO delegations
  (chain_id, parent_chain_id, organization_id, delegator_agent_id, delegatee_agent_id, scopes,
  depth, token_jti, created_at, expires_at, revoked_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11))sql";

constexpr std::string_view kSelect = R"sql(
SELECT chain_id, parent_chain_id, organization_id, delegator_agent_id, delegatee_agent_id, scopes,
  depth, token_jti, created_at, expires_at, revoked_at
FROM delegations WHERE chain_id = $1)sql";

constexpr std::string_view kRevoke = R"sql(
UPDATE delegations SET revoked_at = $2 WHERE chain_id = $1 AND revoked_at IS NULL)sql";

}  // namespace

core::Status DelegationStore::Create(const domain::TenantScope& scope,
                                     const domain::Delegation& d) {
  return database_.Run(scope, [&](Connection& connection) -> core::Status {
    TRY(connection.QueryArgs(kInsert, d.chain_id, d.parent_chain_id, d.organization_id,
                             d.delegator_agent_id, d.delegatee_agent_id, d.scopes,
                             static_cast<int64_t>(d.depth), d.token_jti, d.created_at, d.expires_at,
                             d.revoked_at));
    return core::Ok();
  });
}

core::Result<std::optional<domain::Delegation>> DelegationStore::Get(
    const domain::TenantScope& scope, const std::string& chain_id) {
  return database_.Run(
      scope, [&](Connection& connection) -> core::Result<std::optional<domain::Delegation>> {
        TRY_ASSIGN(Rows rows, connection.QueryArgs(kSelect, chain_id));
        if (rows.empty()) return std::optional<domain::Delegation>();
        return std::optional<domain::Delegation>(common::ReadDelegation(Row(rows, 0)));
      });
}

core::Result<bool> DelegationStore::MarkRevoked(const domain::TenantScope& scope,
                                                const std::string& chain_id, int64_t now_ms) {
  return database_.Run(scope, [&](Connection& connection) -> core::Result<bool> {
    TRY_ASSIGN(Rows updated, connection.QueryArgs(kRevoke, chain_id, now_ms));
    return updated.Affected() > 0;
  });
}

}  // namespace agentidp::store::postgres
