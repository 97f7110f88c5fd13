#include "domain/agents/agent_service.hpp"

#include "crypto/secret.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <array>

namespace agentidp::domain {

namespace {
constexpr std::array<std::string_view, 8> kAgentTypes = {"screener",  "classifier", "orchestrator",
                                                         "extractor", "summarizer", "router",
                                                         "monitor",   "custom"};
constexpr std::array<std::string_view, 3> kEnvs = {"development", "staging", "production"};
constexpr std::array<std::string_view, 3> kStatuses = {"active", "suspended", "decommissioned"};

template <size_t N>
bool OneOf(std::string_view v, const std::array<std::string_view, N>& set) {
  return std::find(set.begin(), set.end(), v) != set.end();
}

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Numeric identifier of semver: no leading zeros.
bool SemverNumber(std::string_view s) {
  if (s.empty() || s.size() > 18) return false;
  if (s.size() > 1 && s[0] == '0') return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool SemverIdents(std::string_view s, bool numeric_rule) {
  if (s.empty()) return false;
  size_t i = 0;
  while (i <= s.size()) {
    size_t end = s.find('.', i);
    if (end == std::string_view::npos) end = s.size();
    std::string_view id = s.substr(i, end - i);
    if (id.empty()) return false;
    bool all_digits = true;
    for (char c : id) {
      if (!IsAlnum(c) && c != '-') return false;
      all_digits = all_digits && c >= '0' && c <= '9';
    }
    if (numeric_rule && all_digits && id.size() > 1 && id[0] == '0') return false;
    i = end + 1;
  }
  return true;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// `openid` only adds an id_token; it grants no access, so it never blocks a role change.
bool IsPrivilege(const std::string& scope) {
  return scope != "openid";
}

core::Error Invalid(const std::string& field, const std::string& message) {
  boost::json::object details;
  details["field"] = field;
  return core::Error::Validation(message, std::move(details));
}
}  // namespace

bool IsValidEmail(std::string_view e) {
  if (e.empty() || e.size() > 255) return false;
  size_t at = e.find('@');
  if (at == 0 || at == std::string_view::npos || e.find('@', at + 1) != std::string_view::npos)
    return false;
  std::string_view local = e.substr(0, at), domain = e.substr(at + 1);
  if (local.size() > 64 || domain.size() < 3) return false;
  for (char c : local)
    if (!(IsAlnum(c) || std::string_view("._%+-!#$&'*/=?^`{|}~").find(c) != std::string_view::npos))
      return false;
  if (domain.front() == '.' || domain.back() == '.' ||
      domain.find("..") != std::string_view::npos || domain.find('.') == std::string_view::npos)
    return false;
  for (char c : domain)
    if (!(IsAlnum(c) || c == '.' || c == '-')) return false;
  return true;
}

bool IsValidSemver(std::string_view v) {
  if (v.empty() || v.size() > 64) return false;
  std::string_view core_part = v, pre, build;
  if (size_t plus = v.find('+'); plus != std::string_view::npos) {
    build = v.substr(plus + 1);
    core_part = v.substr(0, plus);
    if (!SemverIdents(build, false)) return false;
  }
  if (size_t dash = core_part.find('-'); dash != std::string_view::npos) {
    pre = core_part.substr(dash + 1);
    core_part = core_part.substr(0, dash);
    if (!SemverIdents(pre, true)) return false;
  }
  size_t d1 = core_part.find('.');
  if (d1 == std::string_view::npos) return false;
  size_t d2 = core_part.find('.', d1 + 1);
  if (d2 == std::string_view::npos) return false;
  return SemverNumber(core_part.substr(0, d1)) &&
         SemverNumber(core_part.substr(d1 + 1, d2 - d1 - 1)) &&
         SemverNumber(core_part.substr(d2 + 1));
}

bool IsValidCapability(std::string_view c) {
  if (c.size() < 3 || c.size() > 128) return false;
  size_t colon = c.find(':');
  if (colon == 0 || colon == std::string_view::npos || colon == c.size() - 1) return false;
  for (size_t i = 0; i < c.size(); ++i) {
    char ch = c[i];
    if (i == colon) continue;
    if (!(IsAlnum(ch) || ch == '_' || ch == '-' || ch == '.' || ch == '*' || ch == ':'))
      return false;
  }
  return true;
}

core::Result<AgentInput> ParseAgentInput(const boost::json::object& body, bool partial) {
  AgentInput in;
  auto need_string = [&](const boost::json::value& v, const std::string& field, size_t min,
                         size_t max) -> core::Result<std::string> {
    if (!v.is_string()) return Invalid(field, "\"" + field + "\" must be a string");
    std::string s(v.as_string());
    // Limits count characters (code points), not bytes; the JSON parser has already
    // refused invalid UTF-8.
    size_t chars = 0;
    for (unsigned char ch : s) chars += (ch & 0xC0) != 0x80;
    if (chars < min || chars > max)
      return Invalid(field, "\"" + field + "\" must be " + std::to_string(min) + " to " +
                                std::to_string(max) + " characters");
    return s;
  };
  for (const auto& [k, v] : body) {
    std::string key(k);
    if (key == "email") {
      TRY_ASSIGN(std::string s, need_string(v, key, 3, 255));
      if (!IsValidEmail(s)) return Invalid(key, "\"email\" must be a valid email address");
      in.email = Lower(std::move(s));
    } else if (key == "agentType") {
      TRY_ASSIGN(std::string s, need_string(v, key, 1, 32));
      if (!OneOf(s, kAgentTypes))
        return Invalid(key,
                       "\"agentType\" must be one of screener, classifier, orchestrator, "
                       "extractor, summarizer, router, monitor, custom");
      in.agent_type = std::move(s);
    } else if (key == "version") {
      TRY_ASSIGN(std::string s, need_string(v, key, 1, 64));
      if (!IsValidSemver(s)) return Invalid(key, "\"version\" must be a semantic version (1.2.3)");
      in.version = std::move(s);
    } else if (key == "capabilities") {
      if (!v.is_array() || v.as_array().empty() || v.as_array().size() > 100)
        return Invalid(key, "\"capabilities\" must be an array of 1 to 100 strings");
      std::vector<std::string> caps;
      for (const auto& c : v.as_array()) {
        if (!c.is_string() || !IsValidCapability(std::string_view(c.as_string())))
          return Invalid(key,
                         "each capability must be \"resource:action\" (letters, digits, "
                         "_ - . *; at most 128 characters)");
        std::string cap(c.as_string());
        if (std::find(caps.begin(), caps.end(), cap) == caps.end()) caps.push_back(std::move(cap));
      }
      in.capabilities = std::move(caps);
    } else if (key == "owner") {
      TRY_ASSIGN(std::string s, need_string(v, key, 1, 128));
      in.owner = std::move(s);
    } else if (key == "deploymentEnv") {
      TRY_ASSIGN(std::string s, need_string(v, key, 1, 32));
      if (!OneOf(s, kEnvs))
        return Invalid(key, "\"deploymentEnv\" must be development, staging or production");
      in.deployment_env = std::move(s);
    } else if (key == "isPublic") {
      if (!v.is_bool()) return Invalid(key, "\"isPublic\" must be a boolean");
      in.is_public = v.as_bool();
    } else if (key == "role") {
      TRY_ASSIGN(std::string s, need_string(v, key, 1, 16));
      if (s != "member" && s != "admin") return Invalid(key, "\"role\" must be member or admin");
      in.role = std::move(s);
    } else if (key == "organizationId" && !partial) {
      TRY_ASSIGN(std::string s, need_string(v, key, 36, 36));
      if (!core::IsUuid(s)) return Invalid(key, "\"organizationId\" must be a UUID");
      in.organization_id = std::move(s);
    } else if (key == "status" && partial) {
      TRY_ASSIGN(std::string s, need_string(v, key, 1, 32));
      if (!OneOf(s, kStatuses))
        return Invalid(key, "\"status\" must be active, suspended or decommissioned");
      in.status = std::move(s);
    } else {
      return Invalid(key, "Unknown or immutable field \"" + key + "\"");
    }
  }
  if (!partial) {
    const char* missing = !in.email            ? "email"
                          : !in.agent_type     ? "agentType"
                          : !in.version        ? "version"
                          : !in.capabilities   ? "capabilities"
                          : !in.owner          ? "owner"
                          : !in.deployment_env ? "deploymentEnv"
                                               : nullptr;
    if (missing) return Invalid(missing, std::string("\"") + missing + "\" is required");
  } else if (body.empty()) {
    return core::Error::Validation("Request body must contain at least one field to update");
  }
  return in;
}

boost::json::object AgentToJson(const Agent& a, std::string_view did_base) {
  boost::json::object o;
  o["agentId"] = a.agent_id;
  o["email"] = a.email;
  o["agentType"] = a.agent_type;
  o["version"] = a.version;
  boost::json::array caps;
  for (const auto& c : a.capabilities) caps.emplace_back(c);
  o["capabilities"] = std::move(caps);
  o["owner"] = a.owner;
  o["deploymentEnv"] = a.deployment_env;
  o["status"] = a.status;
  o["organizationId"] = a.organization_id;
  o["role"] = a.role;
  o["isPublic"] = a.is_public;
  o["did"] = std::string(did_base) + ":agents:" + a.agent_id;
  o["createdAt"] = core::FormatIso8601(a.created_at);
  o["updatedAt"] = core::FormatIso8601(a.updated_at);
  return o;
}

boost::json::object CredentialToJson(const Credential& c) {
  boost::json::object o;
  o["credentialId"] = c.credential_id;
  o["clientId"] = c.agent_id;
  o["type"] = c.type;
  o["status"] = c.status;
  o["createdAt"] = core::FormatIso8601(c.created_at);
  o["expiresAt"] = c.expires_at ? boost::json::value(core::FormatIso8601(*c.expires_at)) : nullptr;
  o["revokedAt"] = c.revoked_at ? boost::json::value(core::FormatIso8601(*c.revoked_at)) : nullptr;
  if (!c.jwks_json.empty()) {
    boost::system::error_code ec;
    auto v = boost::json::parse(c.jwks_json, ec);
    if (!ec) o["jwks"] = std::move(v);
  }
  if (!c.jwks_uri.empty()) o["jwksUri"] = c.jwks_uri;
  return o;
}

boost::json::object AuditEventToJson(const AuditEvent& e) {
  boost::json::object o;
  o["eventId"] = e.event_id;
  o["agentId"] = e.agent_id.empty() ? boost::json::value(nullptr) : boost::json::value(e.agent_id);
  o["organizationId"] = e.organization_id.empty() ? boost::json::value(nullptr)
                                                  : boost::json::value(e.organization_id);
  o["action"] = e.action;
  o["outcome"] = e.outcome;
  o["timestamp"] = core::FormatIso8601(e.timestamp);
  o["ipAddress"] = e.ip_address;
  o["userAgent"] = e.user_agent;
  boost::system::error_code ec;
  auto meta = boost::json::parse(e.metadata_json, ec);
  o["metadata"] = ec || !meta.is_object() ? boost::json::value(boost::json::object{}) : meta;
  o["hash"] = e.hash;
  o["previousHash"] = e.previous_hash;
  return o;
}

AgentService::AgentService(Store& store, AuditWriter& audit, ClientDirectory& clients,
                           const core::Clock& clock, core::Random& random,
                           std::string secret_pepper, std::string system_organization_id)
    : store_(store),
      audit_(audit),
      clients_(clients),
      clock_(clock),
      random_(random),
      pepper_(std::move(secret_pepper)),
      system_org_id_(std::move(system_organization_id)) {}

core::Status AgentService::Audit(const Principal& caller, const std::string& action,
                                 const Agent& agent, boost::json::object metadata) {
  if (!caller.agent_id.empty()) metadata["actorAgentId"] = caller.agent_id;
  AuditRecord r;
  r.agent_id = agent.agent_id;
  r.organization_id = agent.organization_id;
  r.action = action;
  r.ip_address = caller.ip_address;
  r.user_agent = caller.user_agent;
  r.metadata_json = boost::json::serialize(metadata);
  return audit_.Write(std::move(r));
}

core::Result<Agent> AgentService::Visible(const Principal& caller, const std::string& agent_id) {
  // Unknown and foreign agents are indistinguishable (no cross-tenant enumeration).
  auto not_found = core::Error::NotFound("AGENT_NOT_FOUND", "Agent not found");
  if (!core::IsUuid(agent_id)) return not_found;
  TRY_ASSIGN(auto agent, store_.agents().Get(TenantScope::ReadFor(caller), agent_id));
  if (!agent || !caller.CanSee(agent->organization_id)) return not_found;
  return std::move(*agent);
}

core::Result<Agent> AgentService::Create(const Principal& caller, const AgentInput& in,
                                         const RoleScopes& grantable) {
  Agent a;
  a.organization_id = in.organization_id.value_or(caller.organization_id);
  if (!caller.CanSee(a.organization_id))
    return core::Error::Forbidden("cross_tenant", "Cannot create agents in another organization");
  TRY_ASSIGN(auto org, store_.orgs().Get(TenantScope::Org(a.organization_id), a.organization_id));
  if (!org || org->status == "deleted")
    return core::Error::NotFound("ORG_NOT_FOUND", "Organization not found");
  if (org->status != "active")
    return core::Error::Conflict("ORG_SUSPENDED", "The organization is suspended");
  a.role = in.role.value_or("member");
  for (const auto& s : grantable(a.role, a.organization_id))
    if (IsPrivilege(s) && !caller.Has(s))
      return core::Error::Forbidden("privilege_escalation",
                                    "Cannot create an agent with more privileges than the caller");
  if (org->max_agents >= 0) {
    TRY_ASSIGN(int64_t live,
               store_.agents().CountLive(TenantScope::Org(a.organization_id), a.organization_id));
    if (live >= org->max_agents) {
      core::Error e{
          core::Errc::kForbidden, "FREE_TIER_LIMIT_EXCEEDED",
          "The organization's plan allows at most " + std::to_string(org->max_agents) + " agents"};
      e.details["limit"] = org->max_agents;
      return e;
    }
  }
  a.agent_id = random_.UuidV4();
  a.email = *in.email;
  a.agent_type = *in.agent_type;
  a.version = *in.version;
  a.capabilities = *in.capabilities;
  a.owner = *in.owner;
  a.deployment_env = *in.deployment_env;
  a.is_public = in.is_public.value_or(false);
  a.status = "active";
  a.created_at = a.updated_at = clock_.NowMs();
  auto created = store_.agents().Create(TenantScope::Org(a.organization_id), a);
  if (!created.ok()) {
    if (created.error().kind == core::Errc::kConflict)
      return core::Error::Conflict("AGENT_ALREADY_EXISTS",
                                   "An agent with this email already exists");
    return std::move(created).error();
  }
  boost::json::object meta;
  meta["email"] = a.email;
  meta["agentType"] = a.agent_type;
  TRY(Audit(caller, "agent.created", a, std::move(meta)));
  return a;
}

core::Result<PageOf<Agent>> AgentService::List(const Principal& caller, AgentFilter filter,
                                               const Page& page) {
  if (!caller.cross_tenant || !filter.organization_id) {
    if (!caller.cross_tenant) filter.organization_id = caller.organization_id;
  }
  return store_.agents().List(TenantScope::ReadFor(caller), filter, page);
}

core::Result<Agent> AgentService::Get(const Principal& caller, const std::string& agent_id) {
  return Visible(caller, agent_id);
}

core::Result<Agent> AgentService::Update(const Principal& caller, const std::string& agent_id,
                                         const AgentInput& in, const RoleScopes& grantable) {
  TRY_ASSIGN(Agent a, Visible(caller, agent_id));
  if (a.status == "decommissioned")
    return core::Error::Conflict("AGENT_ALREADY_DECOMMISSIONED", "Agent is decommissioned");
  if (in.role && *in.role != a.role) {
    for (const auto& s : grantable(*in.role, a.organization_id))
      if (IsPrivilege(s) && !caller.Has(s))
        return core::Error::Forbidden("privilege_escalation",
                                      "Cannot grant a role with more privileges than the caller");
  }
  if (in.status && *in.status != a.status && a.agent_id == caller.agent_id &&
      *in.status != "active")
    return core::Error::Validation("An agent cannot suspend or decommission itself");
  boost::json::array changed;
  auto set = [&](auto& field, const auto& value, const char* name) {
    if (value && field != *value) {
      field = *value;
      changed.emplace_back(name);
    }
  };
  set(a.email, in.email, "email");
  set(a.agent_type, in.agent_type, "agentType");
  set(a.version, in.version, "version");
  set(a.capabilities, in.capabilities, "capabilities");
  set(a.owner, in.owner, "owner");
  set(a.deployment_env, in.deployment_env, "deploymentEnv");
  set(a.is_public, in.is_public, "isPublic");
  set(a.role, in.role, "role");
  const std::string old_status = a.status;
  set(a.status, in.status, "status");
  a.updated_at = clock_.NowMs();
  auto updated = store_.agents().Update(TenantScope::Org(a.organization_id), a);
  if (!updated.ok()) {
    if (updated.error().kind == core::Errc::kConflict)
      return core::Error::Conflict("AGENT_ALREADY_EXISTS",
                                   "An agent with this email already exists");
    return std::move(updated).error();
  }
  boost::json::object meta;
  if (a.status == "decommissioned" && old_status != a.status) {
    // Terminal: every credential dies with the agent (its tokens die through the status).
    auto revoked = store_.credentials().RevokeAllForAgent(TenantScope::Org(a.organization_id),
                                                          a.agent_id, a.updated_at);
    clients_.Invalidate(a.agent_id);
    if (!revoked.ok()) return std::move(revoked).error();
    meta["credentialsRevoked"] = *revoked;
  }
  clients_.Invalidate(a.agent_id);
  meta["changed"] = changed;
  std::string action = "agent.updated";
  if (old_status != a.status) {
    meta["previousStatus"] = old_status;
    action = a.status == "suspended"        ? "agent.suspended"
             : a.status == "decommissioned" ? "agent.decommissioned"
                                            : "agent.reactivated";
  }
  TRY(Audit(caller, action, a, std::move(meta)));
  return a;
}

core::Status AgentService::Decommission(const Principal& caller, const std::string& agent_id) {
  AgentInput in;
  in.status = "decommissioned";
  auto r = Update(caller, agent_id, in,
                  [](const std::string&, const std::string&) { return std::set<std::string>{}; });
  if (!r.ok()) return std::move(r).error();
  return core::Ok();
}

core::Result<Credential> AgentService::OwnedCredential(const Agent& agent,
                                                       const std::string& credential_id) {
  auto not_found = core::Error::NotFound("CREDENTIAL_NOT_FOUND", "Credential not found");
  if (!core::IsUuid(credential_id)) return not_found;
  TRY_ASSIGN(auto cred,
             store_.credentials().Get(TenantScope::Org(agent.organization_id), credential_id));
  if (!cred || cred->agent_id != agent.agent_id) return not_found;
  return std::move(*cred);
}

core::Result<AgentService::NewSecret> AgentService::CreateCredential(
    const Principal& caller, const std::string& agent_id, std::optional<int64_t> expires_at,
    const std::optional<CredentialKeys>& keys) {
  TRY_ASSIGN(Agent a, Visible(caller, agent_id));
  if (a.status == "decommissioned")
    return core::Error::Conflict("AGENT_ALREADY_DECOMMISSIONED", "Agent is decommissioned");
  const int64_t now = clock_.NowMs();
  if (expires_at && *expires_at <= now) {
    boost::json::object d;
    d["field"] = "expiresAt";
    return core::Error::Validation("\"expiresAt\" must be in the future", std::move(d));
  }
  NewSecret out;
  Credential& c = out.credential;
  c.credential_id = random_.UuidV4();
  c.agent_id = a.agent_id;
  if (keys) {
    // private_key_jwt: public keys only, nothing secret to hand out.
    c.type = "private_key_jwt";
    c.jwks_json = keys->jwks_json;
    c.jwks_uri = keys->jwks_uri;
  } else {
    out.client_secret = crypto::GenerateClientSecret();
    c.secret_hash = crypto::HashClientSecret(pepper_, out.client_secret);
  }
  c.created_at = now;
  c.expires_at = expires_at;
  TRY(store_.credentials().Create(TenantScope::Org(a.organization_id), c));
  clients_.Invalidate(a.agent_id);
  boost::json::object meta;
  meta["credentialId"] = c.credential_id;
  meta["type"] = c.type;
  TRY(Audit(caller, "credential.generated", a, std::move(meta)));
  return out;
}

core::Result<std::vector<Credential>> AgentService::ListCredentials(const Principal& caller,
                                                                    const std::string& agent_id) {
  TRY_ASSIGN(Agent a, Visible(caller, agent_id));
  return store_.credentials().ListByAgent(TenantScope::Org(a.organization_id), a.agent_id);
}

core::Result<AgentService::NewSecret> AgentService::RotateCredential(
    const Principal& caller, const std::string& agent_id, const std::string& credential_id,
    const std::optional<CredentialKeys>& keys) {
  TRY_ASSIGN(Agent a, Visible(caller, agent_id));
  if (a.status == "decommissioned")
    return core::Error::Conflict("AGENT_ALREADY_DECOMMISSIONED", "Agent is decommissioned");
  TRY_ASSIGN(Credential c, OwnedCredential(a, credential_id));
  if (c.status == "revoked")
    return core::Error::Conflict("CREDENTIAL_ALREADY_REVOKED", "Credential is revoked");
  NewSecret out;
  if (c.type == "private_key_jwt") {
    // Rotating a key credential replaces its key set (SPEC §3).
    if (!keys)
      return core::Error::Validation(
          "Rotating a private_key_jwt credential needs the new \"jwks\" or \"jwksUri\"");
    c.jwks_json = keys->jwks_json;
    c.jwks_uri = keys->jwks_uri;
  } else {
    if (keys) return core::Error::Validation("A client_secret credential has no keys to replace");
    out.client_secret = crypto::GenerateClientSecret();
    c.secret_hash = crypto::HashClientSecret(pepper_, out.client_secret);
  }
  TRY(store_.credentials().Update(TenantScope::Org(a.organization_id), c));
  // The old secret is dead from here on (SPEC §4): drop the cached hash now.
  clients_.Invalidate(a.agent_id);
  out.credential = c;
  boost::json::object meta;
  meta["credentialId"] = c.credential_id;
  TRY(Audit(caller, "credential.rotated", a, std::move(meta)));
  return out;
}

core::Status AgentService::RevokeCredential(const Principal& caller, const std::string& agent_id,
                                            const std::string& credential_id) {
  TRY_ASSIGN(Agent a, Visible(caller, agent_id));
  TRY_ASSIGN(Credential c, OwnedCredential(a, credential_id));
  if (c.status == "revoked")
    return core::Error::Conflict("CREDENTIAL_ALREADY_REVOKED", "Credential is already revoked");
  c.status = "revoked";
  c.revoked_at = clock_.NowMs();
  TRY(store_.credentials().Update(TenantScope::Org(a.organization_id), c));
  clients_.Invalidate(a.agent_id);
  boost::json::object meta;
  meta["credentialId"] = c.credential_id;
  return Audit(caller, "credential.revoked", a, std::move(meta));
}

core::Result<AgentService::NewSecret> AgentService::Bootstrap(const std::string& admin_email) {
  const int64_t now = clock_.NowMs();
  Organization org;
  org.organization_id = system_org_id_;
  org.name = "System";
  org.slug = "system";
  org.plan_tier = "enterprise";
  org.max_agents = -1;
  org.created_at = org.updated_at = now;
  TRY_ASSIGN(auto existing, store_.orgs().Get(TenantScope::Org(system_org_id_), system_org_id_));
  if (!existing) TRY(store_.orgs().Create(TenantScope::Org(system_org_id_), org));
  Principal system;
  system.organization_id = system_org_id_;
  system.cross_tenant = true;
  for (const auto& s : {"agents:read", "agents:write", "tokens:read", "audit:read", "admin:orgs",
                        "webhooks:read", "webhooks:write", "openid"})
    system.scopes.insert(s);
  system.user_agent = "agentidp-bootstrap";
  AgentInput in;
  in.email = admin_email;
  in.agent_type = "orchestrator";
  in.version = "1.0.0";
  in.capabilities = std::vector<std::string>{"agentidp:admin"};
  in.owner = "agentidp";
  in.deployment_env = "production";
  in.role = "admin";
  TRY_ASSIGN(Agent admin, Create(system, in, [](const std::string&, const std::string&) {
               return std::set<std::string>{};
             }));
  return CreateCredential(system, admin.agent_id, std::nullopt);
}

}  // namespace agentidp::domain
