#include "store/postgres/connection.hpp"
#include "store/postgres/stores.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

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

domain::TrustPolicy ReadPolicy(const Row& row) {
  domain::TrustPolicy p;
  p.policy_id = row.Text(0);
  p.organization_id = row.Text(1);
  p.provider = row.Text(2);
  p.issuer = row.Text(3);
  p.repository = row.Text(4);
  p.branch = row.Text(5);
  p.agent_id = row.Text(6);
  p.audience = row.Text(7);
  p.conditions_json = row.Text(8);
  p.created_by = row.Text(9);
  p.created_at = row.Int64(10);
  return p;
}

std::string ListToJson(const std::vector<std::string>& items) {
  boost::json::array array;
  for (const auto& item : items) array.emplace_back(item);
  return boost::json::serialize(array);
}

core::Result<std::vector<std::string>> ListFromJson(const std::string& text, ErrorLog& log) {
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(text, ec);
  std::vector<std::string> out;
  bool ok = !ec && value.is_array();
  if (ok)
    for (const auto& item : value.get_array()) {
      if (!item.is_string()) {
        ok = false;
        break;
      }
      out.emplace_back(item.get_string());
    }
  if (!ok) {
    log.Record("postgres: federation_partners.allowed_organizations is not a JSON array");
    return core::Error::Internal("Store error");
  }
  return out;
}

core::Result<domain::FederationPartner> ReadPartner(const Row& row, ErrorLog& log) {
  domain::FederationPartner p;
  p.partner_id = row.Text(0);
  p.name = row.Text(1);
  p.issuer = row.Text(2);
  p.jwks_uri = row.Text(3);
  TRY_ASSIGN(p.allowed_organizations, ListFromJson(row.Text(4), log));
  p.status = row.Text(5);
  p.expires_at = row.OptionalInt64(6);
  p.created_at = row.Int64(7);
  p.updated_at = row.Int64(8);
  return p;
}

std::vector<domain::TrustPolicy> ReadPolicies(const Rows& rows) {
  std::vector<domain::TrustPolicy> out;
  for (int i = 0; i < rows.size(); ++i) out.push_back(ReadPolicy(Row(rows, i)));
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
        return std::optional<domain::TrustPolicy>(ReadPolicy(Row(rows, 0)));
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
    const std::string allowed = ListToJson(p.allowed_organizations);
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
    const std::string allowed = ListToJson(p.allowed_organizations);
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
