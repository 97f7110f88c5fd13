#include "store/sqlite/migrator.hpp"

#include "store/sqlite/migrations/migrations.hpp"

#include <string>

namespace agentidp::store::sqlite {

namespace {

constexpr const char* kCreateMigrationsTable = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    INTEGER NOT NULL PRIMARY KEY,
  name       TEXT NOT NULL,
  applied_at INTEGER NOT NULL
) STRICT)sql";

constexpr std::string_view kIsApplied = "SELECT 1 FROM schema_migrations WHERE version = ?1";

constexpr std::string_view kRecordApplied = R"sql(
INSERT INTO schema_migrations (version, name, applied_at)
VALUES (?1, ?2, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)))sql";

constexpr std::string_view kCurrentVersion =
    "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";

}  // namespace

core::Result<int> ApplyMigrations(Database& database) {
  TRY(database.Write(
      [](Connection& connection) { return connection.Exec(kCreateMigrationsTable); }));

  for (const auto& migration : migrations::All()) {
    TRY(database.WriteTransaction([&migration](Connection& connection) -> core::Status {
      {
        TRY_ASSIGN(auto is_applied, connection.Prepare(kIsApplied));
        is_applied.BindAll(int64_t{migration.version});
        TRY_ASSIGN(bool applied, is_applied.Step());
        if (applied) return core::Ok();  // another process got here first
      }
      TRY(connection.Exec(std::string(migration.sql).c_str()));
      TRY_ASSIGN(auto record, connection.Prepare(kRecordApplied));
      record.BindAll(int64_t{migration.version}, migration.name);
      return record.Run();
    }));
  }

  return database.Write([](Connection& connection) -> core::Result<int> {
    TRY_ASSIGN(auto current, connection.Prepare(kCurrentVersion));
    TRY_ASSIGN(bool has_row, current.Step());
    if (!has_row) return core::Error::Internal("Store error");
    return static_cast<int>(current.Int64(0));
  });
}

}  // namespace agentidp::store::sqlite
