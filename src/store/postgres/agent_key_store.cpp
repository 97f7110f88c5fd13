#include "store/common/rows.hpp"
#include "store/postgres/stores.hpp"

namespace agentidp::store::postgres {

namespace {

constexpr std::string_view kInsert = R"sql(
INSERT INTO agent_keys (kid, agent_id, alg, public_jwk, sealed_private_key, status, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7))sql";

constexpr std::string_view kSelectActive = R"sql(
SELECT kid, agent_id, alg, public_jwk, sealed_private_key, status, created_at
FROM agent_keys WHERE agent_id = $1 AND status = 'active')sql";

constexpr std::string_view kSelectByAgent = R"sql(
SELECT kid, agent_id, alg, public_jwk, sealed_private_key, status, created_at
FROM agent_keys WHERE agent_id = $1 ORDER BY created_at ASC, kid ASC)sql";

constexpr std::string_view kRetireActive = R"sql(
UPDATE agent_keys SET status = 'retired' WHERE agent_id = $1 AND status = 'active')sql";

}  // namespace

core::Status AgentKeyStore::Insert(const domain::TenantScope& scope, const domain::AgentKey& key) {
  return database_.Run(scope, [&](Connection& connection) -> core::Status {
    TRY(connection.QueryArgs(kInsert, key.kid, key.agent_id, key.alg, key.public_jwk_json,
                             key.sealed_private_key, key.status, key.created_at));
    return core::Ok();
  });
}

core::Result<std::optional<domain::AgentKey>> AgentKeyStore::GetActive(
    const domain::TenantScope& scope, const std::string& agent_id) {
  return database_.Run(
      scope, [&](Connection& connection) -> core::Result<std::optional<domain::AgentKey>> {
        TRY_ASSIGN(Rows rows, connection.QueryArgs(kSelectActive, agent_id));
        if (rows.empty()) return std::optional<domain::AgentKey>();
        return std::optional<domain::AgentKey>(common::ReadAgentKey(Row(rows, 0)));
      });
}

core::Result<std::vector<domain::AgentKey>> AgentKeyStore::ListByAgent(
    const domain::TenantScope& scope, const std::string& agent_id) {
  return database_.Run(scope,
                       [&](Connection& connection) -> core::Result<std::vector<domain::AgentKey>> {
                         TRY_ASSIGN(Rows rows, connection.QueryArgs(kSelectByAgent, agent_id));
                         std::vector<domain::AgentKey> keys;
                         keys.reserve(static_cast<size_t>(rows.size()));
                         for (int i = 0; i < rows.size(); ++i)
                           keys.push_back(common::ReadAgentKey(Row(rows, i)));
                         return keys;
                       });
}

core::Status AgentKeyStore::Rotate(const domain::TenantScope& scope, const domain::AgentKey& key) {
  // READ COMMITTED: a concurrent rotation blocks on the active row, then finds it retired and
  // its own insert conflicts with the winner's key (one active key per agent).
  return database_.Transaction(scope, [&](Connection& connection) -> core::Status {
    TRY(connection.QueryArgs(kRetireActive, key.agent_id));
    TRY(connection.QueryArgs(kInsert, key.kid, key.agent_id, key.alg, key.public_jwk_json,
                             key.sealed_private_key, key.status, key.created_at));
    return core::Ok();
  });
}

}  // namespace agentidp::store::postgres
