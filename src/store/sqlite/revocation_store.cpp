#include "store/common/rows.hpp"
#include "store/sqlite/stores.hpp"

namespace agentidp::store::sqlite {

namespace {

// Revoking twice keeps the first record: the token's exp cannot change, and the first
// revocation time is the one that counts.
constexpr std::string_view kInsert = R"sql(
INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES (?1, ?2, ?3)
ON CONFLICT (jti) DO NOTHING)sql";

constexpr std::string_view kExists = "SELECT 1 FROM revoked_tokens WHERE jti = ?1";

constexpr std::string_view kSelectUnexpired = R"sql(
SELECT jti, expires_at, revoked_at FROM revoked_tokens WHERE expires_at > ?1)sql";

constexpr std::string_view kDeleteExpired = "DELETE FROM revoked_tokens WHERE expires_at <= ?1";

}  // namespace

core::Status RevocationStore::Revoke(const domain::RevokedToken& token) {
  return database_.Write([&](Connection& connection) -> core::Status {
    TRY_ASSIGN(auto insert, connection.Prepare(kInsert));
    insert.BindAll(token.jti, token.expires_at, token.revoked_at);
    return insert.Run();
  });
}

core::Result<bool> RevocationStore::IsRevoked(const std::string& jti) {
  return database_.Read([&](Connection& connection) -> core::Result<bool> {
    TRY_ASSIGN(auto select, connection.Prepare(kExists));
    select.BindAll(jti);
    return select.Step();
  });
}

core::Result<std::vector<domain::RevokedToken>> RevocationStore::ListUnexpired(int64_t now_ms) {
  return database_.Read(
      [&](Connection& connection) -> core::Result<std::vector<domain::RevokedToken>> {
        TRY_ASSIGN(auto select, connection.Prepare(kSelectUnexpired));
        select.BindAll(now_ms);
        std::vector<domain::RevokedToken> tokens;
        while (true) {
          TRY_ASSIGN(bool has_row, select.Step());
          if (!has_row) return tokens;
          tokens.push_back(common::ReadRevokedToken(select));
        }
      });
}

core::Result<int64_t> RevocationStore::PurgeExpired(int64_t now_ms) {
  return database_.Write([&](Connection& connection) -> core::Result<int64_t> {
    TRY_ASSIGN(auto remove, connection.Prepare(kDeleteExpired));
    remove.BindAll(now_ms);
    TRY(remove.Run());
    return connection.Changes();
  });
}

}  // namespace agentidp::store::sqlite
