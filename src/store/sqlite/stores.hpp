#pragma once

// The SQLite implementations of the domain store interfaces. Each lives in its own .cpp
// file, which holds all of that store's SQL (DESIGN §3).

#include "domain/store.hpp"
#include "store/sqlite/database.hpp"

// The tenant scope parameters are unused here: SQLite has no row-level security, and every
// query confines tenants itself (domain/store.hpp).
namespace agentidp::store::sqlite {

class OrgStore final : public domain::OrgStore {
 public:
  explicit OrgStore(Database& database) : database_(database) {}
  core::Status Create(const domain::TenantScope& scope, const domain::Organization& org) override;
  core::Result<std::optional<domain::Organization>> Get(
      const domain::TenantScope& scope, const std::string& organization_id) override;
  core::Result<std::optional<domain::Organization>> GetBySlug(const domain::TenantScope& scope,
                                                              const std::string& slug) override;
  core::Status Update(const domain::TenantScope& scope, const domain::Organization& org) override;
  core::Result<domain::PageOf<domain::Organization>> List(const domain::TenantScope& scope,
                                                          const domain::OrgFilter& filter,
                                                          const domain::Page& page) override;
  core::Result<bool> MarkDeletedIfEmpty(const domain::TenantScope& scope,
                                        const std::string& organization_id,
                                        int64_t now_ms) override;

 private:
  Database& database_;
};

class AgentStore final : public domain::AgentStore {
 public:
  explicit AgentStore(Database& database) : database_(database) {}
  core::Status Create(const domain::TenantScope& scope, const domain::Agent& agent) override;
  core::Result<std::optional<domain::Agent>> Get(const domain::TenantScope& scope,
                                                 const std::string& agent_id) override;
  // NotFound ("NOT_FOUND") when no agent has that id.
  core::Status Update(const domain::TenantScope& scope, const domain::Agent& agent) override;
  core::Result<domain::PageOf<domain::Agent>> List(const domain::TenantScope& scope,
                                                   const domain::AgentFilter& filter,
                                                   const domain::Page& page) override;
  core::Result<int64_t> CountLive(const domain::TenantScope& scope,
                                  const std::string& organization_id) override;

 private:
  Database& database_;
};

class CredentialStore final : public domain::CredentialStore {
 public:
  explicit CredentialStore(Database& database) : database_(database) {}
  core::Status Create(const domain::TenantScope& scope,
                      const domain::Credential& credential) override;
  core::Result<std::optional<domain::Credential>> Get(const domain::TenantScope& scope,
                                                      const std::string& credential_id) override;
  core::Result<std::vector<domain::Credential>> ListByAgent(const domain::TenantScope& scope,
                                                            const std::string& agent_id) override;
  core::Result<std::vector<domain::Credential>> ListActiveByAgent(const domain::TenantScope& scope,
                                                                  const std::string& agent_id,
                                                                  int64_t now_ms) override;
  // NotFound ("NOT_FOUND") when no credential has that id.
  core::Status Update(const domain::TenantScope& scope,
                      const domain::Credential& credential) override;
  core::Result<int> RevokeAllForAgent(const domain::TenantScope& scope, const std::string& agent_id,
                                      int64_t now_ms) override;

 private:
  Database& database_;
};

class AuditStore final : public domain::AuditStore {
 public:
  explicit AuditStore(Database& database) : database_(database) {}
  core::Status AppendBatch(std::vector<domain::AuditEvent>& events, const Hasher& hasher) override;
  core::Result<std::optional<domain::AuditEvent>> Get(const domain::TenantScope& scope,
                                                      const std::string& event_id) override;
  core::Result<domain::PageOf<domain::AuditEvent>> List(const domain::TenantScope& scope,
                                                        const domain::AuditFilter& filter,
                                                        const domain::Page& page) override;
  core::Status Scan(std::optional<int64_t> from_ms, std::optional<int64_t> to_ms,
                    const std::function<bool(const domain::AuditEvent&)>& visit) override;
  core::Result<std::string> ChainAnchor() override;
  core::Result<int64_t> PurgeBefore(int64_t before_ms) override;

 private:
  Database& database_;
};

class KeyStore final : public domain::KeyStore {
 public:
  explicit KeyStore(Database& database) : database_(database) {}
  core::Status Insert(const domain::SigningKey& key) override;
  // NotFound ("NOT_FOUND") when no key has that kid.
  core::Status Update(const domain::SigningKey& key) override;
  core::Result<std::vector<domain::SigningKey>> List() override;

 private:
  Database& database_;
};

class RevocationStore final : public domain::RevocationStore {
 public:
  explicit RevocationStore(Database& database) : database_(database) {}
  core::Status Revoke(const domain::RevokedToken& token) override;
  core::Result<bool> IsRevoked(const std::string& jti) override;
  core::Result<std::vector<domain::RevokedToken>> ListUnexpired(int64_t now_ms) override;
  core::Result<int64_t> PurgeExpired(int64_t now_ms) override;

 private:
  Database& database_;
};

class DelegationStore final : public domain::DelegationStore {
 public:
  explicit DelegationStore(Database& database) : database_(database) {}
  core::Status Create(const domain::TenantScope& scope,
                      const domain::Delegation& delegation) override;
  core::Result<std::optional<domain::Delegation>> Get(const domain::TenantScope& scope,
                                                      const std::string& chain_id) override;
  core::Result<bool> MarkRevoked(const domain::TenantScope& scope, const std::string& chain_id,
                                 int64_t now_ms) override;

 private:
  Database& database_;
};

class MetaStore final : public domain::MetaStore {
 public:
  explicit MetaStore(Database& database) : database_(database) {}
  core::Result<std::optional<std::string>> Get(const std::string& key) override;
  core::Status Put(const std::string& key, const std::string& value) override;
  core::Result<bool> PutIfAbsent(const std::string& key, const std::string& value) override;

 private:
  Database& database_;
};

class AgentKeyStore final : public domain::AgentKeyStore {
 public:
  explicit AgentKeyStore(Database& database) : database_(database) {}
  core::Status Insert(const domain::TenantScope& scope, const domain::AgentKey& key) override;
  core::Result<std::optional<domain::AgentKey>> GetActive(const domain::TenantScope& scope,
                                                          const std::string& agent_id) override;
  core::Result<std::vector<domain::AgentKey>> ListByAgent(const domain::TenantScope& scope,
                                                          const std::string& agent_id) override;
  core::Status Rotate(const domain::TenantScope& scope,
                      const domain::AgentKey& replacement) override;

 private:
  Database& database_;
};

class FederationStore final : public domain::FederationStore {
 public:
  explicit FederationStore(Database& database) : database_(database) {}
  core::Status CreateTrustPolicy(const domain::TenantScope& scope,
                                 const domain::TrustPolicy& policy) override;
  core::Result<std::optional<domain::TrustPolicy>> GetTrustPolicy(
      const domain::TenantScope& scope, const std::string& policy_id) override;
  core::Result<std::vector<domain::TrustPolicy>> ListTrustPolicies(
      const domain::TenantScope& scope, const std::string& organization_id) override;
  core::Result<std::vector<domain::TrustPolicy>> ListTrustPoliciesByIssuer(
      const domain::TenantScope& scope, const std::string& provider,
      const std::string& issuer) override;
  core::Result<bool> DeleteTrustPolicy(const domain::TenantScope& scope,
                                       const std::string& policy_id) override;
  core::Status CreatePartner(const domain::FederationPartner& partner) override;
  core::Result<std::optional<domain::FederationPartner>> GetPartner(
      const std::string& partner_id) override;
  core::Result<std::optional<domain::FederationPartner>> GetPartnerByIssuer(
      const std::string& issuer) override;
  core::Result<std::vector<domain::FederationPartner>> ListPartners() override;
  core::Status UpdatePartner(const domain::FederationPartner& partner) override;
  core::Result<bool> DeletePartner(const std::string& partner_id) override;

 private:
  Database& database_;
};

}  // namespace agentidp::store::sqlite
