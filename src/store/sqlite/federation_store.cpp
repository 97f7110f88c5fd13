#include "store/common/rows.hpp"
#include "store/sqlite/connection.hpp"
#include "store/sqlite/stores.hpp"

namespace agentidp::store::sqlite {

namespace {

constexpr std::string_view kInsertPolicy = R"sql(
INSERT INTO trust_policies
  (policy_id, organization_id, provider, issuer, repository, branch, agent_id, audience,
   conditions, created_by, created_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11))sql";

constexpr std::string_view kSelectPolicy = R"sql(
SELECT policy_id, organization_id, provider, issuer, repository, branch, agent_id, audience,
       conditions, created_by, created_at
FROM trust_policies WHERE policy_id = ?1)sql";

constexpr std::string_view kSelectPoliciesByOrg = R"sql(
SELECT policy_id, organization_id, provider, issuer, repository, branch, agent_id, audience,
       conditions, created_by, created_at
FROM trust_policies WHERE organization_id = ?1 ORDER BY created_at ASC, policy_id ASC)sql";

constexpr std::string_view kSelectPoliciesByIssuer = R"sql(
SELECT policy_id, organization_id, provider, issuer, repository, branch, agent_id, audience,
       conditions, created_by, created_at
FROM trust_policies WHERE provider = ?1 AND issuer = ?2
ORDER BY created_at ASC, policy_id ASC)sql";

constexpr std::string_view kDeletePolicy = "DELETE FROM trust_policies WHERE policy_id = ?1";

constexpr std::string_view kInsertPartner = R"sql(
INSERT INTO federation_partners
  (partner_id, name, issuer, jwks_uri, allowed_organizations, status, expires_at, created_at,
   updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9))sql";

constexpr std::string_view kSelectPartner = R"sql(
SELECT partner_id, name, issuer, jwks_uri, allowed_organizations, status, expires_at,
       created_at, updated_at
FROM federation_partners WHERE partner_id = ?1)sql";

constexpr std::string_view kSelectPartnerByIssuer = R"sql(
SELECT partner_id, name, issuer, jwks_uri, allowed_organizations, status, expires_at,
       created_at, updated_at
FROM federation_partners WHERE issuer = ?1)sql";

constexpr std::string_view kSelectPartners = R"sql(
SELECT partner_id, name, issuer, jwks_uri, allowed_organizations, status, expires_at,
       created_at, updated_at
FROM federation_partners ORDER BY created_at ASC, partner_id ASC)sql";

constexpr std::string_view kUpdatePartner = R"sql(
UPDATE federation_partners SET name = ?2, issuer = ?3, jwks_uri = ?4,
  allowed_organizations = ?5, status = ?6, expires_at = ?7, updated_at = ?8
WHERE partner_id = ?1)sql";

constexpr std::string_view kDeletePartner = "DELETE FROM federation_partners WHERE partner_id = ?1";

core::Result<domain::FederationPartner> ReadPartner(const Statement& row, ErrorLog& log) {
  return common::ReadFederationPartner(row, log, "sqlite");
}

core::Result<std::vector<domain::TrustPolicy>> ReadPolicies(Statement& select) {
  std::vector<domain::TrustPolicy> out;
  while (true) {
    TRY_ASSIGN(bool has_row, select.Step());
    if (!has_row) return out;
    out.push_back(common::ReadTrustPolicy(select));
  }
}

}  // namespace

core::Status FederationStore::CreateTrustPolicy(const domain::TenantScope& /*scope*/,
                                                const domain::TrustPolicy& p) {
  return database_.Write([&](Connection& connection) -> core::Status {
    TRY_ASSIGN(auto insert, connection.Prepare(kInsertPolicy));
    insert.BindAll(p.policy_id, p.organization_id, p.provider, p.issuer, p.repository, p.branch,
                   p.agent_id, p.audience, p.conditions_json, p.created_by, p.created_at);
    return insert.Run();
  });
}

core::Result<std::optional<domain::TrustPolicy>> FederationStore::GetTrustPolicy(
    const domain::TenantScope& /*scope*/, const std::string& policy_id) {
  return database_.Read(
      [&](Connection& connection) -> core::Result<std::optional<domain::TrustPolicy>> {
        TRY_ASSIGN(auto select, connection.Prepare(kSelectPolicy));
        select.BindAll(policy_id);
        TRY_ASSIGN(bool found, select.Step());
        if (!found) return std::optional<domain::TrustPolicy>();
        return std::optional<domain::TrustPolicy>(common::ReadTrustPolicy(select));
      });
}

core::Result<std::vector<domain::TrustPolicy>> FederationStore::ListTrustPolicies(
    const domain::TenantScope& /*scope*/, const std::string& organization_id) {
  return database_.Read(
      [&](Connection& connection) -> core::Result<std::vector<domain::TrustPolicy>> {
        TRY_ASSIGN(auto select, connection.Prepare(kSelectPoliciesByOrg));
        select.BindAll(organization_id);
        return ReadPolicies(select);
      });
}

core::Result<std::vector<domain::TrustPolicy>> FederationStore::ListTrustPoliciesByIssuer(
    const domain::TenantScope& /*scope*/, const std::string& provider, const std::string& issuer) {
  return database_.Read(
      [&](Connection& connection) -> core::Result<std::vector<domain::TrustPolicy>> {
        TRY_ASSIGN(auto select, connection.Prepare(kSelectPoliciesByIssuer));
        select.BindAll(provider, issuer);
        return ReadPolicies(select);
      });
}

core::Result<bool> FederationStore::DeleteTrustPolicy(const domain::TenantScope& /*scope*/,
                                                      const std::string& policy_id) {
  return database_.Write([&](Connection& connection) -> core::Result<bool> {
    TRY_ASSIGN(auto del, connection.Prepare(kDeletePolicy));
    del.BindAll(policy_id);
    TRY(del.Run());
    return connection.Changes() > 0;
  });
}

core::Status FederationStore::CreatePartner(const domain::FederationPartner& p) {
  return database_.Write([&](Connection& connection) -> core::Status {
    TRY_ASSIGN(auto insert, connection.Prepare(kInsertPartner));
    insert.BindAll(p.partner_id, p.name, p.issuer, p.jwks_uri,
                   common::StringArrayToJson(p.allowed_organizations), p.status, p.expires_at,
                   p.created_at, p.updated_at);
    return insert.Run();
  });
}

core::Result<std::optional<domain::FederationPartner>> FederationStore::GetPartner(
    const std::string& partner_id) {
  return database_.Read(
      [&](Connection& connection) -> core::Result<std::optional<domain::FederationPartner>> {
        TRY_ASSIGN(auto select, connection.Prepare(kSelectPartner));
        select.BindAll(partner_id);
        TRY_ASSIGN(bool found, select.Step());
        if (!found) return std::optional<domain::FederationPartner>();
        TRY_ASSIGN(auto p, ReadPartner(select, database_.log()));
        return std::optional<domain::FederationPartner>(std::move(p));
      });
}

core::Result<std::optional<domain::FederationPartner>> FederationStore::GetPartnerByIssuer(
    const std::string& issuer) {
  return database_.Read(
      [&](Connection& connection) -> core::Result<std::optional<domain::FederationPartner>> {
        TRY_ASSIGN(auto select, connection.Prepare(kSelectPartnerByIssuer));
        select.BindAll(issuer);
        TRY_ASSIGN(bool found, select.Step());
        if (!found) return std::optional<domain::FederationPartner>();
        TRY_ASSIGN(auto p, ReadPartner(select, database_.log()));
        return std::optional<domain::FederationPartner>(std::move(p));
      });
}

core::Result<std::vector<domain::FederationPartner>> FederationStore::ListPartners() {
  return database_.Read(
      [&](Connection& connection) -> core::Result<std::vector<domain::FederationPartner>> {
        TRY_ASSIGN(auto select, connection.Prepare(kSelectPartners));
        std::vector<domain::FederationPartner> out;
        while (true) {
          TRY_ASSIGN(bool has_row, select.Step());
          if (!has_row) return out;
          TRY_ASSIGN(auto p, ReadPartner(select, database_.log()));
          out.push_back(std::move(p));
        }
      });
}

core::Status FederationStore::UpdatePartner(const domain::FederationPartner& p) {
  return database_.Write([&](Connection& connection) -> core::Status {
    TRY_ASSIGN(auto update, connection.Prepare(kUpdatePartner));
    update.BindAll(p.partner_id, p.name, p.issuer, p.jwks_uri,
                   common::StringArrayToJson(p.allowed_organizations), p.status, p.expires_at,
                   p.updated_at);
    TRY(update.Run());
    if (connection.Changes() == 0) return core::Error::NotFound("NOT_FOUND", "Partner not found");
    return core::Ok();
  });
}

core::Result<bool> FederationStore::DeletePartner(const std::string& partner_id) {
  return database_.Write([&](Connection& connection) -> core::Result<bool> {
    TRY_ASSIGN(auto del, connection.Prepare(kDeletePartner));
    del.BindAll(partner_id);
    TRY(del.Run());
    return connection.Changes() > 0;
  });
}

}  // namespace agentidp::store::sqlite
