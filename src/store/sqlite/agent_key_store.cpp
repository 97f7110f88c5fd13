#include "store/common/rows.hpp"
#include "store/sqlite/stores.hpp"

namespace agentidp::store::sqlite {

namespace {

constexpr std::string_view kInsert = R"sql(
INSERT INTO agent_keys (kid, agent_id, alg, public_jwk, sealed_private_key, status, created_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7))sql";

constexpr std::string_view kSelectActive = R"sql(
SELECT kid, agent_id, alg, public_jwk, sealed_private_key, status, created_at
FROM agent_keys WHERE agent_id = ?1 AND status = 'active')sql";

constexpr std::string_view kSelectByAgent = R"sql(
SELECT kid, agent_id, alg, public_jwk, sealed_private_key, status, created_at
FROM agent_keys WHERE agent_id = ?1 ORDER BY created_at ASC, kid ASC)sql";

constexpr std::string_view kRetireActive = R"sql(
UPDATE agent_keys SET status = 'retired' WHERE agent_id = ?1 AND status = 'active')sql";

}  // namespace

core::Status AgentKeyStore::Insert(const domain::TenantScope& /*scope*/,
                                   const domain::AgentKey& key) {
  return database_.Write([&](Connection& connection) -> core::Status {
    TRY_ASSIGN(auto insert, connection.Prepare(kInsert));
    insert.BindAll(key.kid, key.agent_id, key.alg, key.public_jwk_json, key.sealed_private_key,
                   key.status, key.created_at);
    return insert.Run();
  });
}

core::Result<std::optional<domain::AgentKey>> AgentKeyStore::GetActive(
    const domain::TenantScope& /*scope*/, const std::string& agent_id) {
  return database_.Read(
      [&](Connection& connection) -> core::Result<std::optional<domain::AgentKey>> {
        TRY_ASSIGN(auto select, connection.Prepare(kSelectActive));
        select.BindAll(agent_id);
        TRY_ASSIGN(bool found, select.Step());
        if (!found) return std::optional<domain::AgentKey>();
        return std::optional<domain::AgentKey>(common::ReadAgentKey(select));
      });
}

core::Result<std::vector<domain::AgentKey>> AgentKeyStore::ListByAgent(
    const domain::TenantScope& /*scope*/, const std::string& agent_id) {
  return database_.Read([&](Connection& connection) -> core::Result<std::vector<domain::AgentKey>> {
    TRY_ASSIGN(auto select, connection.Prepare(kSelectByAgent));
    select.BindAll(agent_id);
    std::vector<domain::AgentKey> keys;
    while (true) {
      TRY_ASSIGN(bool has_row, select.Step());
      if (!has_row) return keys;
      keys.push_back(common::ReadAgentKey(select));
    }
  });
}

core::Status AgentKeyStore::Rotate(const domain::TenantScope& /*scope*/,
                                   const domain::AgentKey& key) {
  return database_.WriteTransaction([&](Connection& connection) -> core::Status {
    TRY_ASSIGN(auto retire, connection.Prepare(kRetireActive));
    retire.BindAll(key.agent_id);
    TRY(retire.Run());
    TRY_ASSIGN(auto insert, connection.Prepare(kInsert));
    insert.BindAll(key.kid, key.agent_id, key.alg, key.public_jwk_json, key.sealed_private_key,
                   key.status, key.created_at);
    return insert.Run();
  });
}

}  // namespace agentidp::store::sqlite
