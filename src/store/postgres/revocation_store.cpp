#include "store/common/rows.hpp"
#include "store/postgres/stores.hpp"

namespace agentidp::store::postgres {

namespace {

// Revoking twice keeps the first record: the token's exp cannot change, and the first
// revocation time is the one that counts. One statement, so concurrent revocations of the
// same jti on several nodes cannot conflict.
constexpr std::string_view kInsert = R"sql(
INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES ($1, $2, $3)
ON CONFLICT (jti) DO NOTHING)sql";

constexpr std::string_view kExists = "SELECT 1 FROM revoked_tokens WHERE jti = $1";

constexpr std::string_view kSelectUnexpired = R"sql(
SELECT jti, expires_at, revoked_at FROM revoked_tokens WHERE expires_at > $1)sql";

constexpr std::string_view kDeleteExpired = "DELETE FROM revoked_tokens WHERE expires_at <= $1";

}  // namespace

core::Status RevocationStore::Revoke(const domain::RevokedToken& token) {
  return database_.Run([&](Connection& connection) -> core::Status {
    TRY(connection.QueryArgs(kInsert, token.jti, token.expires_at, token.revoked_at));
    return core::Ok();
  });
}

core::Result<bool> RevocationStore::IsRevoked(const std::string& jti) {
  return database_.Run([&](Connection& connection) -> core::Result<bool> {
    TRY_ASSIGN(Rows rows, connection.QueryArgs(kExists, jti));
    return !rows.empty();
  });
}

core::Result<std::vector<domain::RevokedToken>> RevocationStore::ListUnexpired(int64_t now_ms) {
  return database_.Run(
      [&](Connection& connection) -> core::Result<std::vector<domain::RevokedToken>> {
        TRY_ASSIGN(Rows rows, connection.QueryArgs(kSelectUnexpired, now_ms));
        std::vector<domain::RevokedToken> tokens;
        tokens.reserve(static_cast<size_t>(rows.size()));
        for (int i = 0; i < rows.size(); ++i) {
          tokens.push_back(common::ReadRevokedToken(Row(rows, i)));
        }
        return tokens;
      });
}

core::Result<int64_t> RevocationStore::PurgeExpired(int64_t now_ms) {
  return database_.Run([&](Connection& connection) -> core::Result<int64_t> {
    TRY_ASSIGN(Rows removed, connection.QueryArgs(kDeleteExpired, now_ms));
    return removed.Affected();
  });
}

}  // namespace agentidp::store::postgres
