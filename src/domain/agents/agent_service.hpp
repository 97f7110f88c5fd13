#pragma once

// Agents and their credentials (SPEC §3): validation rules, status transitions, tenant
// confinement, audit records. Every mutation is audited before it is acknowledged.

#include "core/clock.hpp"
#include "core/random.hpp"
#include "core/result.hpp"
#include "domain/audit/audit_log.hpp"
#include "domain/oauth/client_directory.hpp"
#include "domain/principal.hpp"
#include "domain/store.hpp"

#include <boost/json/object.hpp>

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace agentidp::domain {

// The fields a create or update may carry, already validated.
struct AgentInput {
  std::optional<std::string> email, agent_type, version, owner, deployment_env, status, role,
      organization_id;
  std::optional<std::vector<std::string>> capabilities;
  std::optional<bool> is_public;
};

// Validates a JSON body against SPEC §3. `partial` (PATCH) makes every field optional and
// allows `status`; unknown members are refused either way. Errors carry details per field.
core::Result<AgentInput> ParseAgentInput(const boost::json::object& body, bool partial);
bool IsValidEmail(std::string_view email);
bool IsValidSemver(std::string_view version);
bool IsValidCapability(std::string_view capability);

boost::json::object AgentToJson(const Agent& agent, std::string_view did_base);
boost::json::object CredentialToJson(const Credential& credential);
boost::json::object AuditEventToJson(const AuditEvent& event);

class AgentService {
 public:
  AgentService(Store& store, AuditWriter& audit, ClientDirectory& clients, const core::Clock& clock,
               core::Random& random, std::string secret_pepper, std::string system_organization_id);

  // `grantable(role)` gives the scopes a role may hold (policy); a caller may only create or
  // promote agents whose role grants no scope it lacks itself.
  using RoleScopes =
      std::function<std::set<std::string>(const std::string& role, const std::string& org)>;
  core::Result<Agent> Create(const Principal& caller, const AgentInput& input,
                             const RoleScopes& grantable);
  core::Result<PageOf<Agent>> List(const Principal& caller, AgentFilter filter, const Page& page);
  core::Result<Agent> Get(const Principal& caller, const std::string& agent_id);
  core::Result<Agent> Update(const Principal& caller, const std::string& agent_id,
                             const AgentInput& input, const RoleScopes& grantable);
  core::Status Decommission(const Principal& caller, const std::string& agent_id);

  struct NewSecret {
    Credential credential;
    std::string client_secret;  // shown once; empty for private_key_jwt credentials
  };
  // A private_key_jwt credential's public keys, already validated (NormalizeClientJwks /
  // ValidateJwksUri): exactly one of the two is set.
  struct CredentialKeys {
    std::string jwks_json;
    std::string jwks_uri;
  };
  // Without `keys`: a client_secret credential; with them: a private_key_jwt one.
  core::Result<NewSecret> CreateCredential(const Principal& caller, const std::string& agent_id,
                                           std::optional<int64_t> expires_at,
                                           const std::optional<CredentialKeys>& keys = {});
  core::Result<std::vector<Credential>> ListCredentials(const Principal& caller,
                                                        const std::string& agent_id);
  // client_secret: a new secret. private_key_jwt: `keys` replace the key set.
  core::Result<NewSecret> RotateCredential(const Principal& caller, const std::string& agent_id,
                                           const std::string& credential_id,
                                           const std::optional<CredentialKeys>& keys = {});
  core::Status RevokeCredential(const Principal& caller, const std::string& agent_id,
                                const std::string& credential_id);

  // First start: system organization + bootstrap admin agent with one credential.
  core::Result<NewSecret> Bootstrap(const std::string& admin_email);

 private:
  core::Result<Agent> Visible(const Principal& caller, const std::string& agent_id);
  core::Result<Credential> OwnedCredential(const Agent& agent, const std::string& credential_id);
  core::Status Audit(const Principal& caller, const std::string& action, const Agent& agent,
                     boost::json::object metadata = {});

  Store& store_;
  AuditWriter& audit_;
  ClientDirectory& clients_;
  const core::Clock& clock_;
  core::Random& random_;
  const std::string pepper_;
  const std::string system_org_id_;
};

}  // namespace agentidp::domain
