#include "store/sqlite/stores.hpp"

namespace agentidp::store::sqlite {

namespace {

constexpr std::string_view kSelect = "SELECT value FROM meta WHERE key = ?1";

constexpr std::string_view kUpsert = R"sql(
INSERT INTO meta (key, value) VALUES (?1, ?2)
ON CONFLICT (key) DO UPDATE SET value = excluded.value)sql";

constexpr std::string_view kInsertIfAbsent =
    "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING";

}  // namespace

core::Result<std::optional<std::string>> MetaStore::Get(const std::string& key) {
  return database_.Read([&](Connection& connection) -> core::Result<std::optional<std::string>> {
    TRY_ASSIGN(auto select, connection.Prepare(kSelect));
    select.BindAll(key);
    TRY_ASSIGN(bool found, select.Step());
    if (!found) return std::optional<std::string>();
    return std::optional<std::string>(select.Text(0));
  });
}

core::Status MetaStore::Put(const std::string& key, const std::string& value) {
  return database_.Write([&](Connection& connection) -> core::Status {
    TRY_ASSIGN(auto upsert, connection.Prepare(kUpsert));
    upsert.BindAll(key, value);
    return upsert.Run();
  });
}

core::Result<bool> MetaStore::PutIfAbsent(const std::string& key, const std::string& value) {
  // The insert and changes() run under the writer lock, so changes() is this statement's.
  return database_.Write([&](Connection& connection) -> core::Result<bool> {
    TRY_ASSIGN(auto insert, connection.Prepare(kInsertIfAbsent));
    insert.BindAll(key, value);
    TRY(insert.Run());
    return connection.Changes() == 1;
  });
}

}  // namespace agentidp::store::sqlite
