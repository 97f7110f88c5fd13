#include "domain/orgs/org_service.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>

namespace agentidp::domain {

namespace {

constexpr int kMaxAgentsCeiling = 1'000'000;

core::Error Invalid(const std::string& field, const std::string& message) {
  boost::json::object details;
  details["field"] = field;
  return core::Error::Validation(message, std::move(details));
}

core::Error OrgNotFound() {
  return core::Error::NotFound("ORG_NOT_FOUND", "Organization not found");
}

// Characters (code points), not bytes; the JSON parser has already refused invalid UTF-8.
size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool IsBlank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  });
}

bool IsPrivilege(const std::string& scope) {
  return scope != "openid";
}

}  // namespace

bool IsValidSlug(std::string_view slug) {
  if (slug.size() < 2 || slug.size() > 50) return false;
  return std::all_of(slug.begin(), slug.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

int DefaultMaxAgents(std::string_view plan_tier) {
  if (plan_tier == "enterprise") return -1;
  if (plan_tier == "pro") return 100;
  return 10;
}

core::Result<OrgInput> ParseOrgInput(const boost::json::object& body, bool partial) {
  OrgInput in;
  for (const auto& [k, v] : body) {
    std::string key(k);
    if (key == "name") {
      if (!v.is_string()) return Invalid(key, "\"name\" must be a string");
      std::string s(v.as_string());
      size_t n = CodePoints(s);
      if (n < 2 || n > 100 || IsBlank(s))
        return Invalid(key, "\"name\" must be 2 to 100 characters, not blank");
      in.name = std::move(s);
    } else if (key == "slug") {
      if (!v.is_string() || !IsValidSlug(std::string_view(v.as_string())))
        return Invalid(key,
                       "\"slug\" must be 2 to 50 characters of lowercase letters, digits and "
                       "hyphens");
      in.slug = std::string(v.as_string());
    } else if (key == "planTier") {
      if (!v.is_string() ||
          (v.as_string() != "free" && v.as_string() != "pro" && v.as_string() != "enterprise"))
        return Invalid(key, "\"planTier\" must be free, pro or enterprise");
      in.plan_tier = std::string(v.as_string());
    } else if (key == "maxAgents") {
      if (v.is_null()) {
        in.max_agents = -1;
      } else if (v.is_int64() && v.as_int64() >= 1 && v.as_int64() <= kMaxAgentsCeiling) {
        in.max_agents = static_cast<int>(v.as_int64());
      } else if (v.is_uint64() && v.as_uint64() >= 1 && v.as_uint64() <= kMaxAgentsCeiling) {
        in.max_agents = static_cast<int>(v.as_uint64());
      } else {
        return Invalid(key,
                       "\"maxAgents\" must be an integer from 1 to 1000000, or null for "
                       "no limit");
      }
    } else if (key == "status" && partial) {
      if (!v.is_string() || (v.as_string() != "active" && v.as_string() != "suspended"))
        return Invalid(key,
                       "\"status\" must be active or suspended (DELETE deletes an organization)");
      in.status = std::string(v.as_string());
    } else {
      return Invalid(key, "Unknown or immutable field \"" + key + "\"");
    }
  }
  if (!partial) {
    if (!in.name) return Invalid("name", "\"name\" is required");
    if (!in.slug) return Invalid("slug", "\"slug\" is required");
  } else if (body.empty()) {
    return core::Error::Validation("Request body must contain at least one field to update");
  }
  return in;
}

core::Result<MemberInput> ParseMemberInput(const boost::json::object& body) {
  MemberInput in;
  bool has_agent = false;
  for (const auto& [k, v] : body) {
    std::string key(k);
    if (key == "agentId") {
      if (!v.is_string() || !core::IsUuid(std::string_view(v.as_string())))
        return Invalid(key, "\"agentId\" must be a UUID");
      in.agent_id = std::string(v.as_string());
      has_agent = true;
    } else if (key == "role") {
      if (!v.is_string() || (v.as_string() != "member" && v.as_string() != "admin"))
        return Invalid(key, "\"role\" must be member or admin");
      in.role = std::string(v.as_string());
    } else {
      return Invalid(key, "Unknown field \"" + key + "\"");
    }
  }
  if (!has_agent) return Invalid("agentId", "\"agentId\" is required");
  return in;
}

boost::json::object OrgToJson(const Organization& org) {
  boost::json::object o;
  o["organizationId"] = org.organization_id;
  o["name"] = org.name;
  o["slug"] = org.slug;
  o["planTier"] = org.plan_tier;
  o["maxAgents"] =
      org.max_agents < 0 ? boost::json::value(nullptr) : boost::json::value(org.max_agents);
  o["status"] = org.status;
  o["createdAt"] = core::FormatIso8601(org.created_at);
  o["updatedAt"] = core::FormatIso8601(org.updated_at);
  return o;
}

boost::json::object MembershipToJson(const Membership& m) {
  boost::json::object o;
  o["organizationId"] = m.organization_id;
  o["agentId"] = m.agent_id;
  o["role"] = m.role;
  o["previousOrganizationId"] = m.previous_organization_id;
  o["previousRole"] = m.previous_role;
  o["addedAt"] = core::FormatIso8601(m.added_at);
  return o;
}

OrgService::OrgService(Store& store, AuditWriter& audit, ClientDirectory& clients,
                       const core::Clock& clock, core::Random& random,
                       std::string system_organization_id)
    : store_(store),
      audit_(audit),
      clients_(clients),
      clock_(clock),
      random_(random),
      system_org_id_(std::move(system_organization_id)) {}

core::Status OrgService::Audit(const Principal& caller, const std::string& action,
                               const std::string& organization_id, const std::string& agent_id,
                               boost::json::object metadata) {
  if (!caller.agent_id.empty()) metadata["actorAgentId"] = caller.agent_id;
  AuditRecord r;
  r.agent_id = agent_id;
  r.organization_id = organization_id;
  r.action = action;
  r.ip_address = caller.ip_address;
  r.user_agent = caller.user_agent;
  r.metadata_json = boost::json::serialize(metadata);
  return audit_.Write(std::move(r));
}

core::Result<Organization> OrgService::Visible(const Principal& caller,
                                               const std::string& organization_id) {
  // Unknown, foreign and deleted organizations are indistinguishable.
  if (!core::IsUuid(organization_id) || !caller.CanSee(organization_id)) return OrgNotFound();
  TRY_ASSIGN(auto org, store_.orgs().Get(TenantScope::Org(organization_id), organization_id));
  if (!org || org->status == "deleted") return OrgNotFound();
  return std::move(*org);
}

core::Result<Organization> OrgService::Create(const Principal& caller, const OrgInput& in) {
  if (!caller.cross_tenant)
    return core::Error::Forbidden("cross_tenant",
                                  "Creating organizations needs cross-tenant administration");
  Organization org;
  org.organization_id = random_.UuidV4();
  org.name = *in.name;
  org.slug = *in.slug;
  org.plan_tier = in.plan_tier.value_or("free");
  org.max_agents = in.max_agents.value_or(DefaultMaxAgents(org.plan_tier));
  org.status = "active";
  org.created_at = org.updated_at = clock_.NowMs();
  auto created = store_.orgs().Create(TenantScope::Org(org.organization_id), org);
  if (!created.ok()) {
    if (created.error().kind == core::Errc::kConflict)
      return core::Error::Conflict("ORG_ALREADY_EXISTS", "An organization with this slug exists");
    return std::move(created).error();
  }
  boost::json::object meta;
  meta["slug"] = org.slug;
  meta["planTier"] = org.plan_tier;
  meta["maxAgents"] = org.max_agents;
  TRY(Audit(caller, "org.created", org.organization_id, caller.agent_id, std::move(meta)));
  return org;
}

core::Result<PageOf<Organization>> OrgService::List(const Principal& caller, OrgFilter filter,
                                                    const Page& page) {
  if (!caller.cross_tenant) filter.organization_id = caller.organization_id;
  return store_.orgs().List(TenantScope::ReadFor(caller), filter, page);
}

core::Result<Organization> OrgService::Get(const Principal& caller,
                                           const std::string& organization_id) {
  return Visible(caller, organization_id);
}

core::Result<Organization> OrgService::Update(const Principal& caller,
                                              const std::string& organization_id,
                                              const OrgInput& in) {
  TRY_ASSIGN(Organization org, Visible(caller, organization_id));
  if (!caller.cross_tenant) {
    // An organization must not raise its own limits or lift its own suspension.
    if (in.slug || in.plan_tier || in.max_agents || in.status)
      return core::Error::Forbidden(
          "cross_tenant",
          "Only cross-tenant administrators may change slug, planTier, maxAgents or status");
    if (!caller.Has("agents:write"))
      return core::Error::Forbidden("insufficient_scope",
                                    "Renaming the organization needs agents:write");
  }
  if (org.organization_id == system_org_id_ && in.status && *in.status != org.status)
    return core::Error::Forbidden("system_organization",
                                  "The system organization cannot be suspended");
  boost::json::array changed;
  auto set = [&](auto& field, const auto& value, const char* name) {
    if (value && field != *value) {
      field = *value;
      changed.emplace_back(name);
    }
  };
  const std::string previous_status = org.status;
  const std::string previous_tier = org.plan_tier;
  set(org.name, in.name, "name");
  set(org.slug, in.slug, "slug");
  if (in.plan_tier && *in.plan_tier != org.plan_tier && !in.max_agents) {
    // A new tier brings its own limit unless one is given (SPEC §8).
    set(org.max_agents, std::optional<int>(DefaultMaxAgents(*in.plan_tier)), "maxAgents");
  }
  set(org.plan_tier, in.plan_tier, "planTier");
  set(org.max_agents, in.max_agents, "maxAgents");
  set(org.status, in.status, "status");
  org.updated_at = clock_.NowMs();
  auto updated = store_.orgs().Update(TenantScope::Org(org.organization_id), org);
  if (!updated.ok()) {
    if (updated.error().kind == core::Errc::kConflict)
      return core::Error::Conflict("ORG_ALREADY_EXISTS", "An organization with this slug exists");
    if (updated.error().kind == core::Errc::kNotFound) return OrgNotFound();
    return std::move(updated).error();
  }
  // Suspension stops the organization's agents at once (their cached records carry the
  // organization's status); reactivation restores them. A new plan tier changes the daily
  // limits. Other nodes learn both through the organization listener (cluster bus).
  if (previous_status != org.status || previous_tier != org.plan_tier)
    clients_.InvalidateOrganization(org.organization_id);
  boost::json::object meta;
  meta["changed"] = changed;
  if (previous_status != org.status) meta["previousStatus"] = previous_status;
  TRY(Audit(caller, "org.updated", org.organization_id, caller.agent_id, std::move(meta)));
  return org;
}

core::Status OrgService::Delete(const Principal& caller, const std::string& organization_id) {
  TRY_ASSIGN(Organization org, Visible(caller, organization_id));
  if (!caller.cross_tenant)
    return core::Error::Forbidden("cross_tenant",
                                  "Deleting organizations needs cross-tenant administration");
  if (org.organization_id == system_org_id_)
    return core::Error::Forbidden("system_organization",
                                  "The system organization cannot be deleted");
  auto deleted = store_.orgs().MarkDeletedIfEmpty(TenantScope::Org(org.organization_id),
                                                  org.organization_id, clock_.NowMs());
  if (!deleted.ok()) {
    if (deleted.error().kind == core::Errc::kNotFound) return OrgNotFound();
    return std::move(deleted).error();
  }
  if (!*deleted) {
    TRY_ASSIGN(int64_t live, store_.agents().CountLive(TenantScope::Org(org.organization_id),
                                                       org.organization_id));
    core::Error e = core::Error::Conflict(
        "ORG_HAS_ACTIVE_AGENTS",
        "The organization still has agents that are not decommissioned; decommission or move "
        "them first");
    e.details["activeAgents"] = live;
    return e;
  }
  clients_.InvalidateOrganization(org.organization_id);
  boost::json::object meta;
  meta["slug"] = org.slug;
  return Audit(caller, "org.deleted", org.organization_id, caller.agent_id, std::move(meta));
}

core::Result<Membership> OrgService::AddMember(const Principal& caller,
                                               const std::string& organization_id,
                                               const std::string& agent_id, const std::string& role,
                                               const AgentService::RoleScopes& grantable) {
  TRY_ASSIGN(Organization org, Visible(caller, organization_id));
  if (org.status != "active")
    return core::Error::Conflict("ORG_SUSPENDED", "The organization is suspended");
  // Foreign and unknown agents are indistinguishable, as everywhere.
  auto agent_not_found = core::Error::NotFound("AGENT_NOT_FOUND", "Agent not found");
  if (!core::IsUuid(agent_id)) return agent_not_found;
  TRY_ASSIGN(auto found, store_.agents().Get(TenantScope::ReadFor(caller), agent_id));
  if (!found || !caller.CanSee(found->organization_id)) return agent_not_found;
  Agent agent = std::move(*found);
  if (agent.status == "decommissioned")
    return core::Error::Conflict("AGENT_ALREADY_DECOMMISSIONED", "Agent is decommissioned");
  if (agent.organization_id == org.organization_id)
    return core::Error::Conflict(
        "ALREADY_MEMBER",
        "The agent is already a member of this organization (change its role with PATCH "
        "/agents/{agentId})");
  if (agent.agent_id == caller.agent_id)
    return core::Error::Validation("An agent cannot change its own organization");
  for (const auto& s : grantable(role, org.organization_id))
    if (IsPrivilege(s) && !caller.Has(s))
      return core::Error::Forbidden("privilege_escalation",
                                    "Cannot grant a role with more privileges than the caller");
  if (org.max_agents >= 0) {
    TRY_ASSIGN(int64_t live, store_.agents().CountLive(TenantScope::Org(org.organization_id),
                                                       org.organization_id));
    if (live >= org.max_agents) {
      core::Error e{
          core::Errc::kForbidden, "FREE_TIER_LIMIT_EXCEEDED",
          "The organization's plan allows at most " + std::to_string(org.max_agents) + " agents"};
      e.details["limit"] = org.max_agents;
      return e;
    }
  }
  Membership m;
  m.organization_id = org.organization_id;
  m.agent_id = agent.agent_id;
  m.role = role;
  m.previous_organization_id = agent.organization_id;
  m.previous_role = agent.role;
  agent.organization_id = org.organization_id;
  agent.role = role;
  agent.updated_at = m.added_at = clock_.NowMs();
  // The row leaves one organization for another: visible before, admissible after.
  TRY(store_.agents().Update(TenantScope::Orgs(m.previous_organization_id, org.organization_id),
                             agent));
  // Its cached record (organization, role) is stale now; tokens minted for the previous
  // organization stop working with it (TokenService::Validate).
  clients_.Invalidate(agent.agent_id);
  boost::json::object meta;
  meta["role"] = role;
  meta["previousOrganizationId"] = m.previous_organization_id;
  meta["previousRole"] = m.previous_role;
  TRY(Audit(caller, "org.member_added", org.organization_id, agent.agent_id, std::move(meta)));
  return m;
}

}  // namespace agentidp::domain
