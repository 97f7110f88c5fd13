#include "store/postgres/migrator.hpp"

#include "store/postgres/migrations/migrations.hpp"

namespace agentidp::store::postgres {

namespace {

// pg_advisory_xact_lock key of the migrator: "agentidp" in ASCII. Advisory locks are per
// database, so stores in different schemas of one database take turns, which is harmless.
constexpr std::string_view kLock = "SELECT pg_advisory_xact_lock(7018134645958689904)";

// Migrations may rewrite large tables and wait for other sessions' locks: the pooled
// connection's statement_timeout does not apply to them, a bounded lock wait does.
constexpr const char* kRelaxTimeouts =
    "SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = '60s'";

constexpr const char* kCreateMigrationsTable = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    INTEGER NOT NULL PRIMARY KEY,
  name       TEXT NOT NULL,
  applied_at BIGINT NOT NULL
))sql";

constexpr std::string_view kIsApplied = "SELECT 1 FROM schema_migrations WHERE version = $1";

constexpr std::string_view kRecordApplied = R"sql(
INSERT INTO schema_migrations (version, name, applied_at)
VALUES ($1, $2, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT))sql";

constexpr std::string_view kCurrentVersion =
    "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";

constexpr std::string_view kHasMigrationsTable =
    "SELECT to_regclass('schema_migrations') IS NOT NULL";

core::Result<int> CurrentVersion(Database& database) {
  return database.Run([](Connection& connection) -> core::Result<int> {
    TRY_ASSIGN(Rows exists, connection.Query(kHasMigrationsTable));
    if (exists.empty() || !exists.Bool(0, 0)) return 0;
    TRY_ASSIGN(Rows current, connection.Query(kCurrentVersion));
    if (current.empty()) return core::Error::Internal("Store error");
    return static_cast<int>(current.Int64(0, 0));
  });
}

}  // namespace

core::Result<int> ApplyMigrations(Database& database) {
  // An up-to-date schema needs neither the lock nor any DDL: every node but the first starts
  // without waiting, and nodes may run as a role that has no DDL rights at all
  // (docs/operations.md).
  TRY_ASSIGN(int current, CurrentVersion(database));
  if (current >= migrations::All().back().version) return current;

  for (const auto& migration : migrations::All()) {
    TRY(database.Transaction([&migration](Connection& connection) -> core::Status {
      TRY(connection.Exec(kRelaxTimeouts));
      TRY(connection.Query(kLock));
      // Under the lock: concurrent CREATE TABLE IF NOT EXISTS is not safe without it.
      TRY(connection.Exec(kCreateMigrationsTable));
      TRY_ASSIGN(Rows applied, connection.QueryArgs(kIsApplied, migration.version));
      if (!applied.empty()) return core::Ok();  // another node got here first
      TRY(connection.Exec(std::string(migration.sql).c_str()));
      TRY(connection.QueryArgs(kRecordApplied, migration.version, migration.name));
      return core::Ok();
    }));
  }
  return CurrentVersion(database);
}

}  // namespace agentidp::store::postgres
