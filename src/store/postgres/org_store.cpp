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

domain::Organization ReadOrganization(const Row& row) {
  domain::Organization org;
  org.organization_id = row.Text(0);
  org.name = row.Text(1);
  org.slug = row.Text(2);
  org.plan_tier = row.Text(3);
  org.max_agents = static_cast<int>(row.Int64(4));
  org.status = row.Text(5);
  org.created_at = row.Int64(6);
  org.updated_at = row.Int64(7);
  return org;
}

core::Result<std::optional<domain::Organization>> SelectOne(Database& database,
                                                            std::string_view sql,
                                                            const std::string& key) {
  return database.Run(
      [&](Connection& connection) -> core::Result<std::optional<domain::Organization>> {
        TRY_ASSIGN(Rows rows, connection.QueryArgs(sql, key));
        if (rows.empty()) return std::optional<domain::Organization>();
        return std::optional<domain::Organization>(ReadOrganization(Row(rows, 0)));
      });
}

}  // namespace

core::Status OrgStore::Create(const domain::Organization& org) {
  return database_.Run([&](Connection& connection) -> core::Status {
    TRY(connection.QueryArgs(kInsert, org.organization_id, org.name, org.slug, org.plan_tier,
                             org.max_agents, org.status, org.created_at, org.updated_at));
    return core::Ok();
  });
}

core::Result<std::optional<domain::Organization>> OrgStore::Get(
    const std::string& organization_id) {
  return SelectOne(database_, kSelectById, organization_id);
}

core::Result<std::optional<domain::Organization>> OrgStore::GetBySlug(const std::string& slug) {
  return SelectOne(database_, kSelectBySlug, slug);
}

}  // namespace agentidp::store::postgres
