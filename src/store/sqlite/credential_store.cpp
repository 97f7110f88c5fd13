#include "store/common/rows.hpp"
#include "store/sqlite/stores.hpp"

namespace agentidp::store::sqlite {

namespace {

constexpr std::string_view kInsert = R"sql(
INSERT INTO credentials
  (credential_id, agent_id, type, status, secret_hash, created_at, expires_at, revoked_at,
   jwks, jwks_uri)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10))sql";

constexpr std::string_view kSelectById = R"sql(
SELECT credential_id, agent_id, type, status, secret_hash, created_at, expires_at, revoked_at,
       jwks, jwks_uri
FROM credentials WHERE credential_id = ?1)sql";

constexpr std::string_view kSelectByAgent = R"sql(
SELECT credential_id, agent_id, type, status, secret_hash, created_at, expires_at, revoked_at,
       jwks, jwks_uri
FROM credentials WHERE agent_id = ?1
ORDER BY created_at DESC, credential_id DESC)sql";

constexpr std::string_view kSelectActiveByAgent = R"sql(
SELECT credential_id, agent_id, type, status, secret_hash, created_at, expires_at, revoked_at,
       jwks, jwks_uri
FROM credentials
WHERE agent_id = ?1 AND status = 'active' AND (expires_at IS NULL OR expires_at > ?2))sql";

constexpr std::string_view kUpdate = R"sql(
UPDATE credentials SET status = ?2, secret_hash = ?3, expires_at = ?4, revoked_at = ?5,
  jwks = ?6, jwks_uri = ?7
WHERE credential_id = ?1)sql";

constexpr std::string_view kRevokeAllForAgent = R"sql(
UPDATE credentials SET status = 'revoked', revoked_at = ?2
WHERE agent_id = ?1 AND status = 'active')sql";

core::Result<std::vector<domain::Credential>> ReadAll(Statement& select) {
  std::vector<domain::Credential> credentials;
  while (true) {
    TRY_ASSIGN(bool has_row, select.Step());
    if (!has_row) return credentials;
    credentials.push_back(common::ReadCredential(select));
  }
}

}  // namespace

core::Status CredentialStore::Create(const domain::TenantScope& /*scope*/,
                                     const domain::Credential& credential) {
  return database_.Write([&](Connection& connection) -> core::Status {
    TRY_ASSIGN(auto insert, connection.Prepare(kInsert));
    insert.BindAll(credential.credential_id, credential.agent_id, credential.type,
                   credential.status, credential.secret_hash, credential.created_at,
                   credential.expires_at, credential.revoked_at, credential.jwks_json,
                   credential.jwks_uri);
    return insert.Run();
  });
}

core::Result<std::optional<domain::Credential>> CredentialStore::Get(
    const domain::TenantScope& /*scope*/, const std::string& credential_id) {
  return database_.Read(
      [&](Connection& connection) -> core::Result<std::optional<domain::Credential>> {
        TRY_ASSIGN(auto select, connection.Prepare(kSelectById));
        select.BindAll(credential_id);
        TRY_ASSIGN(bool found, select.Step());
        if (!found) return std::optional<domain::Credential>();
        return std::optional<domain::Credential>(common::ReadCredential(select));
      });
}

core::Result<std::vector<domain::Credential>> CredentialStore::ListByAgent(
    const domain::TenantScope& /*scope*/, const std::string& agent_id) {
  return database_.Read(
      [&](Connection& connection) -> core::Result<std::vector<domain::Credential>> {
        TRY_ASSIGN(auto select, connection.Prepare(kSelectByAgent));
        select.BindAll(agent_id);
        return ReadAll(select);
      });
}

core::Result<std::vector<domain::Credential>> CredentialStore::ListActiveByAgent(
    const domain::TenantScope& /*scope*/, const std::string& agent_id, int64_t now_ms) {
  return database_.Read(
      [&](Connection& connection) -> core::Result<std::vector<domain::Credential>> {
        TRY_ASSIGN(auto select, connection.Prepare(kSelectActiveByAgent));
        select.BindAll(agent_id, now_ms);
        return ReadAll(select);
      });
}

core::Status CredentialStore::Update(const domain::TenantScope& /*scope*/,
                                     const domain::Credential& credential) {
  return database_.Write([&](Connection& connection) -> core::Status {
    TRY_ASSIGN(auto update, connection.Prepare(kUpdate));
    update.BindAll(credential.credential_id, credential.status, credential.secret_hash,
                   credential.expires_at, credential.revoked_at, credential.jwks_json,
                   credential.jwks_uri);
    TRY(update.Run());
    if (connection.Changes() == 0) {
      return core::Error::NotFound("NOT_FOUND", "Credential not found");
    }
    return core::Ok();
  });
}

core::Result<int> CredentialStore::RevokeAllForAgent(const domain::TenantScope& /*scope*/,
                                                     const std::string& agent_id, int64_t now_ms) {
  return database_.Write([&](Connection& connection) -> core::Result<int> {
    TRY_ASSIGN(auto revoke, connection.Prepare(kRevokeAllForAgent));
    revoke.BindAll(agent_id, now_ms);
    TRY(revoke.Run());
    return static_cast<int>(connection.Changes());
  });
}

}  // namespace agentidp::store::sqlite
