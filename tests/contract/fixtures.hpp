#pragma once

// Records and helpers shared by the contract suites.

#include "domain/model.hpp"
#include "domain/store.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

namespace agentidp::contract {

inline constexpr int64_t kT0 = 1'774'688'400'000;  // 2026-03-28T09:00:00.000Z

// The tenant scope of the contract tests' calls: every organization id they use ("org-0" ..
// "org-99"), so that on PostgreSQL the row-level security policies admit what the tests
// write and read (rls_pgtest.cpp tests the policies themselves).
inline const domain::TenantScope& TestScope() {
  static const domain::TenantScope scope = [] {
    std::vector<std::string> ids;
    for (int i = 0; i < 100; ++i) ids.push_back("org-" + std::to_string(i));
    return domain::TenantScope::Orgs(std::move(ids));
  }();
  return scope;
}

inline domain::Organization MakeOrg(const std::string& id, const std::string& slug) {
  domain::Organization org;
  org.organization_id = id;
  org.name = "Org " + slug;
  org.slug = slug;
  org.plan_tier = "pro";
  org.max_agents = 100;
  org.status = "active";
  org.created_at = kT0;
  org.updated_at = kT0 + 1;
  return org;
}

inline domain::Agent MakeAgent(const std::string& id, const std::string& organization_id,
                               int64_t created_at) {
  domain::Agent agent;
  agent.agent_id = id;
  agent.organization_id = organization_id;
  agent.email = id + "@agents.example.com";
  agent.agent_type = "screener";
  agent.version = "1.0.0";
  agent.capabilities = {"resumes:read", "candidates:score"};
  agent.owner = "team-a";
  agent.deployment_env = "production";
  agent.status = "active";
  agent.role = "member";
  agent.is_public = false;
  agent.created_at = created_at;
  agent.updated_at = created_at;
  return agent;
}

inline domain::FederationPartner MakePartner(const std::string& id, const std::string& issuer,
                                             int64_t created_at) {
  domain::FederationPartner p;
  p.partner_id = id;
  p.name = "Partner " + id;
  p.issuer = issuer;
  p.jwks_uri = issuer + "/jwks";
  p.allowed_organizations = {"org-1", "org-2"};
  p.status = "active";
  p.created_at = created_at;
  p.updated_at = created_at;
  return p;
}

inline domain::Credential MakeCredential(const std::string& id, const std::string& agent_id,
                                         int64_t created_at) {
  domain::Credential credential;
  credential.credential_id = id;
  credential.agent_id = agent_id;
  credential.secret_hash = "hash-of-" + id;
  credential.created_at = created_at;
  return credential;
}

inline domain::AuditEvent MakeEvent(const std::string& id, int64_t timestamp,
                                    const std::string& action = "token.issued",
                                    const std::string& agent_id = "agent-1",
                                    const std::string& organization_id = "org-1",
                                    const std::string& outcome = "success") {
  domain::AuditEvent event;
  event.event_id = id;
  event.agent_id = agent_id;
  event.organization_id = organization_id;
  event.action = action;
  event.outcome = outcome;
  event.timestamp = timestamp;
  event.ip_address = "127.0.0.1";
  event.user_agent = "contract-test";
  event.metadata_json = R"({"scope":"agents:read"})";
  return event;
}

// A stand-in for the real SHA-256 chain hash: deterministic, covers previous_hash.
inline std::string TestHash(const domain::AuditEvent& ev) {
  std::string input = ev.event_id + "|" + std::to_string(ev.timestamp) + "|" + ev.action + "|" +
                      ev.outcome + "|" + ev.agent_id + "|" + ev.organization_id + "|" +
                      ev.previous_hash;
  uint64_t h = 1469598103934665603ULL;  // FNV-1a 64
  for (unsigned char c : input) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

inline const domain::AuditStore::Hasher kTestHasher = TestHash;

// Every event chains to the one before it (the first to `anchor`), seq strictly increases,
// and every hash is what the hasher computes.
inline void ExpectUnbrokenChain(const std::vector<domain::AuditEvent>& chain,
                                const std::string& anchor) {
  std::string head = anchor;
  int64_t last_seq = 0;
  for (size_t i = 0; i < chain.size(); ++i) {
    const auto& ev = chain[i];
    ASSERT_EQ(ev.previous_hash, head)
        << "chain broken at index " << i << " (" << ev.event_id << ")";
    ASSERT_EQ(ev.hash, TestHash(ev)) << "hash mismatch at index " << i;
    ASSERT_GT(ev.seq, last_seq) << "seq not increasing at index " << i;
    head = ev.hash;
    last_seq = ev.seq;
  }
}

inline std::vector<domain::AuditEvent> ScanAll(domain::AuditStore& audit) {
  std::vector<domain::AuditEvent> events;
  auto status = audit.Scan(std::nullopt, std::nullopt, [&](const domain::AuditEvent& ev) {
    events.push_back(ev);
    return true;
  });
  EXPECT_TRUE(status.ok()) << status.error().message;
  return events;
}

inline auto Tie(const domain::Organization& o) {
  return std::tie(o.organization_id, o.name, o.slug, o.plan_tier, o.max_agents, o.status,
                  o.created_at, o.updated_at);
}
inline auto Tie(const domain::Agent& a) {
  return std::tie(a.agent_id, a.organization_id, a.email, a.agent_type, a.version, a.capabilities,
                  a.owner, a.deployment_env, a.status, a.role, a.is_public, a.created_at,
                  a.updated_at);
}
inline auto Tie(const domain::Credential& c) {
  return std::tie(c.credential_id, c.agent_id, c.type, c.status, c.secret_hash, c.created_at,
                  c.expires_at, c.revoked_at, c.jwks_json, c.jwks_uri);
}
inline auto Tie(const domain::AuditEvent& e) {
  return std::tie(e.seq, e.event_id, e.agent_id, e.organization_id, e.action, e.outcome,
                  e.timestamp, e.ip_address, e.user_agent, e.metadata_json, e.hash,
                  e.previous_hash);
}
inline auto Tie(const domain::SigningKey& k) {
  return std::tie(k.kid, k.alg, k.public_jwk_json, k.sealed_private_key, k.status, k.created_at,
                  k.activates_at, k.retired_at, k.publish_until);
}

// ASSERT-style unwrap for Result<T> in tests.
#define ASSERT_OK(expr)                                                       \
  do {                                                                        \
    auto assert_ok_result_ = (expr);                                          \
    ASSERT_TRUE(assert_ok_result_.ok()) << assert_ok_result_.error().message; \
  } while (false)

#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(AGENTIDP_CONCAT(assert_tmp_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  ASSERT_TRUE(tmp.ok()) << tmp.error().message;   \
  lhs = std::move(tmp).value()

}  // namespace agentidp::contract
