#include "store/common/rows.hpp"
#include "store/sqlite/query.hpp"
#include "store/sqlite/stores.hpp"

namespace agentidp::store::sqlite {

namespace {

constexpr std::string_view kInsert = R"sql(
INSERT INTO organizations
  (organization_id, name, slug, plan_tier, max_agents, status, created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8))sql";

constexpr std::string_view kSelectById = R"sql(
SELECT organization_id, name, slug, plan_tier, max_agents, status, created_at, updated_at
FROM organizations WHERE organization_id = ?1)sql";

constexpr std::string_view kSelectBySlug = R"sql(
SELECT organization_id, name, slug, plan_tier, max_agents, status, created_at, updated_at
FROM organizations WHERE slug = ?1)sql";

// organization_id and created_at are immutable.
constexpr std::string_view kUpdate = R"sql(
UPDATE organizations SET name = ?2, slug = ?3, plan_tier = ?4, max_agents = ?5, status = ?6,
  updated_at = ?7
WHERE organization_id = ?1)sql";

// One statement, so no agent can slip in between the check and the delete on this backend's
// single writer.
constexpr std::string_view kMarkDeleted = R"sql(
UPDATE organizations SET status = 'deleted', updated_at = ?2
WHERE organization_id = ?1
  AND NOT EXISTS (SELECT 1 FROM agents
                  WHERE agents.organization_id = ?1 AND agents.status <> 'decommissioned'))sql";

constexpr std::string_view kExists = "SELECT 1 FROM organizations WHERE organization_id = ?1";

core::Result<std::optional<domain::Organization>> SelectOne(Database& database,
                                                            std::string_view sql,
                                                            const std::string& key) {
  return database.Read(
      [&](Connection& connection) -> core::Result<std::optional<domain::Organization>> {
        TRY_ASSIGN(auto select, connection.Prepare(sql));
        select.BindAll(key);
        TRY_ASSIGN(bool found, select.Step());
        if (!found) return std::optional<domain::Organization>();
        return std::optional<domain::Organization>(common::ReadOrganization(select));
      });
}

}  // namespace

core::Status OrgStore::Create(const domain::TenantScope& /*scope*/,
                              const domain::Organization& org) {
  return database_.Write([&](Connection& connection) -> core::Status {
    TRY_ASSIGN(auto insert, connection.Prepare(kInsert));
    insert.BindAll(org.organization_id, org.name, org.slug, org.plan_tier, int64_t{org.max_agents},
                   org.status, org.created_at, org.updated_at);
    return insert.Run();
  });
}

core::Result<std::optional<domain::Organization>> OrgStore::Get(
    const domain::TenantScope& /*scope*/, const std::string& organization_id) {
  return SelectOne(database_, kSelectById, organization_id);
}

core::Result<std::optional<domain::Organization>> OrgStore::GetBySlug(
    const domain::TenantScope& /*scope*/, const std::string& slug) {
  return SelectOne(database_, kSelectBySlug, slug);
}

core::Status OrgStore::Update(const domain::TenantScope& /*scope*/,
                              const domain::Organization& org) {
  return database_.Write([&](Connection& connection) -> core::Status {
    TRY_ASSIGN(auto update, connection.Prepare(kUpdate));
    update.BindAll(org.organization_id, org.name, org.slug, org.plan_tier, int64_t{org.max_agents},
                   org.status, org.updated_at);
    TRY(update.Run());
    if (connection.Changes() == 0)
      return core::Error::NotFound("NOT_FOUND", "Organization not found");
    return core::Ok();
  });
}

core::Result<domain::PageOf<domain::Organization>> OrgStore::List(
    const domain::TenantScope& /*scope*/, const domain::OrgFilter& filter,
    const domain::Page& page) {
  WhereClause where;
  if (filter.organization_id) where.Add(common::kOrgFilterId, *filter.organization_id);
  if (filter.status)
    where.Add(common::kOrgFilterStatus, *filter.status);
  else
    where.Add(common::kOrgFilterNotStatus, std::string("deleted"));
  return ListPage<domain::Organization>(
      database_, "organizations", common::kOrgColumns, common::kOrgsNewestFirst, where, page,
      [](const Statement& row) -> core::Result<domain::Organization> {
        return common::ReadOrganization(row);
      });
}

core::Result<bool> OrgStore::MarkDeletedIfEmpty(const domain::TenantScope& /*scope*/,
                                                const std::string& organization_id,
                                                int64_t now_ms) {
  return database_.Write([&](Connection& connection) -> core::Result<bool> {
    TRY_ASSIGN(auto update, connection.Prepare(kMarkDeleted));
    update.BindAll(organization_id, now_ms);
    TRY(update.Run());
    if (connection.Changes() > 0) return true;
    TRY_ASSIGN(auto exists, connection.Prepare(kExists));
    exists.BindAll(organization_id);
    TRY_ASSIGN(bool found, exists.Step());
    if (!found) return core::Error::NotFound("NOT_FOUND", "Organization not found");
    return false;
  });
}

}  // namespace agentidp::store::sqlite
