#include "domain/policy/policy.hpp"

#include "core/json.hpp"

namespace agentidp::domain {

namespace {
// Kept identical to config/policy.json (a unit test compares them).
constexpr std::string_view kDefaultPolicy = R"POLICY({
  "version": 1,
  "crossTenantScope": "admin:orgs",
  "crossClientExchangeRoles": [],
  "roles": {
    "member": ["agents:read", "tokens:read", "webhooks:read", "openid"],
    "admin": ["agents:read", "agents:write", "tokens:read", "audit:read", "webhooks:read", "webhooks:write", "openid"]
  },
  "routes": {
    "agents.create": ["agents:write"],
    "agents.list": ["agents:read"],
    "agents.get": ["agents:read"],
    "agents.update": ["agents:write"],
    "agents.delete": ["agents:write"],
    "credentials.create": ["agents:write"],
    "credentials.list": ["agents:write"],
    "credentials.rotate": ["agents:write"],
    "credentials.revoke": ["agents:write"],
    "token.introspect": ["tokens:read"],
    "token.revoke": [],
    "audit.list": ["audit:read"],
    "audit.verify": ["audit:read"],
    "audit.get": ["audit:read"],
    "oidc.agent_info": [],
    "delegation.create": [],
    "delegation.verify": [],
    "delegation.revoke": [],
    "orgs.create": ["admin:orgs"],
    "orgs.list": ["admin:orgs"],
    "orgs.get": ["admin:orgs"],
    "orgs.update": ["admin:orgs"],
    "orgs.delete": ["admin:orgs"],
    "orgs.members.add": ["admin:orgs"],
    "did.resolve": ["agents:read"],
    "did.keys.rotate": ["agents:write"],
    "compliance.agent_cards": [],
    "oidc.trust_policies.create": ["agents:write"],
    "oidc.trust_policies.list": ["agents:write"],
    "oidc.trust_policies.delete": ["agents:write"],
    "federation.partners.create": ["admin:orgs"],
    "federation.partners.list": ["admin:orgs"],
    "federation.partners.get": ["admin:orgs"],
    "federation.partners.update": ["admin:orgs"],
    "federation.partners.delete": ["admin:orgs"],
    "federation.verify": [],
    "tiers.status": []
  }
}
)POLICY";

bool IsScopeChar(unsigned char c) {
  return c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

core::Result<std::set<std::string>> ScopeArray(const boost::json::value& v,
                                               const std::string& where) {
  if (!v.is_array()) return core::Error::Validation(where + " must be an array of scopes");
  std::set<std::string> out;
  for (const auto& s : v.as_array()) {
    if (!s.is_string() || !IsKnownScope(std::string_view(s.as_string())))
      return core::Error::Validation(where + " names an unknown scope");
    out.emplace(s.as_string());
  }
  return out;
}
}  // namespace

bool IsKnownScope(std::string_view scope) {
  for (const auto& s : AllScopes())
    if (s == scope) return true;
  return false;
}

core::Result<std::set<std::string>> ParseScopeString(std::string_view text) {
  std::set<std::string> out;
  size_t i = 0;
  if (text.empty()) return out;
  while (true) {
    size_t end = text.find(' ', i);
    std::string_view tok =
        text.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i);
    if (tok.empty()) return core::Error::OAuth("invalid_scope", "Malformed scope string");
    for (unsigned char c : tok)
      if (!IsScopeChar(c)) return core::Error::OAuth("invalid_scope", "Malformed scope string");
    if (!IsKnownScope(tok))
      return core::Error::OAuth("invalid_scope", "Unknown scope: " + std::string(tok));
    out.emplace(tok);
    if (end == std::string_view::npos) break;
    i = end + 1;
  }
  return out;
}

std::string JoinScopes(const std::set<std::string>& scopes) {
  std::string out;
  for (const auto& s : scopes) {
    if (!out.empty()) out.push_back(' ');
    out += s;
  }
  return out;
}

std::string_view Policy::DefaultDocument() {
  return kDefaultPolicy;
}

core::Result<Policy> Policy::Parse(std::string_view json,
                                   const std::vector<std::string>& known_routes) {
  TRY_ASSIGN(boost::json::object doc, core::ParseJsonObjectStrict(json));
  Policy p;
  for (const auto& [key, value] : doc) {
    if (key == "version") {
      if (!value.is_int64() || value.as_int64() != 1)
        return core::Error::Validation("policy: \"version\" must be 1");
    } else if (key == "crossTenantScope") {
      if (!value.is_string() || !IsKnownScope(std::string_view(value.as_string())))
        return core::Error::Validation("policy: \"crossTenantScope\" must be a known scope");
      p.cross_tenant_scope_ = std::string(value.as_string());
    } else if (key == "crossClientExchangeRoles") {
      if (!value.is_array())
        return core::Error::Validation("policy: \"crossClientExchangeRoles\" must be an array");
      for (const auto& r : value.as_array()) {
        if (!r.is_string() || (r.as_string() != "member" && r.as_string() != "admin"))
          return core::Error::Validation(
              "policy: \"crossClientExchangeRoles\" holds roles: member, admin");
        p.cross_client_exchange_roles_.insert(std::string(r.as_string()));
      }
    } else if (key == "roles") {
      if (!value.is_object()) return core::Error::Validation("policy: \"roles\" must be an object");
      for (const auto& [role, scopes] : value.as_object()) {
        TRY_ASSIGN(auto set, ScopeArray(scopes, "policy: roles." + std::string(role)));
        p.roles_[std::string(role)] = std::move(set);
      }
    } else if (key == "routes") {
      if (!value.is_object())
        return core::Error::Validation("policy: \"routes\" must be an object");
      for (const auto& [route, scopes] : value.as_object()) {
        std::string id(route);
        bool known = false;
        for (const auto& k : known_routes) known = known || k == id;
        if (!known) return core::Error::Validation("policy: unknown route \"" + id + "\"");
        TRY_ASSIGN(auto set, ScopeArray(scopes, "policy: routes." + id));
        p.routes_[id] = std::move(set);
      }
    } else {
      return core::Error::Validation("policy: unknown key \"" + std::string(key) + "\"");
    }
  }
  for (const auto& k : known_routes)
    if (!p.routes_.count(k))
      return core::Error::Validation("policy: route \"" + k + "\" has no entry");
  if (!p.roles_.count("member") || !p.roles_.count("admin"))
    return core::Error::Validation("policy: roles \"member\" and \"admin\" are required");
  return p;
}

const std::set<std::string>& Policy::RequiredScopes(const std::string& route_id) const {
  // A scope no token can carry: routes missing from the policy are denied.
  static const std::set<std::string> kDenyAll = {" deny"};
  auto it = routes_.find(route_id);
  return it == routes_.end() ? kDenyAll : it->second;
}

bool Policy::Allows(const std::string& route_id, const std::set<std::string>& granted) const {
  for (const auto& s : RequiredScopes(route_id))
    if (!granted.count(s)) return false;
  return true;
}

std::set<std::string> Policy::GrantableScopes(const std::string& role, bool system_org) const {
  if (system_org && role == "admin") return {AllScopes().begin(), AllScopes().end()};
  auto it = roles_.find(role);
  return it == roles_.end() ? std::set<std::string>{} : it->second;
}

}  // namespace agentidp::domain
