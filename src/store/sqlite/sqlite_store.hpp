#pragma once

// The embedded backend: every domain store on one SQLite database in WAL mode.
// Concurrency model: see database.hpp (one writer connection + a pool of readers).

#include "core/result.hpp"
#include "domain/store.hpp"
#include "store/sqlite/sqlite_options.hpp"

#include <memory>
#include <string>

namespace agentidp::store::sqlite {

class Database;
class OrgStore;
class AgentStore;
class CredentialStore;
class AuditStore;
class KeyStore;
class RevocationStore;
class MetaStore;
class DelegationStore;
class AgentKeyStore;
class FederationStore;

class SqliteStore final : public domain::Store {
 public:
  // Opens (creating it owner-only, with its directory, if absent) the database at `path`.
  // Does not migrate: call Migrate() (start-up or `agentidp migrate`).
  static core::Result<std::unique_ptr<SqliteStore>> Open(const std::string& path,
                                                         const SqliteOptions& options = {});
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  domain::OrgStore& orgs() override;
  domain::AgentStore& agents() override;
  domain::CredentialStore& credentials() override;
  domain::AuditStore& audit() override;
  domain::KeyStore& keys() override;
  domain::RevocationStore& revocations() override;
  domain::MetaStore& meta() override;
  domain::DelegationStore& delegations() override;
  domain::AgentKeyStore& agent_keys() override;
  core::Status Ping() override;
  std::string BackendName() const override { return "sqlite"; }
  core::Result<int> Migrate() override;
  domain::FederationStore& federation() override;

  // The internal detail (SQLite's message) of the most recent store failure, for logs.
  std::string LastErrorDetail() const;
  // Runs arbitrary SQL on the writer connection. Tests only: proves that the database
  // itself refuses to rewrite the audit log.
  core::Status ExecRawForTest(const std::string& sql);

 private:
  explicit SqliteStore(std::unique_ptr<Database> database);

  std::unique_ptr<Database> database_;
  std::unique_ptr<OrgStore> orgs_;
  std::unique_ptr<AgentStore> agents_;
  std::unique_ptr<CredentialStore> credentials_;
  std::unique_ptr<AuditStore> audit_;
  std::unique_ptr<KeyStore> keys_;
  std::unique_ptr<RevocationStore> revocations_;
  std::unique_ptr<MetaStore> meta_;
  std::unique_ptr<DelegationStore> delegations_;
  std::unique_ptr<AgentKeyStore> agent_keys_;
  std::unique_ptr<FederationStore> federation_;
};

}  // namespace agentidp::store::sqlite
