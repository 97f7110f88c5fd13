#pragma once

// Store interfaces. Every backend (store/sqlite now, store/postgres next) implements these
// and passes the same contract tests (tests/contract/). All methods are blocking and
// thread-safe; callers on I/O threads must not call them (DESIGN §4).
//
// Tenant data (organizations, agents, credentials, audit events, delegations, agent keys,
// trust policies) is reached only with an explicit TenantScope (domain/tenant_scope.hpp):
// PostgreSQL enforces it with row-level security, so a call made with the wrong scope finds
// nothing (reads, updates: NotFound) or is refused (inserts: Errc::kForbidden, reason
// "cross_tenant") even if its query forgot the organization filter. Instance-wide data (signing
// keys, revocations, meta, federation partners) takes none.
//
// Error conventions (core::Error kinds):
//   - a row that does not exist            -> Result holds std::nullopt (Get*), not an error
//   - a uniqueness violation               -> Errc::kConflict, code "CONFLICT"
//   - the backend is unreachable / busy    -> Errc::kUnavailable
//   - anything else                        -> Errc::kInternal (message never leaks SQL)

#include "core/result.hpp"
#include "domain/model.hpp"
#include "domain/tenant_scope.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace agentidp::domain {

using core::Result;
using core::Status;

class OrgStore {
 public:
  virtual ~OrgStore() = default;
  virtual Status Create(const TenantScope& scope, const Organization& org) = 0;
  virtual Result<std::optional<Organization>> Get(const TenantScope& scope,
                                                  const std::string& organization_id) = 0;
  virtual Result<std::optional<Organization>> GetBySlug(const TenantScope& scope,
                                                        const std::string& slug) = 0;
  // Replaces name, slug, plan_tier, max_agents, status, updated_at. NotFound ("NOT_FOUND")
  // when no organization has that id; Conflict when the slug is taken.
  virtual Status Update(const TenantScope& scope, const Organization& org) = 0;
  // Newest first (created_at DESC, organization_id DESC).
  virtual Result<PageOf<Organization>> List(const TenantScope& scope, const OrgFilter& filter,
                                            const Page& page) = 0;
  // Soft delete in one statement: status becomes "deleted" only while the organization has no
  // agent that is not decommissioned. Returns false (nothing changed) when it has one;
  // NotFound ("NOT_FOUND") when no organization has that id.
  virtual Result<bool> MarkDeletedIfEmpty(const TenantScope& scope,
                                          const std::string& organization_id, int64_t now_ms) = 0;
};

class AgentStore {
 public:
  virtual ~AgentStore() = default;
  // Conflict if the email (case-insensitive) or agent_id is taken.
  virtual Status Create(const TenantScope& scope, const Agent& agent) = 0;
  virtual Result<std::optional<Agent>> Get(const TenantScope& scope,
                                           const std::string& agent_id) = 0;
  // Replaces every mutable field; Conflict on email clash.
  virtual Status Update(const TenantScope& scope, const Agent& agent) = 0;
  // Newest first (created_at DESC, agent_id DESC).
  virtual Result<PageOf<Agent>> List(const TenantScope& scope, const AgentFilter& filter,
                                     const Page& page) = 0;
  // Agents of the organization that are not decommissioned.
  virtual Result<int64_t> CountLive(const TenantScope& scope,
                                    const std::string& organization_id) = 0;
};

class CredentialStore {
 public:
  virtual ~CredentialStore() = default;
  virtual Status Create(const TenantScope& scope, const Credential& credential) = 0;
  virtual Result<std::optional<Credential>> Get(const TenantScope& scope,
                                                const std::string& credential_id) = 0;
  // Newest first.
  virtual Result<std::vector<Credential>> ListByAgent(const TenantScope& scope,
                                                      const std::string& agent_id) = 0;
  // Active and not expired at `now_ms`, any order.
  virtual Result<std::vector<Credential>> ListActiveByAgent(const TenantScope& scope,
                                                            const std::string& agent_id,
                                                            int64_t now_ms) = 0;
  // Replaces status, secret_hash, expires_at, revoked_at.
  virtual Status Update(const TenantScope& scope, const Credential& credential) = 0;
  // Revokes every active credential of the agent; returns how many were revoked.
  virtual Result<int> RevokeAllForAgent(const TenantScope& scope, const std::string& agent_id,
                                        int64_t now_ms) = 0;
};

// Append-only, hash-chained audit log. The backend must refuse UPDATE and DELETE of events
// (e.g. triggers), except through PurgeBefore, the retention path.
class AuditStore {
 public:
  virtual ~AuditStore() = default;
  // Appends the events as one transaction, chaining each to the previous one.
  // The store assigns seq, previous_hash and hash (using `hasher`) inside the transaction,
  // after reading the current chain head, so that concurrent writers (other processes,
  // other nodes) serialize on the chain instead of forking it. On success `events` hold
  // their final seq/hash/previous_hash.
  // Runs in the system scope: one batch holds events of many organizations.
  using Hasher = std::function<std::string(const AuditEvent& ev)>;  // uses ev.previous_hash
  virtual Status AppendBatch(std::vector<AuditEvent>& events, const Hasher& hasher) = 0;
  virtual Result<std::optional<AuditEvent>> Get(const TenantScope& scope,
                                                const std::string& event_id) = 0;
  // Newest first.
  virtual Result<PageOf<AuditEvent>> List(const TenantScope& scope, const AuditFilter& filter,
                                          const Page& page) = 0;
  // Visits events in chain order (seq ascending) with timestamp in [from_ms, to_ms]. The
  // chain spans every organization: runs in the system scope.
  // Stops early when the visitor returns false.
  virtual Status Scan(std::optional<int64_t> from_ms, std::optional<int64_t> to_ms,
                      const std::function<bool(const AuditEvent&)>& visit) = 0;
  // The hash the first surviving event chains to: "" for a chain never purged, else the
  // hash of the last purged event (the retention anchor).
  virtual Result<std::string> ChainAnchor() = 0;
  // Retention: deletes events older than `before_ms` and records the anchor. Returns count.
  // Runs in the system scope.
  virtual Result<int64_t> PurgeBefore(int64_t before_ms) = 0;
};

class KeyStore {
 public:
  virtual ~KeyStore() = default;
  virtual Status Insert(const SigningKey& key) = 0;
  virtual Status Update(
      const SigningKey& key) = 0;  // status, activates_at, retired_at, publish_until
  virtual Result<std::vector<SigningKey>> List() = 0;  // created_at ascending
};

class RevocationStore {
 public:
  virtual ~RevocationStore() = default;
  // Idempotent: revoking a revoked jti succeeds.
  virtual Status Revoke(const RevokedToken& token) = 0;
  virtual Result<bool> IsRevoked(const std::string& jti) = 0;
  // Every revocation whose token has not expired at now_ms (to warm caches at start-up).
  virtual Result<std::vector<RevokedToken>> ListUnexpired(int64_t now_ms) = 0;
  virtual Result<int64_t> PurgeExpired(int64_t now_ms) = 0;
};

class DelegationStore {
 public:
  virtual ~DelegationStore() = default;
  // Conflict if the chain id is taken.
  virtual Status Create(const TenantScope& scope, const Delegation& delegation) = 0;
  virtual Result<std::optional<Delegation>> Get(const TenantScope& scope,
                                                const std::string& chain_id) = 0;
  // Sets revoked_at once; false when it was already revoked (or does not exist).
  virtual Result<bool> MarkRevoked(const TenantScope& scope, const std::string& chain_id,
                                   int64_t now_ms) = 0;
};

// Per-agent signing keys (DID verification methods). At most one active key per agent.
class AgentKeyStore {
 public:
  virtual ~AgentKeyStore() = default;
  // Conflict when the kid is taken or the agent already has an active key (two nodes creating
  // an agent's first key at once: the loser re-reads the winner's).
  virtual Status Insert(const TenantScope& scope, const AgentKey& key) = 0;
  virtual Result<std::optional<AgentKey>> GetActive(const TenantScope& scope,
                                                    const std::string& agent_id) = 0;
  // Oldest first.
  virtual Result<std::vector<AgentKey>> ListByAgent(const TenantScope& scope,
                                                    const std::string& agent_id) = 0;
  // Key rotation, in one transaction: the agent's active key (if any) becomes "retired" and
  // `replacement` (status "active") is inserted. Conflict when a concurrent rotation or
  // first-key creation won.
  virtual Status Rotate(const TenantScope& scope, const AgentKey& replacement) = 0;
};

// Small key/value table for instance metadata (bootstrap done, instance id, ...).
class MetaStore {
 public:
  virtual ~MetaStore() = default;
  virtual Result<std::optional<std::string>> Get(const std::string& key) = 0;
  virtual Status Put(const std::string& key, const std::string& value) = 0;
  // Sets only if absent; returns true if this call set it.
  virtual Result<bool> PutIfAbsent(const std::string& key, const std::string& value) = 0;
};

// Trust policies (workload identity federation) and federation partners.
class FederationStore {
 public:
  virtual ~FederationStore() = default;
  // Conflict if policy_id is taken.
  virtual Status CreateTrustPolicy(const TenantScope& scope, const TrustPolicy& policy) = 0;
  virtual Result<std::optional<TrustPolicy>> GetTrustPolicy(const TenantScope& scope,
                                                            const std::string& policy_id) = 0;
  // Oldest first.
  virtual Result<std::vector<TrustPolicy>> ListTrustPolicies(
      const TenantScope& scope, const std::string& organization_id) = 0;
  // Every policy (all organizations) for one provider and issuer, oldest first.
  virtual Result<std::vector<TrustPolicy>> ListTrustPoliciesByIssuer(const TenantScope& scope,
                                                                     const std::string& provider,
                                                                     const std::string& issuer) = 0;
  // false when there was no such policy.
  virtual Result<bool> DeleteTrustPolicy(const TenantScope& scope,
                                         const std::string& policy_id) = 0;

  // Conflict if partner_id or issuer is taken.
  virtual Status CreatePartner(const FederationPartner& partner) = 0;
  virtual Result<std::optional<FederationPartner>> GetPartner(const std::string& partner_id) = 0;
  virtual Result<std::optional<FederationPartner>> GetPartnerByIssuer(
      const std::string& issuer) = 0;
  // Oldest first.
  virtual Result<std::vector<FederationPartner>> ListPartners() = 0;
  // Replaces every mutable field; NotFound when absent, Conflict on an issuer clash.
  virtual Status UpdatePartner(const FederationPartner& partner) = 0;
  virtual Result<bool> DeletePartner(const std::string& partner_id) = 0;
};

// A backend bundles every store plus its health probe.
class Store {
 public:
  virtual ~Store() = default;
  virtual OrgStore& orgs() = 0;
  virtual AgentStore& agents() = 0;
  virtual CredentialStore& credentials() = 0;
  virtual AuditStore& audit() = 0;
  virtual KeyStore& keys() = 0;
  virtual RevocationStore& revocations() = 0;
  virtual MetaStore& meta() = 0;
  virtual DelegationStore& delegations() = 0;
  virtual AgentKeyStore& agent_keys() = 0;
  // Cheap round trip for /health/detailed.
  virtual Status Ping() = 0;
  virtual std::string BackendName() const = 0;
  // Applies pending versioned migrations; returns the schema version reached.
  virtual Result<int> Migrate() = 0;

  virtual FederationStore& federation() = 0;
};

}  // namespace agentidp::domain
