#pragma once

// Declarative authorization (docs/configuration.md#policy): which scopes each route needs,
// which scopes each organization role may hold, and the tenant rule. Loaded from a JSON file,
// evaluated in-process, replaced atomically on SIGHUP.

#include "core/result.hpp"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace agentidp::domain {

inline const std::vector<std::string>& AllScopes() {
  static const std::vector<std::string> kScopes = {
      "agents:read", "agents:write",  "tokens:read",    "audit:read",
      "admin:orgs",  "webhooks:read", "webhooks:write", "openid"};
  return kScopes;
}
bool IsKnownScope(std::string_view scope);

// Space-separated scope string (RFC 6749 §3.3) -> set; refuses empty tokens from doubled
// spaces, characters outside %x21 / %x23-5B / %x5D-7E, and unknown scopes.
core::Result<std::set<std::string>> ParseScopeString(std::string_view text);
std::string JoinScopes(const std::set<std::string>& scopes);

class Policy {
 public:
  // Parses and validates a policy document. `known_routes` are the route ids of the route
  // table: every id must have an entry and no entry may name an unknown id (deny by default,
  // and a typo cannot silently open a route).
  static core::Result<Policy> Parse(std::string_view json,
                                    const std::vector<std::string>& known_routes);
  // The policy compiled into the binary (config/policy.json is the same document).
  static std::string_view DefaultDocument();

  // Scopes a route requires (all of them).
  const std::set<std::string>& RequiredScopes(const std::string& route_id) const;
  bool Allows(const std::string& route_id, const std::set<std::string>& granted) const;
  // Scopes an agent with this organization role may hold. The system organization's admins
  // hold every scope (cross-tenant administration).
  std::set<std::string> GrantableScopes(const std::string& role, bool system_org) const;
  // Holding this scope lifts the tenant confinement (SPEC: admin:orgs).
  const std::string& cross_tenant_scope() const { return cross_tenant_scope_; }
  bool IsCrossTenant(const std::set<std::string>& granted) const {
    return granted.count(cross_tenant_scope_) > 0;
  }
  // RFC 8693 token exchange: whether an agent of this role may exchange a token issued to
  // another client of its organization (default: no role may; the policy must say so).
  bool MayExchangeOthersTokens(const std::string& role) const {
    return cross_client_exchange_roles_.count(role) > 0;
  }

 private:
  std::map<std::string, std::set<std::string>> routes_;
  std::map<std::string, std::set<std::string>> roles_;
  std::string cross_tenant_scope_ = "admin:orgs";
  std::set<std::string> cross_client_exchange_roles_;
};

}  // namespace agentidp::domain
