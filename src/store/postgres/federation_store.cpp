#include "store/common/rows.hpp"
#include "store/postgres/connection.hpp"
#include "store/postgres/stores.hpp"

namespace agentidp::store::postgres {

namespace {

constexpr std::string_view kInsertPolicy = R"sql(
INSERT INTO trust_policies
  (policy_id, organization_id, provider, issuer, repository, branch, agent_id, audience,
   conditions, created_by, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11))sql";

constexpr std::string_view kSelectPolicy = R"sql(
SELECT policy_id, organization_id, provider, issuer, repository, branch, agent_id, audience,
       conditions, created_by, created_at
FROM trust_policies WHERE policy_id = $1)sql";

constexpr std::string_view kSelectPoliciesByOrg = R"sql(
SELECT policy_id, organization_id, provider, issuer, repository, branch, agent_id, audience,
       conditions, created_by, created_at
FROM trust_policies WHERE organization_id = $1 ORDER BY created_at ASC, policy_id ASC)sql";

constexpr std::string_view kSelectPoliciesByIssuer = R"sql(
SELECT policy_id, organization_id, provider, issuer, repository, branch, agent_id, audience,
       conditions, created_by, created_at
FROM trust_policies WHERE provider = $1 AND issuer = $2
ORDER BY created_at ASC, policy_id ASC)sql";

constexpr std::string_view kDeletePolicy = "DELETE FROM trust_policies WHERE policy_id = $1";

constexpr std::string_view kInsertPartner = R"sql(
INSERT INTO federation_partners
  (partner_id, name, issuer, jwks_uri, allowed_organizations, status, expires_at, created_at,
   updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9))sql";

constexpr std::string_view kSelectPartner = R"sql(
SELECT partner_id, name, issuer, jwks_uri, allowed_organizations, status, expires_at,
       created_at, updated_at
FROM federation_partners WHERE partner_id = $1)sql";

constexpr std::string_view kSelectPartnerByIssuer = R"sql(
SELECT partner_id, name, issuer, jwks_uri, allowed_organizations, status, expires_at,
       created_at, updated_at
FROM federation_partners WHERE issuer = $1)sql";

constexpr std::string_view kSelectPartners = R"sql(
SELECT partner_id, name, issuer, jwks_uri, allowed_organizations, status, expires_at,
       created_at, updated_at
FROM federation_partners ORDER BY created_at ASC, partner_id ASC)sql";

constexpr std::string_view kUpdatePartner = R"sql(
UPDATE federation_partners SET name = $2, issuer = $3, jwks_uri = $4,
  allowed_organizations = $5, status = $6, expires_at = $7, updated_at = $8
WHERE partner_id = $1)sql";

constexpr std::string_view kDeletePartner = "DELETE FROM federation_partners WHERE partner_id = $1";

core::Result<domain::FederationPartner> ReadPartner(const Row& row, ErrorLog& log) {
  return common::ReadFederationPartner(row, log, "postgres");
}

std::vector<domain::TrustPolicy> ReadPolicies(const Rows& rows) {
  std::vector<domain::TrustPolicy> out;
  for (int i = 0; i < rows.size(); ++i) out.push_back(common::ReadTrustPolicy(Row(rows, i)));
  return out;
}

}  // namespace

core::Status FederationStore::CreateTrustPolicy(const domain::TenantScope& scope,
                                                const domain::TrustPolicy& p) {
  return database_.Run(scope, [&](Connection& connection) -> core::Status {
    TRY(connection.QueryArgs(kInsertPolicy, p.policy_id, p.organization_id, p.provider, p.issuer,
                             p.repository, p.branch, p.agent_id, p.audience, p.conditions_json,
                             p.created_by, p.created_at));
    return core::Ok();
  });
}

core::Result<std::optional<domain::TrustPolicy>> FederationStore::GetTrustPolicy(
    const domain::TenantScope& scope, const std::string& policy_id) {
  return database_.Run(
      scope, [&](Connection& connection) -> core::Result<std::optional<domain::TrustPolicy>> {
        TRY_ASSIGN(Rows rows, connection.QueryArgs(kSelectPolicy, policy_id));
        if (rows.empty()) return std::optional<domain::TrustPolicy>();
        return std::optional<domain::TrustPolicy>(common::ReadTrustPolicy(Row(rows, 0)));
      });
}

core::Result<std::vector<domain::TrustPolicy>> FederationStore::ListTrustPolicies(
    const domain::TenantScope& scope, const std::string& organization_id) {
  return database_.Run(
      scope, [&](Connection& connection) -> core::Result<std::vector<domain::TrustPolicy>> {
        TRY_ASSIGN(Rows rows, connection.QueryArgs(kSelectPoliciesByOrg, organization_id));
        return ReadPolicies(rows);
      });
}

core::Result<std::vector<domain::TrustPolicy>> FederationStore::ListTrustPoliciesByIssuer(
    const domain::TenantScope& scope, const std::string& provider, const std::string& issuer) {
  return database_.Run(
      scope, [&](Connection& connection) -> core::Result<std::vector<domain::TrustPolicy>> {
        TRY_ASSIGN(Rows rows, connection.QueryArgs(kSelectPoliciesByIssuer, provider, issuer));
        return ReadPolicies(rows);
      });
}

core::Result<bool> FederationStore::DeleteTrustPolicy(const domain::TenantScope& scope,
                                                      const std::string& policy_id) {
  return database_.Run(scope, [&](Connection& connection) -> core::Result<bool> {
    TRY_ASSIGN(Rows deleted, connection.QueryArgs(kDeletePolicy, policy_id));
    return deleted.Affected() > 0;
  });
}

core::Status FederationStore::CreatePartner(const domain::FederationPartner& p) {
  return database_.Run([&](Connection& connection) -> core::Status {
    const std::string allowed = common::StringArrayToJson(p.allowed_organizations);
    TRY(connection.QueryArgs(kInsertPartner, p.partner_id, p.name, p.issuer, p.jwks_uri, allowed,
                             p.status, p.expires_at, p.created_at, p.updated_at));
    return core::Ok();
  });
}

core::Result<std::optional<domain::FederationPartner>> FederationStore::GetPartner(
    const std::string& partner_id) {
  return database_.Run(
      [&](Connection& connection) -> core::Result<std::optional<domain::FederationPartner>> {
        TRY_ASSIGN(Rows rows, connection.QueryArgs(kSelectPartner, partner_id));
        if (rows.empty()) return std::optional<domain::FederationPartner>();
        TRY_ASSIGN(auto p, ReadPartner(Row(rows, 0), database_.log()));
        return std::optional<domain::FederationPartner>(std::move(p));
      });
}

core::Result<std::optional<domain::FederationPartner>> FederationStore::GetPartnerByIssuer(
    const std::string& issuer) {
  return database_.Run(
      [&](Connection& connection) -> core::Result<std::optional<domain::FederationPartner>> {
        TRY_ASSIGN(Rows rows, connection.QueryArgs(kSelectPartnerByIssuer, issuer));
        if (rows.empty()) return std::optional<domain::FederationPartner>();
        TRY_ASSIGN(auto p, ReadPartner(Row(rows, 0), database_.log()));
        return std::optional<domain::FederationPartner>(std::move(p));
      });
}

core::Result<std::vector<domain::FederationPartner>> FederationStore::ListPartners() {
  return database_.Run(
      [&](Connection& connection) -> core::Result<std::vector<domain::FederationPartner>> {
        TRY_ASSIGN(Rows rows, connection.Query(kSelectPartners));
        std::vector<domain::FederationPartner> out;
        for (int i = 0; i < rows.size(); ++i) {
          TRY_ASSIGN(auto p, ReadPartner(Row(rows, i), database_.log()));
          out.push_back(std::move(p));
        }
        return out;
      });
}

core::Status FederationStore::UpdatePartner(const domain::FederationPartner& p) {
  return database_.Run([&](Connection& connection) -> core::Status {
    const std::string allowed = common::StringArrayToJson(p.allowed_organizations);
    TRY_ASSIGN(Rows updated,
               connection.QueryArgs(kUpdatePartner, p.partner_id, p.name, p.issuer, p.jwks_uri,
                                    allowed, p.status, p.expires_at, p.updated_at));
    if (updated.Affected() == 0) return core::Error::NotFound("NOT_FOUND", "Partner not found");
    return core::Ok();
  });
}

core::Result<bool> FederationStore::DeletePartner(const std::string& partner_id) {
  return database_.Run([&](Connection& connection) -> core::Result<bool> {
    TRY_ASSIGN(Rows deleted, connection.QueryArgs(kDeletePartner, partner_id));
    return deleted.Affected() > 0;
  });
}

}  // namespace agentidp::store::postgres
