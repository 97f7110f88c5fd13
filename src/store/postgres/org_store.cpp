#include "store/common/rows.hpp"
#include "store/postgres/query.hpp"
#include "store/postgres/stores.hpp"

namespace agentidp::store::postgres {

namespace {

constexpr std::string_view kInsert = R"sql(
INSERT INTO organizations
  (organization_id, name, slug, plan_tier, max_agents, status, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8))sql";

constexpr std::string_view kSelectById = R"sql(
SELECT organization_id, name, slug, plan_tier, max_agents, status, created_at, updated_at
FROM organizations WHERE organization_id = $1)sql";

constexpr std::string_view kSelectBySlug = R"sql(
SELECT organization_id, name, slug, plan_tier, max_agents, status, created_at, updated_at
FROM organizations WHERE slug = $1)sql";

// organization_id and created_at are immutable.
constexpr std::string_view kUpdate = R"sql(
UPDATE organizations SET name = $2, slug = $3, plan_tier = $4, max_agents = $5, status = $6,
  updated_at = $7
WHERE organization_id = $1)sql";

// FOR UPDATE conflicts with the FOR KEY SHARE lock that inserting (or moving) an agent into
// the organization takes through the foreign key: it waits for such transactions to commit
// and holds off new ones, so the check below sees every agent that can exist.
constexpr std::string_view kLock = R"sql(
SELECT 1 FROM organizations WHERE organization_id = $1 FOR UPDATE)sql";

// A new statement, hence (READ COMMITTED) a snapshot taken after the lock was granted.
constexpr std::string_view kMarkDeleted = R"sql(
UPDATE organizations SET status = 'deleted', updated_at = $2
WHERE organization_id = $1
  AND NOT EXISTS (SELECT 1 FROM agents
                  WHERE agents.organization_id = $1 AND agents.status <> 'decommissioned'))sql";

core::Result<std::optional<domain::Organization>> SelectOne(Database& database,
                                                            const domain::TenantScope& scope,
                                                            std::string_view sql,
                                                            const std::string& key) {
  return database.Run(
      scope, [&](Connection& connection) -> core::Result<std::optional<domain::Organization>> {
        TRY_ASSIGN(Rows rows, connection.QueryArgs(sql, key));
        if (rows.empty()) return std::optional<domain::Organization>();
        return std::optional<domain::Organization>(common::ReadOrganization(Row(rows, 0)));
      });
}

}  // namespace

core::Status OrgStore::Create(const domain::TenantScope& scope, const domain::Organization& org) {
  return database_.Run(scope, [&](Connection& connection) -> core::Status {
    TRY(connection.QueryArgs(kInsert, org.organization_id, org.name, org.slug, org.plan_tier,
                             org.max_agents, org.status, org.created_at, org.updated_at));
    return core::Ok();
  });
}

core::Result<std::optional<domain::Organization>> OrgStore::Get(
    const domain::TenantScope& scope, const std::string& organization_id) {
  return SelectOne(database_, scope, kSelectById, organization_id);
}

core::Result<std::optional<domain::Organization>> OrgStore::GetBySlug(
    const domain::TenantScope& scope, const std::string& slug) {
  return SelectOne(database_, scope, kSelectBySlug, slug);
}

core::Status OrgStore::Update(const domain::TenantScope& scope, const domain::Organization& org) {
  return database_.Run(scope, [&](Connection& connection) -> core::Status {
    TRY_ASSIGN(Rows updated,
               connection.QueryArgs(kUpdate, org.organization_id, org.name, org.slug, org.plan_tier,
                                    org.max_agents, org.status, org.updated_at));
    if (updated.Affected() == 0)
      return core::Error::NotFound("NOT_FOUND", "Organization not found");
    return core::Ok();
  });
}

core::Result<domain::PageOf<domain::Organization>> OrgStore::List(const domain::TenantScope& scope,
                                                                  const domain::OrgFilter& filter,
                                                                  const domain::Page& page) {
  WhereClause where;
  if (filter.organization_id) where.Add(common::kOrgFilterId, *filter.organization_id);
  if (filter.status)
    where.Add(common::kOrgFilterStatus, *filter.status);
  else
    where.Add(common::kOrgFilterNotStatus, std::string("deleted"));
  return ListPage<domain::Organization>(database_, scope, "organizations", common::kOrgColumns,
                                        common::kOrgsNewestFirst, where, page,
                                        [](const Row& row) -> core::Result<domain::Organization> {
                                          return common::ReadOrganization(row);
                                        });
}

core::Result<bool> OrgStore::MarkDeletedIfEmpty(const domain::TenantScope& scope,
                                                const std::string& organization_id,
                                                int64_t now_ms) {
  return database_.Transaction(scope, [&](Connection& connection) -> core::Result<bool> {
    TRY_ASSIGN(Rows locked, connection.QueryArgs(kLock, organization_id));
    if (locked.empty()) return core::Error::NotFound("NOT_FOUND", "Organization not found");
    TRY_ASSIGN(Rows updated, connection.QueryArgs(kMarkDeleted, organization_id, now_ms));
    return updated.Affected() > 0;
  });
}

}  // namespace agentidp::store::postgres
