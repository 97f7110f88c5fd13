#include "store/common/rows.hpp"
#include "store/postgres/stores.hpp"

namespace agentidp::store::postgres {

namespace {

constexpr std::string_view kInsert = R"sql(
INSERT INTO signing_keys
  (kid, alg, public_jwk, sealed_private_key, status, created_at, activates_at, retired_at,
   publish_until)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9))sql";

constexpr std::string_view kUpdate = R"sql(
UPDATE signing_keys SET status = $2, activates_at = $3, retired_at = $4, publish_until = $5
WHERE kid = $1)sql";

constexpr std::string_view kSelectAll = R"sql(
SELECT kid, alg, public_jwk, sealed_private_key, status, created_at, activates_at, retired_at,
       publish_until
FROM signing_keys ORDER BY created_at ASC, kid ASC)sql";

}  // namespace

core::Status KeyStore::Insert(const domain::SigningKey& key) {
  return database_.Run([&](Connection& connection) -> core::Status {
    TRY(connection.QueryArgs(kInsert, key.kid, key.alg, key.public_jwk_json, key.sealed_private_key,
                             key.status, key.created_at, key.activates_at, key.retired_at,
                             key.publish_until));
    return core::Ok();
  });
}

core::Status KeyStore::Update(const domain::SigningKey& key) {
  return database_.Run([&](Connection& connection) -> core::Status {
    TRY_ASSIGN(Rows updated, connection.QueryArgs(kUpdate, key.kid, key.status, key.activates_at,
                                                  key.retired_at, key.publish_until));
    if (updated.Affected() == 0) return core::Error::NotFound("NOT_FOUND", "Key not found");
    return core::Ok();
  });
}

core::Result<std::vector<domain::SigningKey>> KeyStore::List() {
  return database_.Run(
      [&](Connection& connection) -> core::Result<std::vector<domain::SigningKey>> {
        TRY_ASSIGN(Rows rows, connection.Query(kSelectAll));
        std::vector<domain::SigningKey> keys;
        keys.reserve(static_cast<size_t>(rows.size()));
        for (int i = 0; i < rows.size(); ++i) {
          keys.push_back(common::ReadSigningKey(Row(rows, i)));
        }
        return keys;
      });
}

}  // namespace agentidp::store::postgres
