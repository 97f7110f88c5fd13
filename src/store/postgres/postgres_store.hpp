#pragma once

// The scale-out backend: every domain store on one PostgreSQL database, shared by any number
// of agentidp nodes. Concurrency model: see database.hpp (a bounded, self-healing pool) and
// audit_store.cpp (the audit chain's row lock).

#include "core/result.hpp"
#include "domain/store.hpp"
#include "store/postgres/postgres_options.hpp"

#include <memory>
#include <string>

namespace agentidp::store::postgres {

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

class PostgresStore final : public domain::Store {
 public:
  // `url`: postgres://user[:password]@host[:port]/dbname[?param=value...] (or any libpq
  // connection string). Opens one connection at once, so a wrong URL (Validation), or an
  // unreachable server or refused login (Unavailable), is reported at start-up; the others
  // open on demand. Does not migrate: call Migrate() (start-up or `agentidp migrate`).
  static core::Result<std::unique_ptr<PostgresStore>> Open(const std::string& url,
                                                           const PostgresOptions& options = {});
  ~PostgresStore() override;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

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
  std::string BackendName() const override { return "postgres"; }
  core::Result<int> Migrate() override;
  domain::FederationStore& federation() override;

  // The internal detail of the most recent store failure, for logs.
  std::string LastErrorDetail() const;
  // Runs arbitrary SQL (simple protocol) on a pooled connection. Tests only: proves that the
  // database itself refuses to rewrite the audit log.
  core::Status ExecRawForTest(const std::string& sql);

 private:
  explicit PostgresStore(std::unique_ptr<Database> database);

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

}  // namespace agentidp::store::postgres
