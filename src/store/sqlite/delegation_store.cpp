#include "store/common/rows.hpp"
#include "store/sqlite/stores.hpp"

namespace agentidp::store::sqlite {

namespace {

constexpr std::string_view kInsert = R"sql(
INSERT INTO delegations
  (chain_id, parent_chain_id, organization_id, delegator_agent_id, delegatee_agent_id, scopes,
  depth, token_jti, created_at, expires_at, revoked_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11))sql";

constexpr std::string_view kSelect = R"sql(
SELECT chain_id, parent_chain_id, organization_id, delegator_agent_id, delegatee_agent_id, scopes,
  depth, token_jti, created_at, expires_at, revoked_at
FROM delegations WHERE chain_id = ?1)sql";

constexpr std::string_view kRevoke = R"sql(
UPDATE delegations SET revoked_at = ?2 WHERE chain_id = ?1 AND revoked_at IS NULL)sql";

}  // namespace

core::Status DelegationStore::Create(const domain::TenantScope& /*scope*/,
                                     const domain::Delegation& d) {
  return database_.Write([&](Connection& connection) -> core::Status {
    TRY_ASSIGN(auto insert, connection.Prepare(kInsert));
    insert.BindAll(d.chain_id, d.parent_chain_id, d.organization_id, d.delegator_agent_id,
                   d.delegatee_agent_id, d.scopes, static_cast<int64_t>(d.depth), d.token_jti,
                   d.created_at, d.expires_at, d.revoked_at);
    return insert.Run();
  });
}

core::Result<std::optional<domain::Delegation>> DelegationStore::Get(
    const domain::TenantScope& /*scope*/, const std::string& chain_id) {
  return database_.Read(
      [&](Connection& connection) -> core::Result<std::optional<domain::Delegation>> {
        TRY_ASSIGN(auto select, connection.Prepare(kSelect));
        select.BindAll(chain_id);
        TRY_ASSIGN(bool found, select.Step());
        if (!found) return std::optional<domain::Delegation>();
        return std::optional<domain::Delegation>(common::ReadDelegation(select));
      });
}

core::Result<bool> DelegationStore::MarkRevoked(const domain::TenantScope& /*scope*/,
                                                const std::string& chain_id, int64_t now_ms) {
  return database_.Write([&](Connection& connection) -> core::Result<bool> {
    TRY_ASSIGN(auto update, connection.Prepare(kRevoke));
    update.BindAll(chain_id, now_ms);
    TRY(update.Run());
    return connection.Changes() > 0;
  });
}

}  // namespace agentidp::store::sqlite
