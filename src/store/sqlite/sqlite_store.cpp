#include "store/sqlite/sqlite_store.hpp"

#include "store/sqlite/database.hpp"
#include "store/sqlite/migrator.hpp"
#include "store/sqlite/stores.hpp"

namespace agentidp::store::sqlite {

core::Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                             const SqliteOptions& options) {
  TRY_ASSIGN(auto database, Database::Open(path, options));
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(database)));
}

SqliteStore::SqliteStore(std::unique_ptr<Database> database)
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

SqliteStore::~SqliteStore() = default;

domain::OrgStore& SqliteStore::orgs() {
  return *orgs_;
}
domain::AgentStore& SqliteStore::agents() {
  return *agents_;
}
domain::CredentialStore& SqliteStore::credentials() {
  return *credentials_;
}
domain::AuditStore& SqliteStore::audit() {
  return *audit_;
}
domain::KeyStore& SqliteStore::keys() {
  return *keys_;
}
domain::RevocationStore& SqliteStore::revocations() {
  return *revocations_;
}
domain::MetaStore& SqliteStore::meta() {
  return *meta_;
}
domain::DelegationStore& SqliteStore::delegations() {
  return *delegations_;
}
domain::AgentKeyStore& SqliteStore::agent_keys() {
  return *agent_keys_;
}

domain::FederationStore& SqliteStore::federation() {
  return *federation_;
}

core::Status SqliteStore::Ping() {
  return database_->Read([](Connection& connection) -> core::Status {
    TRY_ASSIGN(auto select, connection.Prepare("SELECT 1"));
    TRY_ASSIGN(bool has_row, select.Step());
    if (!has_row) return core::Error::Internal("Store error");
    return core::Ok();
  });
}

core::Result<int> SqliteStore::Migrate() {
  return ApplyMigrations(*database_);
}

std::string SqliteStore::LastErrorDetail() const {
  return database_->log().Last();
}

core::Status SqliteStore::ExecRawForTest(const std::string& sql) {
  return database_->Write([&sql](Connection& connection) { return connection.Exec(sql.c_str()); });
}

}  // namespace agentidp::store::sqlite
