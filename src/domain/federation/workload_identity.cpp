#include "domain/federation/workload_identity.hpp"

#include "core/json.hpp"
#include "crypto/hash.hpp"
#include "crypto/jws.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>

namespace agentidp::domain {

namespace {

using core::Error;

Error Bad(std::string message) {
  return Error::Validation(std::move(message));
}

Error InvalidGrant(std::string message) {
  return Error::OAuth("invalid_grant", std::move(message));
}

bool SafeText(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  return true;
}

// GitHub owner/name, GitLab group[/subgroup...]/project: path segments of [A-Za-z0-9._-].
bool ValidRepository(std::string_view s, bool nested) {
  if (s.empty() || s.size() > 255) return false;
  size_t slashes = 0;
  size_t seg = 0;
  for (char c : s) {
    if (c == '/') {
      if (seg == 0) return false;
      ++slashes;
      seg = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
    ++seg;
  }
  if (seg == 0) return false;
  return nested ? slashes >= 1 : slashes == 1;
}

// A Kubernetes namespace or service account name (DNS subdomain characters).
bool ValidK8sName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  return true;
}

std::string StringClaim(const boost::json::object& claims, std::string_view name) {
  const auto* v = claims.if_contains(name);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

bool AudienceContains(const boost::json::object& claims, const std::string& audience) {
  const auto* aud = claims.if_contains("aud");
  if (!aud) return false;
  if (aud->is_string()) return aud->get_string() == audience;
  if (aud->is_array())
    for (const auto& a : aud->get_array())
      if (a.is_string() && a.get_string() == audience) return true;
  return false;
}

}  // namespace

core::Result<TrustPolicy> ParseTrustPolicy(const boost::json::object& body,
                                           const FederationSettings& settings) {
  TrustPolicy p;
  std::string ns, service_account;
  boost::json::object conditions;
  for (const auto& kv : body) {
    const std::string key(kv.key());
    const auto& v = kv.value();
    auto str = [&](size_t max) -> core::Result<std::string> {
      if (!v.is_string() || !SafeText(v.get_string(), max))
        return Bad("\"" + key + "\" must be a string of 1-" + std::to_string(max) +
                   " printable characters");
      return std::string(v.get_string());
    };
    if (key == "provider") {
      TRY_ASSIGN(p.provider, str(2048));
    } else if (key == "issuer") {
      TRY_ASSIGN(p.issuer, str(2048));
    } else if (key == "repository") {
      TRY_ASSIGN(p.repository, str(255));
    } else if (key == "branch") {
      if (v.is_null()) continue;
      TRY_ASSIGN(p.branch, str(255));
      if (p.branch.find(' ') != std::string::npos || p.branch.rfind("refs/", 0) == 0)
        return Bad("\"branch\" is a branch name (main), not a ref");
    } else if (key == "agentId") {
      if (v.is_null()) continue;
      TRY_ASSIGN(p.agent_id, str(64));
      if (!core::IsUuid(p.agent_id)) return Bad("\"agentId\" must be a UUID");
    } else if (key == "audience") {
      TRY_ASSIGN(p.audience, str(512));
    } else if (key == "namespace") {
      TRY_ASSIGN(ns, str(253));
    } else if (key == "serviceAccount") {
      TRY_ASSIGN(service_account, str(253));
    } else if (key == "conditions") {
      if (!v.is_object()) return Bad("\"conditions\" must be an object of claim: exact value");
      if (v.get_object().size() > 20) return Bad("\"conditions\" holds at most 20 claims");
      for (const auto& c : v.get_object()) {
        if (!SafeText(c.key(), 128))
          return Bad("\"conditions\" claim names must be 1-128 printable characters");
        if (!c.value().is_string() || c.value().get_string().size() > 1024)
          return Bad("\"conditions." + std::string(c.key()) +
                     "\" must be a string (exact match) of at most 1024 characters");
        conditions[c.key()] = c.value();
      }
    } else {
      return Bad("Unknown field \"" + key + "\"");
    }
  }
  if (p.provider.empty())
    return Bad("\"provider\" is required: github, gitlab, kubernetes or an https issuer URL");
  const bool git = p.provider == "github" || p.provider == "gitlab";
  if (git) {
    if (!p.issuer.empty())
      return Bad("\"issuer\" is configured for provider " + p.provider + "; omit it");
    if (!ValidRepository(p.repository, p.provider == "gitlab"))
      return Bad(p.provider == "github"
                     ? "\"repository\" must be owner/name"
                     : "\"repository\" must be the project path group[/subgroup]/project");
  } else {
    if (!p.repository.empty())
      return Bad("\"repository\" applies to providers github and gitlab only");
    if (!p.branch.empty()) return Bad("\"branch\" applies to providers github and gitlab only");
  }
  if (p.provider == "kubernetes") {
    if (p.issuer.empty())
      return Bad(
          "\"issuer\" (the cluster's service-account issuer URL) is required for "
          "provider kubernetes");
    TRY(ValidateIssuerUrl(p.issuer, "issuer"));
    if (!ValidK8sName(ns) || !ValidK8sName(service_account))
      return Bad(
          "\"namespace\" and \"serviceAccount\" are required for provider kubernetes "
          "(lowercase DNS names)");
    p.repository = ns + "/" + service_account;
  } else {
    if (!ns.empty() || !service_account.empty())
      return Bad("\"namespace\" and \"serviceAccount\" apply to provider kubernetes only");
  }
  if (!git && p.provider != "kubernetes") {
    // A generic issuer: the provider is its URL.
    TRY(ValidateIssuerUrl(p.provider, "provider"));
    if (!p.issuer.empty() && p.issuer != p.provider)
      return Bad("\"issuer\" must equal \"provider\" for a generic issuer (or be omitted)");
    p.issuer = p.provider;
    p.provider = "oidc";
    if (conditions.empty())
      return Bad("\"conditions\" must name at least one claim for a generic issuer");
  }
  if (p.audience.empty()) p.audience = settings.our_issuer;
  p.conditions_json = boost::json::serialize(conditions);
  return p;
}

boost::json::object TrustPolicyToJson(const TrustPolicy& p, const FederationSettings& settings) {
  boost::json::object o;
  o["id"] = p.policy_id;
  o["organizationId"] = p.organization_id;
  if (p.provider == "oidc") {
    o["provider"] = p.issuer;
    o["issuer"] = p.issuer;
  } else {
    o["provider"] = p.provider;
    o["issuer"] = p.provider == "github"   ? settings.github_issuer
                  : p.provider == "gitlab" ? settings.gitlab_issuer
                                           : p.issuer;
  }
  if (p.provider == "kubernetes") {
    const auto slash = p.repository.find('/');
    o["namespace"] = p.repository.substr(0, slash);
    o["serviceAccount"] = slash == std::string::npos ? "" : p.repository.substr(slash + 1);
  } else if (p.provider != "oidc") {
    o["repository"] = p.repository;
    o["branch"] = p.branch.empty() ? boost::json::value(nullptr) : boost::json::value(p.branch);
  }
  o["agentId"] = p.agent_id.empty() ? boost::json::value(nullptr) : boost::json::value(p.agent_id);
  o["bootstrap"] = p.agent_id.empty();
  o["audience"] = p.audience;
  auto cond = core::ParseJsonObjectStrict(p.conditions_json);
  o["conditions"] = cond.ok() ? std::move(cond).value() : boost::json::object{};
  o["createdBy"] = p.created_by;
  o["createdAt"] = core::FormatIso8601(p.created_at);
  return o;
}

std::string TrustPolicyMismatch(const TrustPolicy& p, const boost::json::object& claims) {
  if (p.provider == "github") {
    if (StringClaim(claims, "repository") != p.repository)
      return "the token's repository does not match the trust policy";
    if (!p.branch.empty() && StringClaim(claims, "ref") != "refs/heads/" + p.branch)
      return "the token's ref does not match the trust policy's branch";
  } else if (p.provider == "gitlab") {
    if (StringClaim(claims, "project_path") != p.repository)
      return "the token's project_path does not match the trust policy";
    if (!p.branch.empty() &&
        (StringClaim(claims, "ref") != p.branch || StringClaim(claims, "ref_type") != "branch"))
      return "the token's ref does not match the trust policy's branch";
  } else if (p.provider == "kubernetes") {
    const auto slash = p.repository.find('/');
    const std::string ns = p.repository.substr(0, slash);
    const std::string sa = slash == std::string::npos ? "" : p.repository.substr(slash + 1);
    if (StringClaim(claims, "sub") != "system:serviceaccount:" + ns + ":" + sa)
      return "the token's subject is not the trust policy's service account";
    const auto* k8s = claims.if_contains("kubernetes.io");
    if (!k8s || !k8s->is_object()) return "the token has no kubernetes.io claim";
    const auto& k = k8s->get_object();
    const auto* sav = k.if_contains("serviceaccount");
    if (StringClaim(k, "namespace") != ns || !sav || !sav->is_object() ||
        StringClaim(sav->get_object(), "name") != sa)
      return "the token's kubernetes.io claim does not match the trust policy";
  }
  auto cond = core::ParseJsonObjectStrict(p.conditions_json);
  if (!cond.ok()) return "the trust policy's conditions are unreadable";
  for (const auto& c : *cond) {
    const auto* v = claims.if_contains(c.key());
    if (!v || !v->is_string() || !c.value().is_string() ||
        v->get_string() != c.value().get_string())
      return "the token's \"" + std::string(c.key()) + "\" claim does not match the trust policy";
  }
  if (!AudienceContains(claims, p.audience))
    return "the token's audience is not the trust policy's audience";
  return "";
}

WorkloadIdentity::WorkloadIdentity(Store& store, ClientDirectory& clients, TokenService& tokens,
                                   IssuerKeys& issuer_keys, ReplayCache& replay,
                                   const core::Clock& clock, core::Random& random,
                                   FederationSettings settings)
    : store_(store),
      clients_(clients),
      tokens_(tokens),
      issuer_keys_(issuer_keys),
      replay_(replay),
      clock_(clock),
      random_(random),
      settings_(std::move(settings)) {}

core::Result<TrustPolicy> WorkloadIdentity::CreatePolicy(const Principal& caller,
                                                         const boost::json::object& body) {
  TRY_ASSIGN(TrustPolicy p, ParseTrustPolicy(body, settings_));
  if (!p.agent_id.empty()) {
    TRY_ASSIGN(auto agent,
               store_.agents().Get(TenantScope::Org(caller.organization_id), p.agent_id));
    if (!agent || agent->organization_id != caller.organization_id)
      return Error::NotFound("AGENT_NOT_FOUND", "Agent not found");
    if (agent->status == "decommissioned")
      return Error::Conflict("AGENT_DECOMMISSIONED", "The agent is decommissioned");
  }
  p.policy_id = random_.UuidV4();
  p.organization_id = caller.organization_id;
  p.created_by = caller.agent_id;
  p.created_at = clock_.NowMs();
  TRY(store_.federation().CreateTrustPolicy(TenantScope::Org(p.organization_id), p));
  return p;
}

core::Result<std::vector<TrustPolicy>> WorkloadIdentity::ListPolicies(const Principal& caller) {
  return store_.federation().ListTrustPolicies(TenantScope::Org(caller.organization_id),
                                               caller.organization_id);
}

core::Result<TrustPolicy> WorkloadIdentity::DeletePolicy(const Principal& caller,
                                                         const std::string& policy_id) {
  auto not_found = Error::NotFound("TRUST_POLICY_NOT_FOUND", "Trust policy not found");
  if (!core::IsUuid(policy_id)) return not_found;
  const TenantScope own = TenantScope::Org(caller.organization_id);
  TRY_ASSIGN(auto p, store_.federation().GetTrustPolicy(own, policy_id));
  if (!p || p->organization_id != caller.organization_id) return not_found;
  TRY_ASSIGN(bool deleted, store_.federation().DeleteTrustPolicy(own, policy_id));
  if (!deleted) return not_found;
  return *p;
}

core::Result<FederatedToken> WorkloadIdentity::Exchange(
    std::string_view external_jwt, const std::optional<std::string>& policy_id,
    const std::optional<std::string>& requested_scope, const Policy& policy,
    const std::string& dpop_jkt) {
  // 1. Which issuer: from the unverified token, only to find the policies that name it.
  auto decoded = crypto::DecodeJwtUnverified(external_jwt, 16384);
  if (!decoded.ok()) return InvalidGrant("The external token is not a well-formed signed JWT");
  const std::string iss = StringClaim(decoded->claims, "iss");
  if (iss.empty() || !ValidateIssuerUrl(iss, "iss").ok())
    return InvalidGrant("The external token's \"iss\" is not an https issuer URL");
  std::vector<TrustPolicy> candidates;
  auto add = [&](const std::string& provider, const std::string& issuer) -> core::Status {
    // The exchange is unauthenticated until a policy matches: which organization trusts this
    // issuer is what the lookup finds out (a system-scope read).
    TRY_ASSIGN(auto list, store_.federation().ListTrustPoliciesByIssuer(TenantScope::System(),
                                                                        provider, issuer));
    for (auto& p : list) candidates.push_back(std::move(p));
    return core::Ok();
  };
  if (iss == settings_.github_issuer) TRY(add("github", ""));
  if (iss == settings_.gitlab_issuer) TRY(add("gitlab", ""));
  TRY(add("kubernetes", iss));
  TRY(add("oidc", iss));
  if (policy_id) {
    std::erase_if(candidates, [&](const TrustPolicy& p) { return p.policy_id != *policy_id; });
    if (candidates.empty())
      return InvalidGrant("No trust policy with that id trusts the token's issuer");
  }
  // An issuer no policy names is never contacted.
  if (candidates.empty()) return InvalidGrant("No trust policy trusts the token's issuer");

  // 2. Signature with the issuer's published keys; refresh once on an unknown kid.
  const auto* kid_v = decoded->header.if_contains("kid");
  const std::string kid = kid_v && kid_v->is_string() ? std::string(kid_v->get_string()) : "";
  const auto* alg_v = decoded->header.if_contains("alg");
  const std::string alg = alg_v && alg_v->is_string() ? std::string(alg_v->get_string()) : "";
  auto map_fetch = [](const Error& e) -> Error {
    if (e.kind == core::Errc::kUnavailable) {
      Error out = Error::OAuth("temporarily_unavailable",
                               "The issuer's keys could not be fetched; retry later", 503);
      out.retry_after = 5;
      return out;
    }
    return InvalidGrant("The issuer's keys may not be fetched: " + e.message);
  };
  auto set = issuer_keys_.Get(iss, false);
  if (!set.ok()) return map_fetch(set.error());
  auto find_key = [&](const KeySet& ks) -> const crypto::PublicKey* {
    if (!kid.empty()) return ks.Find(kid, alg);
    const crypto::PublicKey* only = nullptr;
    int n = 0;
    for (const auto& e : ks.keys)
      if (e.key->alg() == alg) {
        only = e.key.get();
        ++n;
      }
    return n == 1 ? only : nullptr;
  };
  std::shared_ptr<const KeySet> keys = *set;
  if (!find_key(*keys)) {
    auto again = issuer_keys_.Get(iss, true);
    if (!again.ok()) return map_fetch(again.error());
    keys = *again;
  }
  const crypto::PublicKey* key = find_key(*keys);
  crypto::JwtVerifyOptions opts;
  opts.allowed_algs = {"RS256", "ES256", "EdDSA"};
  opts.allowed_typs = {"", "JWT"};
  opts.issuer = iss;
  opts.now_s = clock_.NowSeconds();
  opts.leeway_s = settings_.leeway_s;
  opts.require_exp = true;
  opts.require_iat = true;
  auto verified = crypto::VerifyJwt(
      external_jwt, [&](std::string_view, std::string_view) { return key; }, opts);
  if (!verified.ok()) {
    if (!key)
      return InvalidGrant("The external token is signed with a key its issuer does not publish");
    return InvalidGrant("The external token is invalid: " + verified.error().message);
  }
  const auto& claims = verified->claims;

  // 3. The one policy the token satisfies.
  std::vector<const TrustPolicy*> matches;
  std::string reason;
  for (const auto& p : candidates) {
    std::string why = TrustPolicyMismatch(p, claims);
    if (why.empty())
      matches.push_back(&p);
    else if (reason.empty())
      reason = why;
  }
  if (matches.empty())
    return InvalidGrant(candidates.size() == 1
                            ? "The external token does not satisfy the trust policy: " + reason
                            : "The external token satisfies no trust policy");
  if (matches.size() > 1)
    return Error::OAuth("invalid_request",
                        "Several trust policies match this token; name one with policyId");
  const TrustPolicy& chosen = *matches.front();

  // 4. Lifetime: at most 1 h, the configured TTL, and what the external token has left.
  const auto* exp_v = claims.if_contains("exp");
  const int64_t exp_s = exp_v && exp_v->is_int64() ? exp_v->get_int64() : 0;
  const int64_t remaining = exp_s - opts.now_s;
  const int64_t ttl = std::min({kMaxFederatedTokenTtlS, tokens_.settings().ttl_s, remaining});
  if (ttl < 1) return InvalidGrant("The external token has expired");

  // 5. The subject and its scopes.
  const bool bootstrap = chosen.agent_id.empty();
  TRY_ASSIGN(auto record, clients_.Find(bootstrap ? chosen.created_by : chosen.agent_id, true));
  if (!record || !record->Usable() || record->agent.organization_id != chosen.organization_id)
    return InvalidGrant(bootstrap ? "The agent that created this bootstrap policy is not active"
                                  : "The trust policy's agent (or its organization) is not active");
  std::set<std::string> allowed;
  if (bootstrap) {
    // The policy's creator vouches for the workload, and only while it may write agents
    // itself. The token can register agents: agents:write plus the scopes of the member role
    // (an agent is never created with more privileges than its creator), within the
    // creator's own.
    const auto creator = tokens_.GrantableScopes(record->agent, policy);
    if (!creator.count("agents:write"))
      return InvalidGrant(
          "The agent that created this bootstrap policy may no longer write agents");
    allowed = {"agents:write"};
    for (const auto& s : policy.GrantableScopes(
             "member", chosen.organization_id == tokens_.settings().system_organization_id))
      if (creator.count(s) && s != "openid") allowed.insert(s);
  } else {
    allowed = tokens_.GrantableScopes(record->agent, policy);
    allowed.erase("openid");
  }
  std::set<std::string> scopes = allowed;
  if (requested_scope) {
    if (requested_scope->empty())
      return Error::OAuth("invalid_scope", "scope must not be empty; omit it for the default");
    TRY_ASSIGN(scopes, ParseScopeString(*requested_scope));
    for (const auto& s : scopes)
      if (!allowed.count(s))
        return Error::OAuth("invalid_scope", "Scope not allowed by this trust policy: " + s);
  }

  // 6. Once only (after every other check, so a refused token is not burned).
  const std::string jti = StringClaim(claims, "jti");
  const std::string replay_key =
      iss + "|" + (jti.empty() ? "sha256:" + crypto::Sha256Hex(external_jwt) : "jti:" + jti);
  auto first = replay_.Consume("external_jti", replay_key, (exp_s + settings_.leeway_s) * 1000);
  if (!first.ok()) {
    Error e = Error::OAuth("temporarily_unavailable",
                           "The external token could not be checked for reuse; retry", 503);
    e.retry_after = 1;
    return e;
  }
  if (!*first) return InvalidGrant("The external token has already been used");

  boost::json::object extra;
  boost::json::object fed;
  fed["policy_id"] = chosen.policy_id;
  fed["iss"] = iss;
  fed["sub"] = StringClaim(claims, "sub");
  if (bootstrap) fed["bootstrap"] = true;
  extra["federated"] = std::move(fed);
  TRY_ASSIGN(IssuedToken issued,
             tokens_.IssueForAgent(record->agent, scopes, ttl, extra, dpop_jkt));
  FederatedToken out;
  out.token = std::move(issued);
  out.policy = chosen;
  out.agent_id = record->agent.agent_id;
  out.organization_id = record->agent.organization_id;
  out.bootstrap = bootstrap;
  out.external_issuer = iss;
  out.external_subject = StringClaim(claims, "sub");
  out.external_jti = jti;
  return out;
}

}  // namespace agentidp::domain
