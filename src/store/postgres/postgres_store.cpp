#include "store/postgres/postgres_store.hpp"

#include "store/postgres/database.hpp"
#include "store/postgres/migrator.hpp"
#include "store/postgres/stores.hpp"

namespace agentidp::store::postgres {

core::Result<std::unique_ptr<PostgresStore>> PostgresStore::Open(const std::string& url,
                                                                 const PostgresOptions& options) {
  TRY_ASSIGN(auto database, Database::Open(url, options));
  return std::unique_ptr<PostgresStore>(new PostgresStore(std::move(database)));
}

PostgresStore::PostgresStore(std::unique_ptr<Database> database)
    : database_(std::move(database)),
      orgs_(std::make_unique<OrgStore>(*database_)),
      agents_(std::make_unique<AgentStore>(*database_)),
      credentials_(std::make_unique<CredentialStore>(*database_)),
      audit_(std::make_unique<AuditStore>(*database_)),
      keys_(std::make_unique<KeyStore>(*database_)),
      revocations_(std::make_unique<RevocationStore>(*database_)),
      meta_(std::make_unique<MetaStore>(*database_)),
      delegations_(std::make_unique<DelegationStore>(*database_)),
      agent_keys_(std::make_unique<AgentKeyStore>(*database_)),
      federation_(std::make_unique<FederationStore>(*database_)) {}

PostgresStore::~PostgresStore() = default;

domain::OrgStore& PostgresStore::orgs() {
  return *orgs_;
}
domain::AgentStore& PostgresStore::agents() {
  return *agents_;
}
domain::CredentialStore& PostgresStore::credentials() {
  return *credentials_;
}
domain::AuditStore& PostgresStore::audit() {
  return *audit_;
}
domain::KeyStore& PostgresStore::keys() {
  return *keys_;
}
domain::RevocationStore& PostgresStore::revocations() {
  return *revocations_;
}
domain::MetaStore& PostgresStore::meta() {
  return *meta_;
}
domain::DelegationStore& PostgresStore::delegations() {
  return *delegations_;
}
domain::AgentKeyStore& PostgresStore::agent_keys() {
  return *agent_keys_;
}

domain::FederationStore& PostgresStore::federation() {
  return *federation_;
}

core::Status PostgresStore::Ping() {
  return database_->Run([](Connection& connection) -> core::Status {
    TRY_ASSIGN(Rows rows, connection.Query("SELECT 1"));
    if (rows.empty()) return core::Error::Internal("Store error");
    return core::Ok();
  });
}

core::Result<int> PostgresStore::Migrate() {
  TRY_ASSIGN(int version, ApplyMigrations(*database_));
  // Row-level security never applies to superusers and BYPASSRLS roles, FORCE or not: tenant
  // isolation would then rest on the queries alone. Said once, at start-up (and by
  // `agentidp migrate`, which may rightly run as such a role).
  auto bypass = database_->Run([](Connection& connection) -> core::Result<bool> {
    TRY_ASSIGN(Rows rows, connection.Query("SELECT rolsuper OR rolbypassrls FROM pg_roles "
                                           "WHERE rolname = current_user"));
    return !rows.empty() && rows.Bool(0, 0);
  });
  if (bypass.ok() && *bypass) {
    database_->log().Record(
        "postgres: the session role is a superuser or has BYPASSRLS, so row-level security "
        "does not apply to it; run the server as a role without either (docs/operations.md, "
        "Roles)");
  }
  return version;
}

std::string PostgresStore::LastErrorDetail() const {
  return database_->log().Last();
}

core::Status PostgresStore::ExecRawForTest(const std::string& sql) {
  return database_->Run([&sql](Connection& connection) { return connection.Exec(sql.c_str()); });
}

}  // namespace agentidp::store::postgres
