#include "store/postgres/query.hpp"
#include "store/postgres/stores.hpp"

namespace agentidp::store::postgres {

namespace {

constexpr std::string_view kInsert = R"sql(
INSERT INTO agents
  (agent_id, organization_id, email, agent_type, version, capabilities, owner,
   deployment_env, status, role, is_public, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12, $13))sql";

constexpr std::string_view kSelectById = R"sql(
SELECT agent_id, organization_id, email, agent_type, version, capabilities, owner,
       deployment_env, status, role, is_public, created_at, updated_at
FROM agents WHERE agent_id = $1)sql";

// Every field but agent_id and created_at is mutable.
constexpr std::string_view kUpdate = R"sql(
UPDATE agents SET organization_id = $2, email = $3, agent_type = $4, version = $5,
  capabilities = $6::jsonb, owner = $7, deployment_env = $8, status = $9, role = $10,
  is_public = $11, updated_at = $12
WHERE agent_id = $1)sql";

constexpr std::string_view kCountLive = R"sql(
SELECT COUNT(*) FROM agents WHERE organization_id = $1 AND status <> 'decommissioned')sql";

core::Result<domain::Agent> ReadAgent(const Row& row, ErrorLog& log) {
  return common::ReadAgent(row, log, "postgres");
}

}  // namespace

core::Status AgentStore::Create(const domain::TenantScope& scope, const domain::Agent& agent) {
  std::string capabilities = common::CapabilitiesToJson(agent.capabilities);
  return database_.Run(scope, [&](Connection& connection) -> core::Status {
    TRY(connection.QueryArgs(kInsert, agent.agent_id, agent.organization_id, agent.email,
                             agent.agent_type, agent.version, capabilities, agent.owner,
                             agent.deployment_env, agent.status, agent.role, agent.is_public,
                             agent.created_at, agent.updated_at));
    return core::Ok();
  });
}

core::Result<std::optional<domain::Agent>> AgentStore::Get(const domain::TenantScope& scope,
                                                           const std::string& agent_id) {
  return database_.Run(scope,
                       [&](Connection& connection) -> core::Result<std::optional<domain::Agent>> {
                         TRY_ASSIGN(Rows rows, connection.QueryArgs(kSelectById, agent_id));
                         if (rows.empty()) return std::optional<domain::Agent>();
                         TRY_ASSIGN(auto agent, ReadAgent(Row(rows, 0), database_.log()));
                         return std::optional<domain::Agent>(std::move(agent));
                       });
}

core::Status AgentStore::Update(const domain::TenantScope& scope, const domain::Agent& agent) {
  std::string capabilities = common::CapabilitiesToJson(agent.capabilities);
  return database_.Run(scope, [&](Connection& connection) -> core::Status {
    TRY_ASSIGN(Rows updated,
               connection.QueryArgs(kUpdate, agent.agent_id, agent.organization_id, agent.email,
                                    agent.agent_type, agent.version, capabilities, agent.owner,
                                    agent.deployment_env, agent.status, agent.role, agent.is_public,
                                    agent.updated_at));
    if (updated.Affected() == 0) return core::Error::NotFound("NOT_FOUND", "Agent not found");
    return core::Ok();
  });
}

core::Result<domain::PageOf<domain::Agent>> AgentStore::List(const domain::TenantScope& scope,
                                                             const domain::AgentFilter& filter,
                                                             const domain::Page& page) {
  WhereClause where;
  common::AddAgentFilters(where, filter);
  return ListPage<domain::Agent>(database_, scope, "agents", common::kAgentColumns,
                                 common::kAgentsNewestFirst, where, page,
                                 [&](const Row& row) { return ReadAgent(row, database_.log()); });
}

core::Result<int64_t> AgentStore::CountLive(const domain::TenantScope& scope,
                                            const std::string& organization_id) {
  return database_.Run(scope, [&](Connection& connection) -> core::Result<int64_t> {
    TRY_ASSIGN(Rows count, connection.QueryArgs(kCountLive, organization_id));
    return count.empty() ? int64_t{0} : count.Int64(0, 0);
  });
}

}  // namespace agentidp::store::postgres
