#include "store/sqlite/query.hpp"
#include "store/sqlite/stores.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace agentidp::store::sqlite {

namespace {

constexpr std::string_view kColumns =
    "agent_id, organization_id, email, agent_type, version, capabilities, owner, "
    "deployment_env, status, role, is_public, created_at, updated_at";

constexpr std::string_view kInsert = R"sql(
INSERT INTO agents
  (agent_id, organization_id, email, agent_type, version, capabilities, owner,
   deployment_env, status, role, is_public, created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13))sql";

constexpr std::string_view kSelectById = R"sql(
SELECT agent_id, organization_id, email, agent_type, version, capabilities, owner,
       deployment_env, status, role, is_public, created_at, updated_at
FROM agents WHERE agent_id = ?1)sql";

// Every field but agent_id and created_at is mutable.
constexpr std::string_view kUpdate = R"sql(
UPDATE agents SET organization_id = ?2, email = ?3, agent_type = ?4, version = ?5,
  capabilities = ?6, owner = ?7, deployment_env = ?8, status = ?9, role = ?10,
  is_public = ?11, updated_at = ?12
WHERE agent_id = ?1)sql";

constexpr std::string_view kCountLive = R"sql(
SELECT COUNT(*) FROM agents WHERE organization_id = ?1 AND status <> 'decommissioned')sql";

// List: WHERE assembled by WhereClause from these fragments.
constexpr std::string_view kFilterOrganization = "organization_id =";
constexpr std::string_view kFilterStatus = "status =";
constexpr std::string_view kFilterType = "agent_type =";
constexpr std::string_view kFilterOwner = "owner =";
constexpr std::string_view kNewestFirst = " ORDER BY created_at DESC, agent_id DESC";

std::string CapabilitiesToJson(const std::vector<std::string>& capabilities) {
  boost::json::array array;
  array.reserve(capabilities.size());
  for (const auto& capability : capabilities) array.emplace_back(capability);
  return boost::json::serialize(array);
}

core::Result<std::vector<std::string>> CapabilitiesFromJson(const std::string& text,
                                                            ErrorLog& log) {
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(text, ec);
  std::vector<std::string> capabilities;
  if (!ec && value.is_array()) {
    for (const auto& item : value.get_array()) {
      if (!item.is_string()) {
        ec = boost::json::make_error_code(boost::json::error::not_string);
        break;
      }
      capabilities.emplace_back(item.get_string());
    }
  }
  if (ec || !value.is_array()) {
    log.Record("sqlite: agents.capabilities is not a JSON array of strings");
    return core::Error::Internal("Store error");
  }
  return capabilities;
}

core::Result<domain::Agent> ReadAgent(const Statement& row, ErrorLog& log) {
  domain::Agent agent;
  agent.agent_id = row.Text(0);
  agent.organization_id = row.Text(1);
  agent.email = row.Text(2);
  agent.agent_type = row.Text(3);
  agent.version = row.Text(4);
  TRY_ASSIGN(agent.capabilities, CapabilitiesFromJson(row.Text(5), log));
  agent.owner = row.Text(6);
  agent.deployment_env = row.Text(7);
  agent.status = row.Text(8);
  agent.role = row.Text(9);
  agent.is_public = row.Int64(10) != 0;
  agent.created_at = row.Int64(11);
  agent.updated_at = row.Int64(12);
  return agent;
}

}  // namespace

core::Status AgentStore::Create(const domain::TenantScope& /*scope*/, const domain::Agent& agent) {
  std::string capabilities = CapabilitiesToJson(agent.capabilities);
  return database_.Write([&](Connection& connection) -> core::Status {
    TRY_ASSIGN(auto insert, connection.Prepare(kInsert));
    insert.BindAll(agent.agent_id, agent.organization_id, agent.email, agent.agent_type,
                   agent.version, capabilities, agent.owner, agent.deployment_env, agent.status,
                   agent.role, agent.is_public, agent.created_at, agent.updated_at);
    return insert.Run();
  });
}

core::Result<std::optional<domain::Agent>> AgentStore::Get(const domain::TenantScope& /*scope*/,
                                                           const std::string& agent_id) {
  return database_.Read([&](Connection& connection) -> core::Result<std::optional<domain::Agent>> {
    TRY_ASSIGN(auto select, connection.Prepare(kSelectById));
    select.BindAll(agent_id);
    TRY_ASSIGN(bool found, select.Step());
    if (!found) return std::optional<domain::Agent>();
    TRY_ASSIGN(auto agent, ReadAgent(select, database_.log()));
    return std::optional<domain::Agent>(std::move(agent));
  });
}

core::Status AgentStore::Update(const domain::TenantScope& /*scope*/, const domain::Agent& agent) {
  std::string capabilities = CapabilitiesToJson(agent.capabilities);
  return database_.Write([&](Connection& connection) -> core::Status {
    TRY_ASSIGN(auto update, connection.Prepare(kUpdate));
    update.BindAll(agent.agent_id, agent.organization_id, agent.email, agent.agent_type,
                   agent.version, capabilities, agent.owner, agent.deployment_env, agent.status,
                   agent.role, agent.is_public, agent.updated_at);
    TRY(update.Run());
    if (connection.Changes() == 0) return core::Error::NotFound("NOT_FOUND", "Agent not found");
    return core::Ok();
  });
}

core::Result<domain::PageOf<domain::Agent>> AgentStore::List(const domain::TenantScope& /*scope*/,
                                                             const domain::AgentFilter& filter,
                                                             const domain::Page& page) {
  WhereClause where;
  if (filter.organization_id) where.Add(kFilterOrganization, *filter.organization_id);
  if (filter.status) where.Add(kFilterStatus, *filter.status);
  if (filter.agent_type) where.Add(kFilterType, *filter.agent_type);
  if (filter.owner) where.Add(kFilterOwner, *filter.owner);
  return ListPage<domain::Agent>(database_, "agents", kColumns, kNewestFirst, where, page,
                                 [&](Statement& row) { return ReadAgent(row, database_.log()); });
}

core::Result<int64_t> AgentStore::CountLive(const domain::TenantScope& /*scope*/,
                                            const std::string& organization_id) {
  return database_.Read([&](Connection& connection) -> core::Result<int64_t> {
    TRY_ASSIGN(auto count, connection.Prepare(kCountLive));
    count.BindAll(organization_id);
    TRY_ASSIGN(bool has_row, count.Step());
    return has_row ? count.Int64(0) : int64_t{0};
  });
}

}  // namespace agentidp::store::sqlite
