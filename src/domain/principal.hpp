#pragma once

#include <set>
#include <string>

namespace agentidp::domain {

// Who is calling: an authenticated agent with the scopes its token (or role) grants.
struct Principal {
  std::string agent_id;
  std::string organization_id;
  std::set<std::string> scopes;
  bool cross_tenant = false;  // holds the policy's cross-tenant scope (admin:orgs)
  std::string jti;            // of the bearer token, when authenticated by one
  std::string jkt;            // the token's DPoP key thumbprint (cnf.jkt), "" if not bound
  // The agent holding the token (its client_id). Equals agent_id except for delegated and
  // exchanged tokens, where agent_id (sub) is the principal acted for.
  std::string client_id;

  const std::string& holder() const { return client_id.empty() ? agent_id : client_id; }
  std::string ip_address;
  std::string user_agent;

  bool Has(const std::string& scope) const { return scopes.count(scope) > 0; }
  bool CanSee(const std::string& organization_id_of_resource) const {
    return cross_tenant || organization_id_of_resource == organization_id;
  }
};

}  // namespace agentidp::domain
