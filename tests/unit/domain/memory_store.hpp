#pragma once

// An in-memory Store for domain unit tests: the services' rules are tested here, the real
// backends pass the contract tests (tests/contract/). Uniqueness rules that the services rely
// on (organization slug, one active key per agent) are kept, so refusals can be provoked.
// Organizations and agents also obey the tenant scope as PostgreSQL's row-level security does
// (migration 6): a service that passes the wrong scope fails its unit tests here, not only on
// PostgreSQL.

#include "domain/store.hpp"

#include <algorithm>
#include <map>
#include <mutex>

namespace agentidp::domain::testing {

// The row-level security rules: a scope writes the rows of its organizations; it reads them,
// or every row in the system scope.
inline bool Writes(const TenantScope& scope, const std::string& organization_id) {
  const auto& ids = scope.organizations();
  return std::find(ids.begin(), ids.end(), organization_id) != ids.end();
}
inline bool Reads(const TenantScope& scope, const std::string& organization_id) {
  return scope.system() || Writes(scope, organization_id);
}
inline core::Error RefusedByPolicy() {
  return core::Error::Forbidden("cross_tenant", "Not permitted for this organization");
}

template <typename T>
PageOf<T> PageFrom(std::vector<T> all, const Page& page) {
  PageOf<T> out;
  out.total = static_cast<int64_t>(all.size());
  size_t first = static_cast<size_t>(page.page - 1) * static_cast<size_t>(page.limit);
  for (size_t i = first; i < all.size() && i < first + static_cast<size_t>(page.limit); ++i)
    out.data.push_back(all[i]);
  return out;
}

class MemoryOrgStore final : public OrgStore {
 public:
  explicit MemoryOrgStore(std::map<std::string, Agent>& agents) : agents_(agents) {}
  Status Create(const TenantScope& scope, const Organization& org) override {
    if (!Writes(scope, org.organization_id)) return RefusedByPolicy();
    for (const auto& [id, o] : orgs)
      if (id == org.organization_id || o.slug == org.slug)
        return core::Error::Conflict("CONFLICT", "taken");
    orgs[org.organization_id] = org;
    return core::Ok();
  }
  Result<std::optional<Organization>> Get(const TenantScope& scope,
                                          const std::string& id) override {
    auto it = orgs.find(id);
    if (it == orgs.end() || !Reads(scope, id)) return std::optional<Organization>();
    return std::optional<Organization>(it->second);
  }
  Result<std::optional<Organization>> GetBySlug(const TenantScope& scope,
                                                const std::string& slug) override {
    for (const auto& [id, o] : orgs)
      if (o.slug == slug && Reads(scope, id)) return std::optional<Organization>(o);
    return std::optional<Organization>();
  }
  Status Update(const TenantScope& scope, const Organization& org) override {
    auto it = orgs.find(org.organization_id);
    if (it == orgs.end() || !Writes(scope, org.organization_id))
      return core::Error::NotFound("NOT_FOUND", "none");
    for (const auto& [id, o] : orgs)
      if (id != org.organization_id && o.slug == org.slug)
        return core::Error::Conflict("CONFLICT", "taken");
    it->second = org;
    return core::Ok();
  }
  Result<PageOf<Organization>> List(const TenantScope& scope, const OrgFilter& f,
                                    const Page& page) override {
    std::vector<Organization> all;
    for (const auto& [id, o] : orgs) {
      if (!Reads(scope, id)) continue;
      if (f.organization_id && id != *f.organization_id) continue;
      if (f.status ? o.status != *f.status : o.status == "deleted") continue;
      all.push_back(o);
    }
    std::sort(all.begin(), all.end(),
              [](const auto& a, const auto& b) { return a.created_at > b.created_at; });
    return PageFrom(std::move(all), page);
  }
  Result<bool> MarkDeletedIfEmpty(const TenantScope& scope, const std::string& id,
                                  int64_t now_ms) override {
    auto it = orgs.find(id);
    if (it == orgs.end() || !Writes(scope, id)) return core::Error::NotFound("NOT_FOUND", "none");
    for (const auto& [aid, a] : agents_)
      if (a.organization_id == id && a.status != "decommissioned") return false;
    it->second.status = "deleted";
    it->second.updated_at = now_ms;
    return true;
  }
  std::map<std::string, Organization> orgs;

 private:
  std::map<std::string, Agent>& agents_;
};

class MemoryAgentStore final : public AgentStore {
 public:
  explicit MemoryAgentStore(std::map<std::string, Agent>& agents) : agents(agents) {}
  Status Create(const TenantScope& scope, const Agent& a) override {
    if (!Writes(scope, a.organization_id)) return RefusedByPolicy();
    for (const auto& [id, x] : agents)
      if (id == a.agent_id || x.email == a.email) return core::Error::Conflict("CONFLICT", "taken");
    agents[a.agent_id] = a;
    return core::Ok();
  }
  Result<std::optional<Agent>> Get(const TenantScope& scope, const std::string& id) override {
    auto it = agents.find(id);
    if (it == agents.end() || !Reads(scope, it->second.organization_id))
      return std::optional<Agent>();
    return std::optional<Agent>(it->second);
  }
  Status Update(const TenantScope& scope, const Agent& a) override {
    // USING (the row as it is) and WITH CHECK (the row as it will be).
    auto it = agents.find(a.agent_id);
    if (it != agents.end() && !Writes(scope, it->second.organization_id))
      return core::Error::NotFound("NOT_FOUND", "none");
    if (!Writes(scope, a.organization_id)) return RefusedByPolicy();
    agents[a.agent_id] = a;
    return core::Ok();
  }
  Result<PageOf<Agent>> List(const TenantScope& scope, const AgentFilter& f,
                             const Page& page) override {
    std::vector<Agent> all;
    for (const auto& [id, a] : agents) {
      if (!Reads(scope, a.organization_id)) continue;
      if (f.organization_id && a.organization_id != *f.organization_id) continue;
      if (f.status && a.status != *f.status) continue;
      all.push_back(a);
    }
    return PageFrom(std::move(all), page);
  }
  Result<int64_t> CountLive(const TenantScope& scope, const std::string& org) override {
    int64_t n = 0;
    for (const auto& [id, a] : agents)
      n += a.organization_id == org && a.status != "decommissioned" &&
           Reads(scope, a.organization_id);
    return n;
  }
  std::map<std::string, Agent>& agents;
};

class MemoryCredentialStore final : public CredentialStore {
 public:
  Status Create(const TenantScope&, const Credential&) override { return core::Ok(); }
  Result<std::optional<Credential>> Get(const TenantScope&, const std::string&) override {
    return std::optional<Credential>();
  }
  Result<std::vector<Credential>> ListByAgent(const TenantScope&, const std::string&) override {
    return std::vector<Credential>{};
  }
  Result<std::vector<Credential>> ListActiveByAgent(const TenantScope&, const std::string&,
                                                    int64_t) override {
    return std::vector<Credential>{};
  }
  Status Update(const TenantScope&, const Credential&) override { return core::Ok(); }
  Result<int> RevokeAllForAgent(const TenantScope&, const std::string&, int64_t) override {
    return 0;
  }
};

class MemoryAuditStore final : public AuditStore {
 public:
  Status AppendBatch(std::vector<AuditEvent>& events, const Hasher& hasher) override {
    std::lock_guard lock(mu);
    for (auto& e : events) {
      e.seq = static_cast<int64_t>(log.size()) + 1;
      e.previous_hash = log.empty() ? "" : log.back().hash;
      e.hash = hasher(e);
      log.push_back(e);
    }
    return core::Ok();
  }
  Result<std::optional<AuditEvent>> Get(const TenantScope&, const std::string&) override {
    return std::optional<AuditEvent>();
  }
  Result<PageOf<AuditEvent>> List(const TenantScope&, const AuditFilter&, const Page&) override {
    return PageOf<AuditEvent>{};
  }
  Status Scan(std::optional<int64_t>, std::optional<int64_t>,
              const std::function<bool(const AuditEvent&)>&) override {
    return core::Ok();
  }
  Result<std::string> ChainAnchor() override { return std::string(); }
  Result<int64_t> PurgeBefore(int64_t) override { return int64_t{0}; }
  std::vector<AuditEvent> Events() {
    std::lock_guard lock(mu);
    return log;
  }
  std::mutex mu;
  std::vector<AuditEvent> log;
};

class MemoryKeyStore final : public KeyStore {
 public:
  Status Insert(const SigningKey& key) override {
    keys.push_back(key);
    return core::Ok();
  }
  Status Update(const SigningKey& key) override {
    for (auto& k : keys)
      if (k.kid == key.kid) k = key;
    return core::Ok();
  }
  Result<std::vector<SigningKey>> List() override { return keys; }
  std::vector<SigningKey> keys;
};

class MemoryRevocationStore final : public RevocationStore {
 public:
  Status Revoke(const RevokedToken&) override { return core::Ok(); }
  Result<bool> IsRevoked(const std::string&) override { return false; }
  Result<std::vector<RevokedToken>> ListUnexpired(int64_t) override {
    return std::vector<RevokedToken>{};
  }
  Result<int64_t> PurgeExpired(int64_t) override { return int64_t{0}; }
};

class MemoryMetaStore final : public MetaStore {
 public:
  Result<std::optional<std::string>> Get(const std::string& key) override {
    auto it = values.find(key);
    if (it == values.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  Status Put(const std::string& key, const std::string& value) override {
    values[key] = value;
    return core::Ok();
  }
  Result<bool> PutIfAbsent(const std::string& key, const std::string& value) override {
    return values.emplace(key, value).second;
  }
  std::map<std::string, std::string> values;
};

class MemoryAgentKeyStore final : public AgentKeyStore {
 public:
  Status Insert(const TenantScope&, const AgentKey& key) override {
    for (const auto& k : keys)
      if (k.kid == key.kid ||
          (k.agent_id == key.agent_id && k.status == "active" && key.status == "active"))
        return core::Error::Conflict("CONFLICT", "taken");
    keys.push_back(key);
    return core::Ok();
  }
  Result<std::optional<AgentKey>> GetActive(const TenantScope&,
                                            const std::string& agent_id) override {
    for (const auto& k : keys)
      if (k.agent_id == agent_id && k.status == "active") return std::optional<AgentKey>(k);
    return std::optional<AgentKey>();
  }
  Result<std::vector<AgentKey>> ListByAgent(const TenantScope&,
                                            const std::string& agent_id) override {
    std::vector<AgentKey> out;
    for (const auto& k : keys)
      if (k.agent_id == agent_id) out.push_back(k);
    return out;
  }
  Status Rotate(const TenantScope&, const AgentKey& key) override {
    for (const auto& k : keys)
      if (k.kid == key.kid) return core::Error::Conflict("CONFLICT", "taken");
    for (auto& k : keys)
      if (k.agent_id == key.agent_id && k.status == "active") k.status = "retired";
    keys.push_back(key);
    return core::Ok();
  }
  std::vector<AgentKey> keys;
};

class MemoryDelegationStore final : public DelegationStore {
 public:
  Status Create(const TenantScope&, const Delegation& d) override {
    if (!rows.emplace(d.chain_id, d).second) return core::Error::Conflict("CONFLICT", "taken");
    return core::Ok();
  }
  Result<std::optional<Delegation>> Get(const TenantScope&, const std::string& chain_id) override {
    auto it = rows.find(chain_id);
    if (it == rows.end()) return std::optional<Delegation>();
    return std::optional<Delegation>(it->second);
  }
  Result<bool> MarkRevoked(const TenantScope&, const std::string& chain_id,
                           int64_t now_ms) override {
    auto it = rows.find(chain_id);
    if (it == rows.end() || it->second.revoked_at) return false;
    it->second.revoked_at = now_ms;
    return true;
  }
  std::map<std::string, Delegation> rows;
};

// Trust policies are not exercised by these tests (no rows; writes refused); federation
// partners are kept in memory.
class NoFederationStore final : public FederationStore {
 public:
  Status CreateTrustPolicy(const TenantScope&, const TrustPolicy&) override {
    return Unsupported();
  }
  Result<std::optional<TrustPolicy>> GetTrustPolicy(const TenantScope&,
                                                    const std::string&) override {
    return std::optional<TrustPolicy>();
  }
  Result<std::vector<TrustPolicy>> ListTrustPolicies(const TenantScope&,
                                                     const std::string&) override {
    return std::vector<TrustPolicy>{};
  }
  Result<std::vector<TrustPolicy>> ListTrustPoliciesByIssuer(const TenantScope&, const std::string&,
                                                             const std::string&) override {
    return std::vector<TrustPolicy>{};
  }
  Result<bool> DeleteTrustPolicy(const TenantScope&, const std::string&) override { return false; }
  Status CreatePartner(const FederationPartner& p) override {
    std::lock_guard lock(mu_);
    for (const auto& [id, q] : partners)
      if (q.issuer == p.issuer) return core::Error::Conflict("PARTNER_EXISTS", "issuer");
    partners[p.partner_id] = p;
    return core::Ok();
  }
  Result<std::optional<FederationPartner>> GetPartner(const std::string& id) override {
    std::lock_guard lock(mu_);
    auto it = partners.find(id);
    if (it == partners.end()) return std::optional<FederationPartner>();
    return std::optional<FederationPartner>(it->second);
  }
  Result<std::optional<FederationPartner>> GetPartnerByIssuer(const std::string& issuer) override {
    std::lock_guard lock(mu_);
    for (const auto& [id, p] : partners)
      if (p.issuer == issuer) return std::optional<FederationPartner>(p);
    return std::optional<FederationPartner>();
  }
  Result<std::vector<FederationPartner>> ListPartners() override {
    std::lock_guard lock(mu_);
    std::vector<FederationPartner> out;
    for (const auto& [id, p] : partners) out.push_back(p);
    return out;
  }
  Status UpdatePartner(const FederationPartner& p) override {
    std::lock_guard lock(mu_);
    auto it = partners.find(p.partner_id);
    if (it == partners.end()) return core::Error::NotFound("PARTNER_NOT_FOUND", "partner");
    it->second = p;
    return core::Ok();
  }
  Result<bool> DeletePartner(const std::string& id) override {
    std::lock_guard lock(mu_);
    return partners.erase(id) > 0;
  }

  std::map<std::string, FederationPartner> partners;

 private:
  static core::Error Unsupported() { return core::Error::Internal("not in this test store"); }
  std::mutex mu_;
};

class MemoryStore final : public Store {
 public:
  OrgStore& orgs() override { return orgs_; }
  AgentStore& agents() override { return agents_; }
  CredentialStore& credentials() override { return credentials_; }
  AuditStore& audit() override { return audit_; }
  KeyStore& keys() override { return keys_; }
  RevocationStore& revocations() override { return revocations_; }
  MetaStore& meta() override { return meta_; }
  AgentKeyStore& agent_keys() override { return agent_keys_; }
  DelegationStore& delegations() override { return delegations_; }
  FederationStore& federation() override { return federation_; }
  Status Ping() override { return core::Ok(); }
  std::string BackendName() const override { return "memory"; }
  Result<int> Migrate() override { return 0; }

  std::map<std::string, Agent> agent_rows;
  MemoryOrgStore orgs_{agent_rows};
  MemoryAgentStore agents_{agent_rows};
  MemoryCredentialStore credentials_;
  MemoryAuditStore audit_;
  MemoryKeyStore keys_;
  MemoryRevocationStore revocations_;
  MemoryMetaStore meta_;
  MemoryAgentKeyStore agent_keys_;
  MemoryDelegationStore delegations_;
  NoFederationStore federation_;
};

}  // namespace agentidp::domain::testing
