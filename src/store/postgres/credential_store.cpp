#include "store/common/rows.hpp"
#include "store/postgres/stores.hpp"

namespace agentidp::store::postgres {

namespace {

constexpr std::string_view kInsert = R"sql(
INSERT INTO credentials
  (credential_id, agent_id, type, status, secret_hash, created_at, expires_at, revoked_at,
   jwks, jwks_uri)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10))sql";

constexpr std::string_view kSelectById = R"sql(
SELECT credential_id, agent_id, type, status, secret_hash, created_at, expires_at, revoked_at,
       jwks, jwks_uri
FROM credentials WHERE credential_id = $1)sql";

constexpr std::string_view kSelectByAgent = R"sql(
SELECT credential_id, agent_id, type, status, secret_hash, created_at, expires_at, revoked_at,
       jwks, jwks_uri
FROM credentials WHERE agent_id = $1
ORDER BY created_at DESC, credential_id DESC)sql";

constexpr std::string_view kSelectActiveByAgent = R"sql(
SELECT credential_id, agent_id, type, status, secret_hash, created_at, expires_at, revoked_at,
       jwks, jwks_uri
FROM credentials
WHERE agent_id = $1 AND status = 'active' AND (expires_at IS NULL OR expires_at > $2))sql";

constexpr std::string_view kUpdate = R"sql(
UPDATE credentials SET status = $2, secret_hash = $3, expires_at = $4, revoked_at = $5,
  jwks = $6, jwks_uri = $7
WHERE credential_id = $1)sql";

constexpr std::string_view kRevokeAllForAgent = R"sql(
UPDATE credentials SET status = 'revoked', revoked_at = $2
WHERE agent_id = $1 AND status = 'active')sql";

std::vector<domain::Credential> ReadAll(const Rows& rows) {
  std::vector<domain::Credential> credentials;
  credentials.reserve(static_cast<size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) credentials.push_back(common::ReadCredential(Row(rows, i)));
  return credentials;
}

}  // namespace

core::Status CredentialStore::Create(const domain::TenantScope& scope,
                                     const domain::Credential& credential) {
  return database_.Run(scope, [&](Connection& connection) -> core::Status {
    TRY(connection.QueryArgs(kInsert, credential.credential_id, credential.agent_id,
                             credential.type, credential.status, credential.secret_hash,
                             credential.created_at, credential.expires_at, credential.revoked_at,
                             credential.jwks_json, credential.jwks_uri));
    return core::Ok();
  });
}

core::Result<std::optional<domain::Credential>> CredentialStore::Get(
    const domain::TenantScope& scope, const std::string& credential_id) {
  return database_.Run(
      scope, [&](Connection& connection) -> core::Result<std::optional<domain::Credential>> {
        TRY_ASSIGN(Rows rows, connection.QueryArgs(kSelectById, credential_id));
        if (rows.empty()) return std::optional<domain::Credential>();
        return std::optional<domain::Credential>(common::ReadCredential(Row(rows, 0)));
      });
}

core::Result<std::vector<domain::Credential>> CredentialStore::ListByAgent(
    const domain::TenantScope& scope, const std::string& agent_id) {
  return database_.Run(
      scope, [&](Connection& connection) -> core::Result<std::vector<domain::Credential>> {
        TRY_ASSIGN(Rows rows, connection.QueryArgs(kSelectByAgent, agent_id));
        return ReadAll(rows);
      });
}

core::Result<std::vector<domain::Credential>> CredentialStore::ListActiveByAgent(
    const domain::TenantScope& scope, const std::string& agent_id, int64_t now_ms) {
  return database_.Run(
      scope, [&](Connection& connection) -> core::Result<std::vector<domain::Credential>> {
        TRY_ASSIGN(Rows rows, connection.QueryArgs(kSelectActiveByAgent, agent_id, now_ms));
        return ReadAll(rows);
      });
}

core::Status CredentialStore::Update(const domain::TenantScope& scope,
                                     const domain::Credential& credential) {
  return database_.Run(scope, [&](Connection& connection) -> core::Status {
    TRY_ASSIGN(Rows updated, connection.QueryArgs(kUpdate, credential.credential_id,
                                                  credential.status, credential.secret_hash,
                                                  credential.expires_at, credential.revoked_at,
                                                  credential.jwks_json, credential.jwks_uri));
    if (updated.Affected() == 0) {
      return core::Error::NotFound("NOT_FOUND", "Credential not found");
    }
    return core::Ok();
  });
}

core::Result<int> CredentialStore::RevokeAllForAgent(const domain::TenantScope& scope,
                                                     const std::string& agent_id, int64_t now_ms) {
  return database_.Run(scope, [&](Connection& connection) -> core::Result<int> {
    TRY_ASSIGN(Rows revoked, connection.QueryArgs(kRevokeAllForAgent, agent_id, now_ms));
    return static_cast<int>(revoked.Affected());
  });
}

}  // namespace agentidp::store::postgres
