#pragma once

// Organizations and their members (SPEC §3, §4): validation, plan-tier defaults, tenant
// confinement, soft delete, membership moves, audit records (org.*). Every mutation is
// audited before it is acknowledged.

#include "core/clock.hpp"
#include "core/random.hpp"
#include "core/result.hpp"
#include "domain/agents/agent_service.hpp"
#include "domain/audit/audit_log.hpp"
#include "domain/oauth/client_directory.hpp"
#include "domain/principal.hpp"
#include "domain/store.hpp"

#include <boost/json/object.hpp>

#include <optional>
#include <string>

namespace agentidp::domain {

// The fields a create or update may carry, already validated. max_agents: -1 = unlimited.
struct OrgInput {
  std::optional<std::string> name, slug, plan_tier, status;
  std::optional<int> max_agents;
};

// SPEC §3: name 2-100 characters (not blank), slug 2-50 of [a-z0-9-], planTier
// free|pro|enterprise, maxAgents a positive integer or null (unlimited). `partial` (PATCH)
// makes every field optional and allows `status` (active|suspended; deletion is DELETE).
// Unknown members are refused.
core::Result<OrgInput> ParseOrgInput(const boost::json::object& body, bool partial);
bool IsValidSlug(std::string_view slug);
// The agent limit a plan tier starts with (SPEC §8): free 10, pro 100, enterprise unlimited.
int DefaultMaxAgents(std::string_view plan_tier);

boost::json::object OrgToJson(const Organization& org);

// POST /organizations/{orgId}/members: {agentId (UUID), role (member|admin, default member)}.
struct MemberInput {
  std::string agent_id;
  std::string role = "member";
};
core::Result<MemberInput> ParseMemberInput(const boost::json::object& body);

struct Membership {
  std::string organization_id;
  std::string agent_id;
  std::string role;
  std::string previous_organization_id;
  std::string previous_role;
  int64_t added_at = 0;
};
boost::json::object MembershipToJson(const Membership& m);

class OrgService {
 public:
  OrgService(Store& store, AuditWriter& audit, ClientDirectory& clients, const core::Clock& clock,
             core::Random& random, std::string system_organization_id);

  // Creating, deleting and every change of plan, limit, slug or status need cross-tenant
  // administration (admin:orgs); a confined caller sees and may rename only its own
  // organization (docs/decisions.md "Organizations: who may do what").
  core::Result<Organization> Create(const Principal& caller, const OrgInput& input);
  core::Result<PageOf<Organization>> List(const Principal& caller, OrgFilter filter,
                                          const Page& page);
  core::Result<Organization> Get(const Principal& caller, const std::string& organization_id);
  core::Result<Organization> Update(const Principal& caller, const std::string& organization_id,
                                    const OrgInput& input);
  // Soft delete (status "deleted"); 409 ORG_HAS_ACTIVE_AGENTS while any agent of the
  // organization is not decommissioned. The system organization cannot be deleted.
  core::Status Delete(const Principal& caller, const std::string& organization_id);
  // Makes the agent a member of the organization with `role`, moving it from its current
  // organization (an agent belongs to exactly one). 409 ALREADY_MEMBER when it is already a
  // member (change roles with PATCH /agents/{id}).
  core::Result<Membership> AddMember(const Principal& caller, const std::string& organization_id,
                                     const std::string& agent_id, const std::string& role,
                                     const AgentService::RoleScopes& grantable);

 private:
  core::Result<Organization> Visible(const Principal& caller, const std::string& organization_id);
  core::Status Audit(const Principal& caller, const std::string& action,
                     const std::string& organization_id, const std::string& agent_id,
                     boost::json::object metadata);

  Store& store_;
  AuditWriter& audit_;
  ClientDirectory& clients_;
  const core::Clock& clock_;
  core::Random& random_;
  const std::string system_org_id_;
};

}  // namespace agentidp::domain
