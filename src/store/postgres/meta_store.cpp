#include "store/postgres/stores.hpp"

namespace agentidp::store::postgres {

namespace {

constexpr std::string_view kSelect = "SELECT value FROM meta WHERE key = $1";

constexpr std::string_view kUpsert = R"sql(
INSERT INTO meta (key, value) VALUES ($1, $2)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value)sql";

// One statement: of several nodes racing to bootstrap, exactly one inserts (the others wait
// for its commit on the unique index, then do nothing).
constexpr std::string_view kInsertIfAbsent =
    "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";

}  // namespace

core::Result<std::optional<std::string>> MetaStore::Get(const std::string& key) {
  return database_.Run([&](Connection& connection) -> core::Result<std::optional<std::string>> {
    TRY_ASSIGN(Rows rows, connection.QueryArgs(kSelect, key));
    if (rows.empty()) return std::optional<std::string>();
    return std::optional<std::string>(rows.Text(0, 0));
  });
}

core::Status MetaStore::Put(const std::string& key, const std::string& value) {
  return database_.Run([&](Connection& connection) -> core::Status {
    TRY(connection.QueryArgs(kUpsert, key, value));
    return core::Ok();
  });
}

core::Result<bool> MetaStore::PutIfAbsent(const std::string& key, const std::string& value) {
  return database_.Run([&](Connection& connection) -> core::Result<bool> {
    TRY_ASSIGN(Rows inserted, connection.QueryArgs(kInsertIfAbsent, key, value));
    return inserted.Affected() == 1;
  });
}

}  // namespace agentidp::store::postgres
