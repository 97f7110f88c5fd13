#include "app/api.hpp"

#include "core/json.hpp"
#include "crypto/hash.hpp"
#include "crypto/jws.hpp"
#include "http/basic_auth.hpp"
#include "http/error_mapping.hpp"
#include "http/form.hpp"

#include <boost/json/serialize.hpp>

#include <cctype>
#include <chrono>

namespace agentidp::app {

namespace {

using core::Error;
using http::Responder;
using http::Response;

Response Json(int status, const boost::json::value& v) {
  return http::JsonResponse(status, boost::json::serialize(v));
}

// 201 with the new resource and where it lives.
Response Created(const boost::json::value& v, std::string location) {
  Response r = Json(201, v);
  r.SetHeader("Location", std::move(location));
  return r;
}

Response NoContent() {
  Response r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

Response NoStore(Response r) {
  r.SetHeader("Cache-Control", "no-store");
  r.SetHeader("Pragma", "no-cache");
  return r;
}

// Finishes with a Result<Response>: the value, or the mapped error.
void Reply(Responder& done, core::Result<Response> r) {
  done(r.ok() ? std::move(r).value() : http::ErrorResponse(r.error()));
}

core::Result<boost::json::object> JsonBody(const http::Request& req) {
  // A body-less POST (e.g. a credential with no options) needs no Content-Type.
  if (req.body.empty() && req.Header("content-type").empty()) return boost::json::object{};
  if (http::MediaType(req.Header("content-type")) != "application/json")
    return Error{core::Errc::kUnsupportedMedia, "VALIDATION_ERROR",
                 "Content-Type must be application/json"};
  if (req.body.empty()) return boost::json::object{};
  auto obj = core::ParseJsonObjectStrict(req.body);
  if (!obj.ok()) return std::move(obj).error();
  return std::move(obj).value();
}

// `?page=&limit=` (SPEC §1): page >= 1, 1 <= limit <= 100.
core::Result<domain::Page> PageParams(const std::vector<std::pair<std::string, std::string>>& q) {
  domain::Page p;
  for (const auto& kv : q) {
    // Named references, not structured bindings: lambdas capture those only from C++20
    // compilers newer than clang 14.
    const std::string& k = kv.first;
    const std::string& v = kv.second;
    auto num = [&](int min, int max) -> core::Result<int> {
      int n = 0;
      if (v.empty() || v.size() > 6) return Error::Validation("\"" + k + "\" must be an integer");
      for (char c : v) {
        if (c < '0' || c > '9') return Error::Validation("\"" + k + "\" must be an integer");
        n = n * 10 + (c - '0');
      }
      if (n < min || n > max)
        return Error::Validation("\"" + k + "\" must be from " + std::to_string(min) + " to " +
                                 std::to_string(max));
      return n;
    };
    if (k == "page") {
      TRY_ASSIGN(p.page, num(1, 1'000'000));
    } else if (k == "limit") {
      TRY_ASSIGN(p.limit, num(1, 100));
    }
  }
  return p;
}

std::string PageBody(boost::json::array data, int64_t total, const domain::Page& p) {
  boost::json::object o;
  o["data"] = std::move(data);
  o["total"] = total;
  o["page"] = p.page;
  o["limit"] = p.limit;
  return boost::json::serialize(o);
}

// Parameters of an OAuth form; refuses repeats (RFC 6749 §3.1, §3.2).
core::Result<std::vector<std::pair<std::string, std::string>>> OAuthForm(const http::Request& req) {
  if (http::MediaType(req.Header("content-type")) != "application/x-www-form-urlencoded")
    return Error::OAuth("invalid_request",
                        "Content-Type must be application/x-www-form-urlencoded");
  TRY_ASSIGN(auto form, http::ParseFormUrlEncoded(req.body));
  for (size_t i = 0; i < form.size(); ++i)
    for (size_t j = i + 1; j < form.size(); ++j)
      if (form[i].first == form[j].first)
        return Error::OAuth("invalid_request", "Parameter \"" + form[i].first + "\" is repeated");
  return form;
}

const std::string* FormValue(const std::vector<std::pair<std::string, std::string>>& form,
                             std::string_view name) {
  for (const auto& [k, v] : form)
    if (k == name) return &v;
  return nullptr;
}

// RFC 6749 §4.1.2.1 names temporarily_unavailable; OAuth endpoints keep the OAuth envelope.
Error OAuthUnavailable(std::string message) {
  Error e = Error::OAuth("temporarily_unavailable", std::move(message), 503);
  e.retry_after = 1;
  return e;
}

Error OAuthRateLimited(int64_t retry_after) {
  Error e = Error::OAuth("rate_limit_exceeded", "Too many requests", 429);
  e.retry_after = static_cast<int>(retry_after);
  return e;
}

// Over an organization's daily limit (SPEC §8): 429 until the next 00:00 UTC.
std::string QuotaMessage(const domain::RateDecision& d, const char* what) {
  return "The organization's daily limit of " + std::to_string(d.quota_limit) + " " + what +
         " is reached; it resets at 00:00 UTC";
}

Error OAuthQuotaExceeded(const domain::RateDecision& d) {
  Error e = Error::OAuth("rate_limit_exceeded", QuotaMessage(d, "token issuances"), 429);
  e.retry_after = static_cast<int>(d.retry_after_s);
  return e;
}

Error ApiQuotaExceeded(const domain::RateDecision& d) {
  Error e = Error::RateLimited(static_cast<int>(d.retry_after_s), QuotaMessage(d, "API calls"));
  e.details["limit"] = d.quota_limit;
  e.details["period"] = "day";
  return e;
}

// An audit record of what this request did, for `agent_id` in `organization_id`, with the
// request's client address and user agent (as the principal's, cut to 256 characters).
domain::AuditRecord RequestRecord(const RequestContext& ctx, std::string action,
                                  std::string agent_id, std::string organization_id) {
  domain::AuditRecord rec;
  rec.agent_id = std::move(agent_id);
  rec.organization_id = std::move(organization_id);
  rec.action = std::move(action);
  rec.ip_address = ctx.req.remote_ip;
  rec.user_agent = std::string(ctx.req.Header("user-agent").substr(0, 256));
  return rec;
}

void RetryOnWorker(Responder& done) {
  Response r;
  r.status = 0;  // kRetryOnWorker
  done(std::move(r));
}

void AddRateHeaders(RequestContext& ctx, const domain::RateDecision& d) {
  ctx.extra_headers.emplace_back("X-RateLimit-Limit", std::to_string(d.limit));
  ctx.extra_headers.emplace_back("X-RateLimit-Remaining", std::to_string(d.remaining));
  ctx.extra_headers.emplace_back("X-RateLimit-Reset", std::to_string(d.reset_epoch_s));
}

template <auto Method>
HandlerFn H() {
  return [](Api& api, RequestContext& ctx, Responder done) { (api.*Method)(ctx, std::move(done)); };
}

}  // namespace

const std::vector<Route>& Api::Routes() {
  using A = AuthKind;
  using E = Exec;
  static const std::vector<Route> kRoutes = {
      {"GET", "/health", "", A::kNone, E::kInline, H<&Api::Health>()},
      {"GET", "/health/detailed", "", A::kNone, E::kWorker, H<&Api::HealthDetailed>()},
      {"GET", "/metrics", "", A::kNone, E::kInline, H<&Api::MetricsText>()},
      {"GET", "/.well-known/openid-configuration", "", A::kNone, E::kInline, H<&Api::Discovery>()},
      {"GET", "/.well-known/oauth-authorization-server", "", A::kNone, E::kInline,
       H<&Api::Discovery>()},
      {"GET", "/.well-known/jwks.json", "", A::kNone, E::kInline, H<&Api::Jwks>()},
      {"GET", "/agent-info", "oidc.agent_info", A::kBearer, E::kWorker, H<&Api::AgentInfo>()},
      {"POST", "/api/v1/token", "", A::kNone, E::kFast, H<&Api::Token>()},
      {"POST", "/api/v1/oauth2/token", "", A::kNone, E::kFast, H<&Api::Token>()},
      {"POST", "/api/v1/token/introspect", "token.introspect", A::kClient, E::kFast,
       H<&Api::Introspect>()},
      {"POST", "/api/v1/oauth2/introspect", "token.introspect", A::kClient, E::kFast,
       H<&Api::Introspect>()},
      {"POST", "/api/v1/token/revoke", "token.revoke", A::kClient, E::kWorker, H<&Api::Revoke>()},
      {"POST", "/api/v1/oauth2/revoke", "token.revoke", A::kClient, E::kWorker, H<&Api::Revoke>()},
      {"POST", "/api/v1/agents", "agents.create", A::kBearer, E::kWorker, H<&Api::CreateAgent>()},
      {"GET", "/api/v1/agents", "agents.list", A::kBearer, E::kWorker, H<&Api::ListAgents>()},
      {"GET", "/api/v1/agents/{agentId}", "agents.get", A::kBearer, E::kWorker,
       H<&Api::GetAgent>()},
      {"PATCH", "/api/v1/agents/{agentId}", "agents.update", A::kBearer, E::kWorker,
       H<&Api::UpdateAgent>()},
      {"DELETE", "/api/v1/agents/{agentId}", "agents.delete", A::kBearer, E::kWorker,
       H<&Api::DeleteAgent>()},
      {"POST", "/api/v1/agents/{agentId}/credentials", "credentials.create", A::kBearer, E::kWorker,
       H<&Api::CreateCredential>()},
      {"GET", "/api/v1/agents/{agentId}/credentials", "credentials.list", A::kBearer, E::kWorker,
       H<&Api::ListCredentials>()},
      {"POST", "/api/v1/agents/{agentId}/credentials/{credentialId}/rotate", "credentials.rotate",
       A::kBearer, E::kWorker, H<&Api::RotateCredential>()},
      {"DELETE", "/api/v1/agents/{agentId}/credentials/{credentialId}", "credentials.revoke",
       A::kBearer, E::kWorker, H<&Api::RevokeCredential>()},
      {"GET", "/api/v1/audit", "audit.list", A::kBearer, E::kWorker, H<&Api::ListAudit>()},
      {"GET", "/api/v1/audit/verify", "audit.verify", A::kBearer, E::kWorker,
       H<&Api::VerifyAudit>()},
      {"GET", "/api/v1/audit/{eventId}", "audit.get", A::kBearer, E::kWorker, H<&Api::GetAudit>()},
      // Workload identity federation (SPEC §6) and federation partners (SPEC §4).
      {"POST", "/api/v1/oidc/trust-policies", "oidc.trust_policies.create", A::kBearer, E::kWorker,
       H<&Api::CreateTrustPolicy>()},
      {"GET", "/api/v1/oidc/trust-policies", "oidc.trust_policies.list", A::kBearer, E::kWorker,
       H<&Api::ListTrustPolicies>()},
      {"DELETE", "/api/v1/oidc/trust-policies/{policyId}", "oidc.trust_policies.delete", A::kBearer,
       E::kWorker, H<&Api::DeleteTrustPolicy>()},
      {"POST", "/api/v1/oidc/token", "", A::kNone, E::kWorker, H<&Api::OidcToken>()},
      {"POST", "/api/v1/federation/trust", "federation.partners.create", A::kBearer, E::kWorker,
       H<&Api::CreatePartner>()},
      {"GET", "/api/v1/federation/partners", "federation.partners.list", A::kBearer, E::kWorker,
       H<&Api::ListPartners>()},
      {"GET", "/api/v1/federation/partners/{partnerId}", "federation.partners.get", A::kBearer,
       E::kWorker, H<&Api::GetPartner>()},
      {"PATCH", "/api/v1/federation/partners/{partnerId}", "federation.partners.update", A::kBearer,
       E::kWorker, H<&Api::UpdatePartner>()},
      {"DELETE", "/api/v1/federation/partners/{partnerId}", "federation.partners.delete",
       A::kBearer, E::kWorker, H<&Api::DeletePartner>()},
      {"POST", "/api/v1/federation/verify", "federation.verify", A::kBearer, E::kWorker,
       H<&Api::VerifyFederated>()},
      {"POST", "/api/v1/oauth2/token/delegate", "delegation.create", A::kBearer, E::kWorker,
       H<&Api::Delegate>()},
      {"POST", "/api/v1/oauth2/token/verify-delegation", "delegation.verify", A::kBearer,
       E::kWorker, H<&Api::VerifyDelegation>()},
      {"DELETE", "/api/v1/oauth2/token/delegate/{chainId}", "delegation.revoke", A::kBearer,
       E::kWorker, H<&Api::RevokeDelegation>()},
      // Organizations and DIDs (issue 5).
      {"POST", "/api/v1/organizations", "orgs.create", A::kBearer, E::kWorker,
       H<&Api::CreateOrg>()},
      {"GET", "/api/v1/organizations", "orgs.list", A::kBearer, E::kWorker, H<&Api::ListOrgs>()},
      {"GET", "/api/v1/organizations/{orgId}", "orgs.get", A::kBearer, E::kWorker,
       H<&Api::GetOrg>()},
      {"PATCH", "/api/v1/organizations/{orgId}", "orgs.update", A::kBearer, E::kWorker,
       H<&Api::UpdateOrg>()},
      {"DELETE", "/api/v1/organizations/{orgId}", "orgs.delete", A::kBearer, E::kWorker,
       H<&Api::DeleteOrg>()},
      {"POST", "/api/v1/organizations/{orgId}/members", "orgs.members.add", A::kBearer, E::kWorker,
       H<&Api::AddOrgMember>()},
      {"GET", "/.well-known/did.json", "", A::kNone, E::kInline, H<&Api::InstanceDid>()},
      {"GET", "/agents/{agentId}/did", "", A::kNone, E::kWorker, H<&Api::AgentDidDocument>()},
      {"GET", "/agents/{agentId}/did.json", "", A::kNone, E::kWorker, H<&Api::AgentDidDocument>()},
      {"GET", "/agents/{agentId}/did/resolve", "did.resolve", A::kBearer, E::kWorker,
       H<&Api::ResolveAgentDid>()},
      {"GET", "/agents/{agentId}/did/card", "", A::kNone, E::kWorker, H<&Api::AgentCard>()},
      {"POST", "/api/v1/agents/{agentId}/did/keys/rotate", "did.keys.rotate", A::kBearer,
       E::kWorker, H<&Api::RotateAgentDidKey>()},
      {"GET", "/api/v1/compliance/agent-cards", "compliance.agent_cards", A::kBearer, E::kWorker,
       H<&Api::ComplianceAgentCards>()},
      // Usage tiers (SPEC §8).
      {"GET", "/api/v1/tiers/status", "tiers.status", A::kBearer, E::kWorker,
       H<&Api::TierStatus>()},
  };
  return kRoutes;
}

std::vector<std::string> Api::PolicyRouteIds() {
  std::vector<std::string> ids;
  for (const auto& r : Routes())
    if (!r.id.empty() && std::find(ids.begin(), ids.end(), r.id) == ids.end()) ids.push_back(r.id);
  return ids;
}

Api::Api(Services services) : s_(std::move(services)) {
  for (const auto& r : Routes()) router_.Add(r.method, r.pattern, &r);
  auto& m = *s_.metrics;
  tokens_issued_ = &m.GetCounter("agentidp_tokens_issued_total", "Access tokens issued",
                                 {{"alg", s_.keyring->options().alg}});
  auth_failures_ =
      &m.GetCounter("agentidp_auth_failures_total", "Failed client or bearer authentications", {});
  revocations_ = &m.GetCounter("agentidp_tokens_revoked_total", "Access tokens revoked", {});
  tokens_exchanged_ = &m.GetCounter("agentidp_tokens_exchanged_total",
                                    "Access tokens issued by RFC 8693 token exchange", {});
  delegations_created_ =
      &m.GetCounter("agentidp_delegations_created_total", "A2A delegations created", {});
  delegations_verified_ = &m.GetCounter("agentidp_delegations_verified_total",
                                        "Delegation verifications answered valid", {});
  delegations_revoked_ =
      &m.GetCounter("agentidp_delegations_revoked_total", "Delegation chains revoked", {});
  chain_valid_ = &m.GetGauge("agentidp_audit_chain_valid",
                             "1 if the last audit chain verification passed, 0 if it failed", {});
  chain_valid_->Set(1);
  shed_ = &m.GetCounter("agentidp_requests_shed_total",
                        "Requests refused with 503 because the worker queue was full", {});
  const char* refusals_help = "Requests refused with 429 over an organization's daily limit";
  token_quota_refusals_ =
      &m.GetCounter("agentidp_daily_limit_refusals_total", refusals_help, {{"counter", "tokens"}});
  api_quota_refusals_ =
      &m.GetCounter("agentidp_daily_limit_refusals_total", refusals_help, {{"counter", "api"}});

  // Discovery documents are fixed for the process lifetime: build them once.
  const std::string& iss = s_.issuer;
  boost::json::object meta;
  meta["issuer"] = iss;
  meta["token_endpoint"] = iss + "/api/v1/token";
  meta["introspection_endpoint"] = iss + "/api/v1/token/introspect";
  meta["revocation_endpoint"] = iss + "/api/v1/token/revoke";
  meta["jwks_uri"] = iss + "/.well-known/jwks.json";
  meta["userinfo_endpoint"] = iss + "/agent-info";
  meta["grant_types_supported"] =
      boost::json::array{"client_credentials", std::string(domain::kGrantTokenExchange),
                         std::string(domain::kJwtBearerGrantType)};
  // No authorization endpoint: no response type is supported (RFC 8414 §2).
  meta["response_types_supported"] = boost::json::array{};
  meta["token_endpoint_auth_methods_supported"] =
      boost::json::array{"client_secret_basic", "client_secret_post", "private_key_jwt"};
  meta["introspection_endpoint_auth_methods_supported"] =
      boost::json::array{"client_secret_basic", "client_secret_post", "private_key_jwt", "bearer"};
  meta["revocation_endpoint_auth_methods_supported"] =
      boost::json::array{"client_secret_basic", "client_secret_post", "private_key_jwt", "bearer"};
  // Exactly what the verifiers accept (crypto::VerifyJwt pins these per key).
  boost::json::array assertion_algs{"RS256", "ES256", "EdDSA", "Ed25519"};
  meta["token_endpoint_auth_signing_alg_values_supported"] = assertion_algs;
  meta["introspection_endpoint_auth_signing_alg_values_supported"] = assertion_algs;
  meta["revocation_endpoint_auth_signing_alg_values_supported"] = assertion_algs;
  boost::json::array dpop_algs;
  for (const auto& a : domain::DpopAlgorithms()) dpop_algs.emplace_back(a);
  meta["dpop_signing_alg_values_supported"] = dpop_algs;
  boost::json::array scopes;
  for (const auto& sc : domain::AllScopes()) scopes.emplace_back(sc);
  meta["scopes_supported"] = scopes;
  meta["subject_types_supported"] = boost::json::array{"public"};
  const std::string alg = s_.keyring->options().alg;
  meta["id_token_signing_alg_values_supported"] = boost::json::array{alg};
  meta["claims_supported"] = boost::json::array{
      "iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "organization_id", "email"};
  oauth_metadata_ = boost::json::serialize(meta);
  openid_configuration_ = oauth_metadata_;
}

void Api::SetPolicy(std::shared_ptr<const domain::Policy> policy) {
  std::lock_guard lock(policy_mu_);
  policy_ = std::move(policy);
}

std::shared_ptr<const domain::Policy> Api::policy() const {
  std::lock_guard lock(policy_mu_);
  return policy_;
}

void Api::RecordChainStatus(bool verified) {
  chain_valid_->Set(verified ? 1 : 0);
}

void Api::Handle(http::Request req, http::Responder done) {
  auto match = router_.Find(req.method, req.path);
  if (match.value == nullptr) {
    Response r;
    if (match.method_mismatch) {
      r = http::ErrorResponse(
          Error{core::Errc::kValidation, "METHOD_NOT_ALLOWED", "Method not allowed"});
      r.status = 405;
      std::string allow;
      for (const auto& m : match.allowed_methods) allow += (allow.empty() ? "" : ", ") + m;
      r.SetHeader("Allow", allow);
      r.route = match.pattern.empty() ? "unmatched" : match.pattern;
    } else {
      r = http::ErrorResponse(Error::NotFound("NOT_FOUND", "No such route"));
      r.route = "unmatched";
    }
    done(std::move(r));
    return;
  }
  const Route* route = *match.value;
  req.path_params = std::move(match.params);
  auto shared = std::make_shared<http::Request>(std::move(req));
  if (route->exec == Exec::kWorker) return Dispatch(*route, std::move(shared), std::move(done));
  Run(*route, std::move(shared), std::move(done), false);
}

void Api::Dispatch(const Route& route, std::shared_ptr<http::Request> req, Responder done,
                   std::optional<domain::RateDecision> api_rate) {
  // The responder lives in shared state so that a refused task can still answer (DESIGN §4:
  // shed load, do not queue without bound).
  auto state = std::make_shared<std::pair<std::shared_ptr<http::Request>, Responder>>(
      std::move(req), std::move(done));
  bool queued = s_.workers->TrySubmit([this, &route, state, api_rate] {
    Run(route, std::move(state->first), std::move(state->second), true, api_rate);
  });
  if (!queued) {
    shed_->Inc();
    auto r = http::ErrorResponse(Error::Unavailable("Server is overloaded, retry shortly", 1));
    r.route = route.pattern;
    state->second(std::move(r));
  }
}

namespace {
// A handler on the I/O thread answers with this status when it needs the store; the request
// is then run again from the start on the worker pool. Never sent to a client.
constexpr int kRetryOnWorker = 0;
}  // namespace

void Api::Run(const Route& route, std::shared_ptr<http::Request> req, Responder done,
              bool may_block, std::optional<domain::RateDecision> api_rate) {
  RequestContext ctx{*req};
  ctx.may_block = may_block;
  ctx.api_rate = api_rate;
  auto status = Authenticate(route, ctx);
  if (!status.ok() && !may_block && domain::IsWouldBlock(status.error())) {
    // Only the shared API limiter stood in the way: it counts over this I/O thread's own
    // Redis connection and the request runs again here with the decision. Not for requests
    // whose authentication consumed something single-use (a DPoP proof, a client
    // assertion): those go to a worker, which authenticates once.
    if (!ctx.api_rate_key.empty() && !api_rate && s_.api_limiter->CanHitAsync() &&
        req->HeaderCount("dpop") == 0 && FormValue(ctx.form, "client_assertion") == nullptr) {
      const std::string key = ctx.api_rate_key;
      const std::optional<domain::DailyQuota> quota = ctx.api_quota;
      if (s_.api_limiter->HitAsync(
              key, quota ? &*quota : nullptr,
              [this, &route, req, done](core::Result<domain::RateDecision> d) mutable {
                // Not decided here after all (nothing was counted): a worker counts it.
                if (!d.ok()) return Dispatch(route, std::move(req), std::move(done));
                Run(route, std::move(req), std::move(done), false, *d);
              }))
        return;
    }
    // A second pass that still cannot finish here: the worker keeps the decision (the
    // request was counted once).
    return Dispatch(route, std::move(req), std::move(done), api_rate);
  }
  // Handlers may answer asynchronously (after ctx is gone): everything the completion needs
  // is captured by value here. A handler's retry on a worker keeps the API limiter's
  // decision, so the request is not counted twice.
  Responder finish = [this, &route, req, done = std::move(done), headers = ctx.extra_headers,
                      may_block, counted = ctx.api_rate](Response r) mutable {
    if (r.status == kRetryOnWorker && !may_block)
      return Dispatch(route, std::move(req), std::move(done), counted);
    r.route = route.pattern;
    for (const auto& [k, v] : headers) r.SetHeader(k, v);
    done(std::move(r));
  };
  if (!status.ok()) {
    finish(http::ErrorResponse(status.error()));
    return;
  }
  // An exception escaping a handler destroys its responder unanswered; the server answers
  // 500 for it (last-resort catch).
  route.handler(*this, ctx, std::move(finish));
}

core::Result<domain::AuthenticatedClient> Api::AuthenticateClient(RequestContext& ctx,
                                                                  bool required) {
  const auto& req = ctx.req;
  const std::string* post_id = FormValue(ctx.form, "client_id");
  const std::string* post_secret = FormValue(ctx.form, "client_secret");
  const std::string* assertion_type = FormValue(ctx.form, "client_assertion_type");
  const std::string* assertion = FormValue(ctx.form, "client_assertion");
  std::string_view authz = req.Header("authorization");
  if (req.HeaderCount("authorization") > 1)
    return Error::OAuth("invalid_request", "Repeated Authorization header");
  const bool basic =
      authz.size() >= 6 && (authz.substr(0, 6) == "Basic " || authz.substr(0, 6) == "basic ");
  const bool jwt = assertion_type != nullptr || assertion != nullptr;
  // Exactly one client authentication method per request (RFC 6749 §2.3, SPEC §5).
  if (int(basic) + int(post_secret != nullptr) + int(jwt) > 1)
    return Error::OAuth("invalid_request", "Use one client authentication method, not two");
  std::string client_id, secret;
  if (basic) {
    TRY_ASSIGN(auto creds, http::ParseBasicCredentials(authz));
    client_id = std::move(creds.first);
    secret = std::move(creds.second);
    if (post_id && *post_id != client_id)
      return Error::OAuth("invalid_request", "client_id does not match the authenticated client");
  } else if (post_secret) {
    if (!post_id || post_id->empty())
      return Error::OAuth("invalid_request", "client_secret without client_id");
    client_id = *post_id;
    secret = *post_secret;
  } else if (jwt) {
    if (!assertion_type || *assertion_type != domain::kJwtBearerAssertionType)
      return Error::OAuth("invalid_request", "client_assertion_type must be " +
                                                 std::string(domain::kJwtBearerAssertionType));
    if (!assertion || assertion->empty())
      return Error::OAuth("invalid_request", "client_assertion is required");
    // Assertions are single-use: verify where the whole request can finish, never on an I/O
    // thread that may hand the request to a worker (and verify it a second time) later.
    if (!ctx.may_block) return domain::WouldBlock();
    if (post_id) {
      client_id = *post_id;
    } else if (auto peek = crypto::DecodeJwtUnverified(*assertion, 8192); peek.ok()) {
      // Only to key the failure throttle; the verifier checks it.
      if (auto* iss = peek->claims.if_contains("iss"); iss && iss->is_string())
        client_id = std::string(iss->get_string().subview().substr(0, 64));
    }
  } else {
    if (!required) return Error::OAuth("invalid_client", "");
    return Error::OAuth("invalid_client", "Client authentication required");
  }
  const std::string throttle_key = client_id + "|" + req.remote_ip;
  if (int64_t wait = s_.auth_throttle->RetryAfter(throttle_key); wait > 0) {
    auth_failures_->Inc();
    Error e = Error::OAuth("invalid_client", "Too many failed attempts; retry later", 429);
    e.retry_after = static_cast<int>(wait);
    return e;
  }
  auto client = jwt ? s_.assertions->Authenticate(*assertion, post_id, ctx.may_block)
                    : s_.tokens->AuthenticateSecret(client_id, secret, ctx.may_block);
  if (!client.ok()) {
    if (client.error().kind == core::Errc::kOAuth && client.error().code == "invalid_client") {
      s_.auth_throttle->RecordFailure(throttle_key);
      auth_failures_->Inc();
      AuditAuthFailure(ctx, client_id,
                       jwt ? "invalid_client_assertion" : "invalid_client_credentials");
    }
    return std::move(client).error();
  }
  s_.auth_throttle->RecordSuccess(throttle_key);
  return client;
}

std::string Api::DpopChallenge(std::string_view error, std::string_view description) const {
  std::string algs;
  for (const auto& a : domain::DpopAlgorithms()) algs += (algs.empty() ? "" : " ") + a;
  std::string h = "DPoP";
  if (!error.empty()) {
    h += " error=\"" + std::string(error) + "\"";
    if (!description.empty()) {
      std::string clean;
      for (char c : description)
        if (c != '"' && c != '\\') clean.push_back(c);
      h += ", error_description=\"" + clean + "\"";
    }
    h += ",";
  }
  h += " algs=\"" + algs + "\"";
  return h;
}

core::Status Api::CheckDpopAtResource(RequestContext& ctx, std::string_view token,
                                      const std::string& bound_jkt, bool oauth_route) {
  auto refuse = [&](const std::string& code, const std::string& message,
                    const std::vector<std::pair<std::string, std::string>>& extra) -> Error {
    auth_failures_->Inc();
    Error e = oauth_route ? Error::OAuth(code, message, 401) : Error::Unauthorized(message);
    e.headers = extra;
    e.headers.emplace_back("WWW-Authenticate", DpopChallenge(code, message));
    return e;
  };
  if (ctx.req.HeaderCount("dpop") != 1)
    return refuse("invalid_dpop_proof", "Exactly one DPoP header is required", {});
  auto jkt =
      s_.dpop->Verify({ctx.req.Header("dpop"), ctx.req.method, s_.issuer + ctx.req.path, token});
  if (!jkt.ok()) {
    const Error& err = jkt.error();
    if (err.kind != core::Errc::kOAuth || err.code == "temporarily_unavailable") return err;
    return refuse(err.code, err.message, err.headers);
  }
  if (bound_jkt.empty())
    return refuse("invalid_token", "The access token is not DPoP-bound: use the Bearer scheme", {});
  if (!crypto::ConstantTimeEquals(*jkt, bound_jkt))
    return refuse("invalid_token", "The DPoP proof key is not the key the token is bound to", {});
  return core::Ok();
}

void Api::AuditAuthFailure(const RequestContext& ctx, const std::string& client_id,
                           const std::string& reason) {
  domain::AuditRecord r;
  // Only well-formed ids go into the hashed agentId field; whatever was sent is not echoed.
  if (core::IsUuid(client_id)) {
    r.agent_id = client_id;
    // Filed under the agent's organization so its admins see attacks on their agents.
    auto known = s_.clients->Find(client_id, ctx.may_block);
    if (known.ok() && *known) r.organization_id = (*known)->agent.organization_id;
  }
  r.action = "auth.failed";
  r.outcome = "failure";
  r.ip_address = ctx.req.remote_ip;
  r.user_agent = std::string(ctx.req.Header("user-agent").substr(0, 256));
  boost::json::object meta;
  meta["reason"] = reason;
  meta["path"] = ctx.req.path;
  r.metadata_json = boost::json::serialize(meta);
  s_.audit->Post(std::move(r));
}

core::Status Api::Authenticate(const Route& route, RequestContext& ctx) {
  if (route.auth == AuthKind::kNone) return core::Ok();
  auto policy = this->policy();
  auto& req = ctx.req;
  std::string_view authz = req.Header("authorization");
  auto scheme_is = [&](std::string_view scheme) {
    if (authz.size() <= scheme.size() || authz[scheme.size()] != ' ') return false;
    for (size_t i = 0; i < scheme.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(authz[i])) !=
          std::tolower(static_cast<unsigned char>(scheme[i])))
        return false;
    return true;
  };
  const bool bearer = scheme_is("Bearer");
  const bool dpop = scheme_is("DPoP");
  const bool oauth_route = route.auth == AuthKind::kClient;
  if (route.auth == AuthKind::kClient) {
    TRY_ASSIGN(ctx.form, OAuthForm(req));
  }
  if (bearer || dpop) {
    if (req.HeaderCount("authorization") > 1)
      return Error::OAuth("invalid_request", "Repeated Authorization header");
    // A DPoP proof is consumed once: verify it where the whole request can finish.
    if (dpop && !ctx.may_block) return domain::WouldBlock();
    std::string_view token = authz.substr(dpop ? 5 : 7);
    auto principal = s_.tokens->AuthenticateBearer(token, *policy, ctx.may_block);
    if (!principal.ok()) {
      if (domain::IsWouldBlock(principal.error())) return std::move(principal).error();
      if (principal.error().kind != core::Errc::kOAuth)
        return oauth_route ? OAuthUnavailable("Try again shortly")
                           : Error::Unavailable("Try again shortly", 1);
      auth_failures_->Inc();
      AuditAuthFailure(ctx, "", "invalid_bearer_token");
      Error e = oauth_route ? Error::OAuth("invalid_token", "The access token is invalid", 401)
                            : Error::Unauthorized("Invalid or expired access token");
      // RFC 6750 §3.1: a request that carried a token it cannot use learns why.
      if (dpop)
        e.headers.emplace_back("WWW-Authenticate", DpopChallenge("invalid_token", ""));
      else if (!oauth_route)
        e.headers.emplace_back("WWW-Authenticate",
                               "Bearer realm=\"agentidp\", error=\"invalid_token\"");
      return e;
    }
    // RFC 9449 §7: a DPoP-bound token only with its proof; a proof only for a bound token.
    if (dpop) {
      TRY(CheckDpopAtResource(ctx, token, principal->jkt, oauth_route));
    } else if (!principal->jkt.empty()) {
      auth_failures_->Inc();
      Error e = oauth_route ? Error::OAuth("invalid_token",
                                           "This token is DPoP-bound: use the DPoP scheme", 401)
                            : Error::Unauthorized("This token is DPoP-bound: use the DPoP scheme");
      e.headers.emplace_back("WWW-Authenticate", DpopChallenge("invalid_token", ""));
      return e;
    }
    ctx.principal = std::move(principal).value();
  } else if (route.auth == AuthKind::kClient) {
    TRY_ASSIGN(auto client, AuthenticateClient(ctx, true));
    ctx.principal = s_.tokens->ClientPrincipal(client, *policy);
    ctx.client = std::move(client);
  } else {
    return Error::Unauthorized("Authorization: Bearer <access token> is required");
  }
  ctx.principal->ip_address = req.remote_ip;
  ctx.principal->user_agent = std::string(req.Header("user-agent").substr(0, 256));
  // The agent's per-minute limit and its organization's daily API calls, one decision. A
  // shared (Redis) limiter, or a tier or daily count not in memory yet, answers WouldBlock on
  // an I/O thread: Run then counts asynchronously (api_rate_key set) or moves us to a worker.
  if (!ctx.api_rate) {
    TRY_ASSIGN(domain::DailyQuota quota, ApiQuota(ctx.principal->organization_id, ctx.may_block));
    auto hit = s_.api_limiter->Hit(ctx.principal->agent_id, &quota, ctx.may_block);
    if (!hit.ok()) {
      ctx.api_rate_key = ctx.principal->agent_id;
      ctx.api_quota = quota;
      return std::move(hit).error();
    }
    ctx.api_rate = *hit;
  }
  const domain::RateDecision decision = *ctx.api_rate;
  AddRateHeaders(ctx, decision);
  if (!decision.allowed) {
    if (decision.quota_exceeded) api_quota_refusals_->Inc();
    if (route.auth == AuthKind::kClient) {
      if (!decision.quota_exceeded) return OAuthRateLimited(decision.retry_after_s);
      Error e = Error::OAuth("rate_limit_exceeded", QuotaMessage(decision, "API calls"), 429);
      e.retry_after = static_cast<int>(decision.retry_after_s);
      return e;
    }
    if (decision.quota_exceeded) return ApiQuotaExceeded(decision);
    return Error::RateLimited(static_cast<int>(decision.retry_after_s));
  }
  if (!policy->Allows(route.id, ctx.principal->scopes)) {
    if (route.auth == AuthKind::kClient)
      return Error::OAuth("insufficient_scope", "The caller lacks a required scope", 403);
    Error e = Error::Forbidden("insufficient_scope");
    boost::json::array need;
    for (const auto& sc : policy->RequiredScopes(route.id)) need.emplace_back(sc);
    e.details["requiredScopes"] = std::move(need);
    return e;
  }
  return core::Ok();
}

// ---------------------------------------------------------------------------------------
// Public endpoints

void Api::Health(RequestContext&, Responder done) {
  done(http::JsonResponse(200, R"({"status":"ok"})"));
}

void Api::HealthDetailed(RequestContext&, Responder done) {
  boost::json::object deps;
  bool down = false;
  auto t0 = std::chrono::steady_clock::now();
  auto ping = s_.store->Ping();
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  boost::json::object db;
  db["status"] = ping.ok() ? "up" : "down";
  db["latencyMs"] = static_cast<double>(static_cast<int64_t>(ms * 1000)) / 1000.0;
  db["backend"] = s_.store->BackendName();
  deps["database"] = db;
  down = down || !ping.ok();
  auto keys = s_.keyring->Snapshot();
  boost::json::object signing;
  signing["status"] = keys && keys->current ? "up" : "down";
  signing["latencyMs"] = 0;
  if (keys && keys->current) signing["kid"] = keys->current->record.kid;
  deps["signingKeys"] = signing;
  // Redis down is "degraded", not "unhealthy": the node serves on local state (207).
  bool shared_down = false;
  if (s_.shared_state_probe) {
    auto probe = s_.shared_state_probe();
    boost::json::object redis;
    redis["status"] = probe.up ? "up" : "down";
    redis["latencyMs"] =
        static_cast<double>(static_cast<int64_t>(probe.latency_ms * 1000)) / 1000.0;
    if (!probe.detail.empty()) redis["detail"] = probe.detail;
    deps["redis"] = redis;
    shared_down = !probe.up;
  }
  boost::json::object workers;
  size_t depth = s_.workers->QueueDepth();
  const bool busy = depth > static_cast<size_t>(s_.config->max_queue) / 2;
  workers["status"] = busy ? "degraded" : "up";
  workers["queueDepth"] = depth;
  workers["latencyMs"] = 0;
  deps["workerPool"] = workers;
  boost::json::object o;
  const bool degraded = busy || shared_down;
  const char* overall = down ? "unhealthy" : degraded ? "degraded" : "healthy";
  o["status"] = overall;
  o["timestamp"] = core::FormatIso8601(s_.clock->NowMs());
  o["dependencies"] = deps;
  done(Json(down ? 503 : degraded ? 207 : 200, o));
}

void Api::MetricsText(RequestContext&, Responder done) {
  Response r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = s_.metrics->RenderPrometheus();
  done(std::move(r));
}

void Api::Discovery(RequestContext& ctx, Responder done) {
  Response r = http::JsonResponse(200, ctx.req.path == "/.well-known/openid-configuration"
                                           ? openid_configuration_
                                           : oauth_metadata_);
  r.SetHeader("Cache-Control", "public, max-age=300");
  done(std::move(r));
}

void Api::Jwks(RequestContext&, Responder done) {
  Response r = http::JsonResponse(200, s_.keyring->Snapshot()->jwks_json);
  r.content_type = "application/jwk-set+json";
  // Shorter than the staging delay, so caches see a new key before it signs.
  r.SetHeader("Cache-Control",
              "public, max-age=" +
                  std::to_string(std::clamp(s_.config->key_activation_delay_seconds / 2, 0, 300)));
  done(std::move(r));
}

void Api::AgentInfo(RequestContext& ctx, Responder done) {
  auto agent = s_.agents->Get(*ctx.principal, ctx.principal->agent_id);
  if (!agent.ok()) return Reply(done, std::move(agent).error());
  boost::json::object o;
  o["sub"] = agent->agent_id;
  o["agentId"] = agent->agent_id;
  o["email"] = agent->email;
  o["agentType"] = agent->agent_type;
  o["version"] = agent->version;
  o["owner"] = agent->owner;
  o["deploymentEnv"] = agent->deployment_env;
  o["status"] = agent->status;
  o["organization_id"] = agent->organization_id;
  o["scope"] = domain::JoinScopes(ctx.principal->scopes);
  o["did"] = s_.did_base + ":agents:" + agent->agent_id;
  done(NoStore(Json(200, o)));
}

// ---------------------------------------------------------------------------------------
// OAuth endpoints

void Api::Token(RequestContext& ctx, Responder done) {
  auto form = OAuthForm(ctx.req);
  if (!form.ok()) return Reply(done, std::move(form).error());
  ctx.form = std::move(form).value();
  const std::string* grant = FormValue(ctx.form, "grant_type");
  const size_t dpop_headers = ctx.req.HeaderCount("dpop");
  // Proofs and client assertions are single-use: check them where the request can finish,
  // never on an I/O thread that might hand the request to a worker half-way.
  if (!ctx.may_block && (dpop_headers > 0 || FormValue(ctx.form, "client_assertion")))
    return RetryOnWorker(done);
  // DPoP (RFC 9449 §5) before client authentication, so that a nonce retry does not burn a
  // client assertion.
  std::string jkt;
  if (dpop_headers > 1)
    return Reply(done, Error::OAuth("invalid_dpop_proof", "Exactly one DPoP header is allowed"));
  if (dpop_headers == 1) {
    auto proof = s_.dpop->Verify({ctx.req.Header("dpop"), "POST", s_.issuer + ctx.req.path, {}});
    if (!proof.ok()) return Reply(done, std::move(proof).error());
    jkt = std::move(proof).value();
  }
  if (grant && *grant == domain::kJwtBearerGrantType)
    return JwtBearerGrant(ctx, std::move(done), jkt);
  // Authenticate first: an unauthenticated caller learns nothing about grants (RFC 6749 §5.2
  // orders invalid_client before unsupported_grant_type in practice).
  // The second pass after an asynchronous rate-limit answer reuses the first's client.
  auto client = ctx.token_rate && ctx.client
                    ? core::Result<domain::AuthenticatedClient>(*ctx.client)
                    : AuthenticateClient(ctx, true);
  if (!client.ok()) {
    if (domain::IsWouldBlock(client.error())) return RetryOnWorker(done);
    return Reply(done, std::move(client).error());
  }
  if (!grant || grant->empty())
    return Reply(done, Error::OAuth("invalid_request", "grant_type is required"));
  const bool exchange = *grant == domain::kGrantTokenExchange;
  if (*grant != "client_credentials" && !exchange)
    return Reply(done, Error::OAuth("unsupported_grant_type",
                                    "Supported grant types: client_credentials, " +
                                        std::string(domain::kGrantTokenExchange) + ", " +
                                        std::string(domain::kJwtBearerGrantType)));
  // An exchange validates the subject token, which may need the store: run it on a worker
  // from the start, so the rate limit below counts it once.
  if (exchange && !ctx.may_block) return RetryOnWorker(done);
  // The client's per-minute limit and its organization's daily token issuances (SPEC §8),
  // one decision: a request refused by one consumes neither. The second pass after an
  // asynchronous answer brings the decision along.
  std::optional<domain::RateDecision> counted = ctx.token_rate;
  if (!counted) {
    auto quota = TokenQuota(client->record->agent.organization_id, ctx.may_block);
    if (!quota.ok()) {
      // WouldBlock: the tier is not in memory yet; otherwise the store could not be read.
      if (!ctx.may_block && domain::IsWouldBlock(quota.error())) return RetryOnWorker(done);
      return Reply(done, OAuthUnavailable("Try again shortly"));
    }
    // A shared (Redis) limiter answers at once from its leased credit, or WouldBlock on an
    // I/O thread when it needs Redis (nothing counted).
    auto hit = s_.token_limiter->Hit(client->record->agent.agent_id, &*quota, ctx.may_block);
    if (!hit.ok() && !ctx.may_block && domain::IsWouldBlock(hit.error()) &&
        s_.token_limiter->CanHitAsync()) {
      // It decides over this I/O thread's own connection; the request stays on this thread
      // and comes back here with the decision (no worker hand-off).
      ctx.client = *client;
      auto again = std::make_shared<RequestContext>(ctx);
      if (s_.token_limiter->HitAsync(
              client->record->agent.agent_id, &*quota,
              [this, again, done](core::Result<domain::RateDecision> d) mutable {
                if (!d.ok()) return RetryOnWorker(done);  // nothing was counted
                again->token_rate = *d;
                Token(*again, std::move(done));
              }))
        return;
    }
    if (!hit.ok()) {
      // WouldBlock: a shared (Redis) limiter, or a day's count not in memory yet, on the I/O
      // thread; otherwise the store could not be read.
      if (!ctx.may_block && domain::IsWouldBlock(hit.error())) return RetryOnWorker(done);
      return Reply(done, OAuthUnavailable("Try again shortly"));
    }
    counted = *hit;
  }
  const domain::RateDecision decision = *counted;
  AddRateHeaders(ctx, decision);
  // Every answer from here on carries the rate-limit headers (used synchronously only).
  const auto& rate_headers = ctx.extra_headers;
  auto with_rate = [&rate_headers](Response r) {
    for (const auto& [k, v] : rate_headers) r.SetHeader(k, v);
    return r;
  };
  if (decision.quota_exceeded) token_quota_refusals_->Inc();
  if (!decision.allowed)
    return done(with_rate(http::ErrorResponse(decision.quota_exceeded
                                                  ? OAuthQuotaExceeded(decision)
                                                  : OAuthRateLimited(decision.retry_after_s))));
  auto policy = this->policy();
  auto opt = [&](const char* name) -> std::optional<std::string> {
    if (const std::string* v = FormValue(ctx.form, name)) return *v;
    return std::nullopt;
  };

  domain::IssuedToken issued;
  // The response and the audit metadata are written as JSON text (core::JsonObjectWriter):
  // the same bytes boost::json would serialize, without building two trees per token.
  std::string meta_text;
  meta_text.reserve(384);
  core::JsonObjectWriter meta(meta_text);
  domain::AuditRecord rec;
  rec.agent_id = client->record->agent.agent_id;
  rec.organization_id = client->record->agent.organization_id;
  rec.ip_address = ctx.req.remote_ip;
  rec.user_agent = std::string(ctx.req.Header("user-agent").substr(0, 256));
  if (exchange) {
    // RFC 8693 §2.1. A missing or empty subject_token is an error, never a fallback to the
    // caller's own identity (SPEC §5); repeats were refused with the form.
    domain::ExchangeRequest x;
    x.subject_token = opt("subject_token").value_or("");
    x.subject_token_type = opt("subject_token_type").value_or("");
    x.actor_token = opt("actor_token");
    x.actor_token_type = opt("actor_token_type");
    x.requested_token_type = opt("requested_token_type");
    x.scope = opt("scope");
    auto audience = opt("audience");
    auto resource = opt("resource");
    if (audience && resource && *audience != *resource)
      return done(with_rate(http::ErrorResponse(
          Error::OAuth("invalid_target", "audience and resource name different targets"))));
    x.audience = audience ? audience : resource;
    x.jkt = jkt;
    if (x.subject_token.empty())
      return done(with_rate(http::ErrorResponse(
          Error::OAuth("invalid_request", "subject_token is required and must not be empty"))));
    // Our own access tokens, or a federation partner's JWT (RFC 8693 with a trusted external
    // issuer; docs/decisions.md "Token exchange with external subject tokens").
    auto result = [&]() -> core::Result<domain::ExchangeResult> {
      if (s_.tokens->IssuedHere(x.subject_token) || !s_.partners)
        return s_.tokens->Exchange(*client, x, *policy, true);
      TRY_ASSIGN(auto external,
                 s_.partners->VerifySubjectToken(
                     client->record->agent.organization_id, x.subject_token,
                     {s_.issuer + "/api/v1/token", s_.issuer + "/api/v1/oauth2/token"}));
      return s_.tokens->ExchangeExternal(*client, x, external, *policy);
    }();
    if (!result.ok()) {
      if (result.error().kind != core::Errc::kOAuth)
        return done(with_rate(http::ErrorResponse(OAuthUnavailable("Try again shortly"))));
      return done(with_rate(http::ErrorResponse(result.error())));
    }
    issued = std::move(result->token);
    rec.action = "token.exchanged";
    rec.organization_id = result->subject.organization_id;
    meta.String("grantType", domain::kGrantTokenExchange);
    meta.String("subjectJti", result->subject.jti);
    if (result->partner_id.empty()) {
      meta.String("subjectAgentId", result->subject.agent_id);
      meta.String("subjectClientId", result->subject.client_id);
    } else {
      meta.String("subject", result->subject.agent_id);
      meta.String("subjectIssuer", result->subject_issuer);
      meta.String("partnerId", result->partner_id);
    }
    meta.String("actorAgentId", result->actor_agent_id);
    // The whole chain: the new token's act (with every earlier actor nested) and the
    // delegation chains it derives from.
    auto parsed = crypto::DecodeJwtUnverified(issued.access_token);
    if (parsed.ok()) {
      if (const auto* act = parsed->claims.if_contains("act")) meta.Value("act", *act);
      if (const auto* chain = parsed->claims.if_contains("delegation_chain"))
        meta.Value("delegationChain", *chain);
    }
  } else {
    auto cc = s_.tokens->IssueClientCredentials(*client, opt("scope"), *policy, jkt);
    if (!cc.ok()) return done(with_rate(http::ErrorResponse(cc.error())));
    issued = std::move(cc).value();
    rec.action = "token.issued";
    meta.String("grantType", "client_credentials");
  }
  std::string body_text;
  body_text.reserve(issued.access_token.size() + issued.id_token.size() + issued.scope.size() +
                    160);
  {
    core::JsonObjectWriter body(body_text);
    if (exchange) body.String("issued_token_type", domain::kTokenTypeAccessToken);
    body.String("access_token", issued.access_token)
        .String("token_type", issued.token_type)
        .Int("expires_in", issued.expires_in)
        .String("scope", issued.scope);
    if (!issued.id_token.empty()) body.String("id_token", issued.id_token);
    body.Finish();
  }
  Response response = with_rate(NoStore(http::JsonResponse(200, std::move(body_text))));
  if (!jkt.empty() && s_.dpop->nonces_required())
    response.SetHeader("DPoP-Nonce", s_.dpop->CurrentNonce());

  meta.String("jti", issued.jti);
  meta.String("scope", issued.scope);
  meta.String("credentialId", client->credential_id);
  meta.String("authMethod",
              FormValue(ctx.form, "client_assertion") ? "private_key_jwt" : "client_secret");
  if (!jkt.empty()) meta.String("dpopJkt", jkt);
  meta.String("expiresAt", core::FormatIso8601(issued.expires_at_ms));
  meta.Finish();
  rec.metadata_json = std::move(meta_text);
  // A 200 means the token.issued / token.exchanged event is durable (group commit): answer
  // when its batch commits; if it cannot be recorded, the token is not handed out.
  core::Counter* counter = exchange ? tokens_exchanged_ : tokens_issued_;
  s_.audit->Submit(std::move(rec), [done = std::move(done), response = std::move(response),
                                    counter](const core::Status& st) mutable {
    if (!st.ok()) {
      done(http::ErrorResponse(OAuthUnavailable("Token could not be recorded; retry")));
      return;
    }
    counter->Inc();
    done(std::move(response));
  });
}

void Api::Introspect(RequestContext& ctx, Responder done) {
  const std::string* token = FormValue(ctx.form, "token");
  if (!token || token->empty())
    return Reply(done, Error::OAuth("invalid_request", "token is required"));
  auto inactive = [&] { done(NoStore(http::JsonResponse(200, R"({"active":false})"))); };
  auto validated = s_.tokens->ValidateShared(*token, ctx.may_block);
  if (!validated.ok()) {
    if (domain::IsWouldBlock(validated.error())) return RetryOnWorker(done);
    if (validated.error().kind != core::Errc::kOAuth)
      return Reply(done, OAuthUnavailable("Token state could not be read; retry"));
    return inactive();
  }
  const domain::AccessTokenInfo& info = **validated;
  // Tokens of another organization are not the caller's business (SPEC §5).
  if (!ctx.principal->CanSee(info.organization_id)) return inactive();
  std::string text;
  text.reserve(512);
  core::JsonObjectWriter o(text);
  o.Bool("active", true);
  for (std::string_view k : {"scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti",
                             "organization_id", "act", "cnf"}) {
    if (auto* v = info.claims.if_contains(k)) o.Value(k, *v);
  }
  // RFC 9449 §6.2: a bound token introspects with its cnf.jkt and token_type DPoP.
  o.String("token_type", info.jkt.empty() ? "Bearer" : "DPoP");
  o.Finish();
  done(NoStore(http::JsonResponse(200, std::move(text))));
}

void Api::Revoke(RequestContext& ctx, Responder done) {
  const std::string* token = FormValue(ctx.form, "token");
  if (!token || token->empty())
    return Reply(done, Error::OAuth("invalid_request", "token is required"));
  auto ok = [&] { done(NoStore(http::JsonResponse(200, "{}"))); };
  // RFC 7009 §2.2: unknown, malformed, foreign or already expired tokens answer 200.
  auto info = s_.tokens->ParseForRevocation(*token);
  if (!info || !ctx.principal->CanSee(info->organization_id)) return ok();
  if (info->client_id != ctx.principal->agent_id && !ctx.principal->Has("agents:write"))
    return Reply(done,
                 Error::OAuth("unauthorized_client",
                              "Only the token's client or an agents:write holder may revoke it"));
  auto st = s_.tokens->Revoke(*info);
  if (!st.ok()) return Reply(done, OAuthUnavailable("Revocation could not be stored; retry"));
  revocations_->Inc();
  domain::AuditRecord rec =
      RequestRecord(ctx, "token.revoked", info->agent_id, info->organization_id);
  boost::json::object meta;
  meta["jti"] = info->jti;
  meta["revokedBy"] = ctx.principal->agent_id;
  rec.metadata_json = boost::json::serialize(meta);
  auto audited = s_.audit->Write(std::move(rec));
  if (!audited.ok())
    return Reply(done, OAuthUnavailable("Revocation could not be recorded; retry"));
  ok();
}

// ---------------------------------------------------------------------------------------
// Agents and credentials

namespace {
domain::AgentService::RoleScopes RoleScopesOf(std::shared_ptr<const domain::Policy> policy,
                                              std::string system_org) {
  return [policy, system_org](const std::string& role, const std::string& org) {
    return policy->GrantableScopes(role, org == system_org);
  };
}

std::string AgentIdParam(const RequestContext& ctx) {
  return std::string(ctx.req.PathParam("agentId"));
}
}  // namespace

void Api::CreateAgent(RequestContext& ctx, Responder done) {
  auto body = JsonBody(ctx.req);
  if (!body.ok()) return Reply(done, std::move(body).error());
  auto input = domain::ParseAgentInput(*body, false);
  if (!input.ok()) return Reply(done, std::move(input).error());
  auto agent = s_.agents->Create(
      *ctx.principal, *input, RoleScopesOf(policy(), s_.tokens->settings().system_organization_id));
  if (!agent.ok()) return Reply(done, std::move(agent).error());
  done(Created(domain::AgentToJson(*agent, s_.did_base), "/api/v1/agents/" + agent->agent_id));
}

void Api::ListAgents(RequestContext& ctx, Responder done) {
  auto q = http::ParseQuery(ctx.req.query);
  if (!q.ok()) return Reply(done, std::move(q).error());
  auto page = PageParams(*q);
  if (!page.ok()) return Reply(done, std::move(page).error());
  domain::AgentFilter f;
  for (const auto& [k, v] : *q) {
    if (k == "status") {
      if (v != "active" && v != "suspended" && v != "decommissioned")
        return Reply(done,
                     Error::Validation("\"status\" must be active, suspended or decommissioned"));
      f.status = v;
    } else if (k == "agentType") {
      f.agent_type = v;
    } else if (k == "owner") {
      f.owner = v;
    } else if (k == "organizationId") {
      f.organization_id = v;
    } else if (k != "page" && k != "limit") {
      return Reply(done, Error::Validation("Unknown query parameter \"" + k + "\""));
    }
  }
  auto list = s_.agents->List(*ctx.principal, f, *page);
  if (!list.ok()) return Reply(done, std::move(list).error());
  boost::json::array data;
  for (const auto& a : list->data) data.push_back(domain::AgentToJson(a, s_.did_base));
  done(http::JsonResponse(200, PageBody(std::move(data), list->total, *page)));
}

void Api::GetAgent(RequestContext& ctx, Responder done) {
  auto agent = s_.agents->Get(*ctx.principal, AgentIdParam(ctx));
  if (!agent.ok()) return Reply(done, std::move(agent).error());
  done(Json(200, domain::AgentToJson(*agent, s_.did_base)));
}

void Api::UpdateAgent(RequestContext& ctx, Responder done) {
  auto body = JsonBody(ctx.req);
  if (!body.ok()) return Reply(done, std::move(body).error());
  auto input = domain::ParseAgentInput(*body, true);
  if (!input.ok()) return Reply(done, std::move(input).error());
  auto agent =
      s_.agents->Update(*ctx.principal, AgentIdParam(ctx), *input,
                        RoleScopesOf(policy(), s_.tokens->settings().system_organization_id));
  if (!agent.ok()) return Reply(done, std::move(agent).error());
  done(Json(200, domain::AgentToJson(*agent, s_.did_base)));
}

void Api::DeleteAgent(RequestContext& ctx, Responder done) {
  auto st = s_.agents->Decommission(*ctx.principal, AgentIdParam(ctx));
  if (!st.ok()) return Reply(done, std::move(st).error());
  done(NoContent());
}

namespace {
boost::json::object SecretJson(const domain::AgentService::NewSecret& s) {
  auto o = domain::CredentialToJson(s.credential);
  if (!s.client_secret.empty()) o["clientSecret"] = s.client_secret;
  return o;
}

// The keys of a private_key_jwt credential: exactly one of "jwks" and "jwksUri".
core::Result<domain::AgentService::CredentialKeys> CredentialKeysFrom(
    const boost::json::value* jwks, const boost::json::value* jwks_uri) {
  if ((jwks == nullptr) == (jwks_uri == nullptr))
    return Error::Validation(
        "A private_key_jwt credential needs exactly one of \"jwks\" and \"jwksUri\"");
  domain::AgentService::CredentialKeys keys;
  if (jwks) {
    TRY_ASSIGN(keys.jwks_json, domain::NormalizeClientJwks(*jwks));
  } else {
    if (!jwks_uri->is_string()) return Error::Validation("\"jwksUri\" must be a string");
    TRY(domain::ValidateJwksUri(jwks_uri->get_string()));
    keys.jwks_uri = std::string(jwks_uri->get_string());
  }
  return keys;
}
}  // namespace

void Api::CreateCredential(RequestContext& ctx, Responder done) {
  auto body = JsonBody(ctx.req);
  if (!body.ok()) return Reply(done, std::move(body).error());
  std::optional<int64_t> expires_at;
  std::string type = "client_secret";
  const boost::json::value* jwks = nullptr;
  const boost::json::value* jwks_uri = nullptr;
  for (const auto& [k, v] : *body) {
    if (k == "expiresAt") {
      int64_t ms = 0;
      if (v.is_null()) continue;
      if (!v.is_string() || !core::ParseIso8601(std::string_view(v.as_string()), ms))
        return Reply(done, Error::Validation("\"expiresAt\" must be an ISO-8601 date-time"));
      expires_at = ms;
    } else if (k == "type") {
      if (!v.is_string() ||
          (v.as_string() != "client_secret" && v.as_string() != "private_key_jwt"))
        return Reply(done, Error::Validation("\"type\" must be client_secret or private_key_jwt"));
      type = std::string(v.as_string());
    } else if (k == "jwks") {
      jwks = &v;
    } else if (k == "jwksUri") {
      jwks_uri = &v;
    } else {
      return Reply(done, Error::Validation("Unknown field \"" + std::string(k) + "\""));
    }
  }
  std::optional<domain::AgentService::CredentialKeys> keys;
  if (type == "private_key_jwt") {
    auto parsed = CredentialKeysFrom(jwks, jwks_uri);
    if (!parsed.ok()) return Reply(done, std::move(parsed).error());
    keys = std::move(parsed).value();
  } else if (jwks || jwks_uri) {
    return Reply(done, Error::Validation(
                           "\"jwks\" and \"jwksUri\" belong to type private_key_jwt credentials"));
  }
  auto created = s_.agents->CreateCredential(*ctx.principal, AgentIdParam(ctx), expires_at, keys);
  if (!created.ok()) return Reply(done, std::move(created).error());
  done(NoStore(Json(201, SecretJson(*created))));
}

void Api::ListCredentials(RequestContext& ctx, Responder done) {
  auto q = http::ParseQuery(ctx.req.query);
  if (!q.ok()) return Reply(done, std::move(q).error());
  for (const auto& [k, v] : *q)
    if (k != "page" && k != "limit")
      return Reply(done, Error::Validation("Unknown query parameter \"" + k + "\""));
  auto page = PageParams(*q);
  if (!page.ok()) return Reply(done, std::move(page).error());
  auto list = s_.agents->ListCredentials(*ctx.principal, AgentIdParam(ctx));
  if (!list.ok()) return Reply(done, std::move(list).error());
  // An agent holds a handful of credentials: page in memory.
  boost::json::array data;
  const size_t first = static_cast<size_t>(page->page - 1) * static_cast<size_t>(page->limit);
  for (size_t i = first; i < list->size() && i < first + static_cast<size_t>(page->limit); ++i)
    data.push_back(domain::CredentialToJson((*list)[i]));
  done(http::JsonResponse(200,
                          PageBody(std::move(data), static_cast<int64_t>(list->size()), *page)));
}

void Api::RotateCredential(RequestContext& ctx, Responder done) {
  // A client_secret rotates without a body; a private_key_jwt credential gets its new keys.
  auto body = JsonBody(ctx.req);
  if (!body.ok()) return Reply(done, std::move(body).error());
  std::optional<domain::AgentService::CredentialKeys> keys;
  if (!body->empty()) {
    for (const auto& kv : *body)
      if (kv.key() != "jwks" && kv.key() != "jwksUri")
        return Reply(done, Error::Validation("Unknown field \"" + std::string(kv.key()) + "\""));
    auto parsed = CredentialKeysFrom(body->if_contains("jwks"), body->if_contains("jwksUri"));
    if (!parsed.ok()) return Reply(done, std::move(parsed).error());
    keys = std::move(parsed).value();
  }
  auto rotated = s_.agents->RotateCredential(*ctx.principal, AgentIdParam(ctx),
                                             std::string(ctx.req.PathParam("credentialId")), keys);
  if (!rotated.ok()) return Reply(done, std::move(rotated).error());
  done(NoStore(Json(200, SecretJson(*rotated))));
}

void Api::RevokeCredential(RequestContext& ctx, Responder done) {
  auto st = s_.agents->RevokeCredential(*ctx.principal, AgentIdParam(ctx),
                                        std::string(ctx.req.PathParam("credentialId")));
  if (!st.ok()) return Reply(done, std::move(st).error());
  done(NoContent());
}

// ---------------------------------------------------------------------------------------
// Audit

namespace {
core::Result<domain::AuditFilter> AuditFilterFrom(
    const std::vector<std::pair<std::string, std::string>>& q, bool allow_filters) {
  domain::AuditFilter f;
  for (const auto& [k, v] : q) {
    int64_t ms = 0;
    if (k == "fromDate" || k == "toDate") {
      if (!core::ParseIso8601(v, ms))
        return Error::Validation("\"" + k + "\" must be an ISO-8601 date or date-time");
      (k == "fromDate" ? f.from_ms : f.to_ms) = ms;
    } else if (allow_filters && k == "agentId") {
      f.agent_id = v;
    } else if (allow_filters && k == "action") {
      f.action = v;
    } else if (allow_filters && k == "outcome") {
      if (v != "success" && v != "failure")
        return Error::Validation("\"outcome\" must be success or failure");
      f.outcome = v;
    } else if (allow_filters && (k == "page" || k == "limit")) {
    } else {
      return Error::Validation("Unknown query parameter \"" + k + "\"");
    }
  }
  if (f.from_ms && f.to_ms && *f.from_ms > *f.to_ms)
    return Error::Validation("\"fromDate\" must not be after \"toDate\"");
  return f;
}
}  // namespace

void Api::ListAudit(RequestContext& ctx, Responder done) {
  auto q = http::ParseQuery(ctx.req.query);
  if (!q.ok()) return Reply(done, std::move(q).error());
  auto page = PageParams(*q);
  if (!page.ok()) return Reply(done, std::move(page).error());
  auto f = AuditFilterFrom(*q, true);
  if (!f.ok()) return Reply(done, std::move(f).error());
  if (!ctx.principal->cross_tenant) f->organization_id = ctx.principal->organization_id;
  auto list = s_.store->audit().List(domain::TenantScope::ReadFor(*ctx.principal), *f, *page);
  if (!list.ok()) return Reply(done, std::move(list).error());
  boost::json::array data;
  for (const auto& e : list->data) data.push_back(domain::AuditEventToJson(e));
  done(http::JsonResponse(200, PageBody(std::move(data), list->total, *page)));
}

void Api::GetAudit(RequestContext& ctx, Responder done) {
  std::string id(ctx.req.PathParam("eventId"));
  auto not_found = Error::NotFound("AUDIT_EVENT_NOT_FOUND", "Audit event not found");
  if (!core::IsUuid(id)) return Reply(done, not_found);
  auto ev = s_.store->audit().Get(domain::TenantScope::ReadFor(*ctx.principal), id);
  if (!ev.ok()) return Reply(done, std::move(ev).error());
  if (!*ev || !ctx.principal->CanSee((*ev)->organization_id)) return Reply(done, not_found);
  done(Json(200, domain::AuditEventToJson(**ev)));
}

void Api::VerifyAudit(RequestContext& ctx, Responder done) {
  // Verification scans the whole chain: 30 per minute per caller (SPEC §4).
  auto hit = s_.verify_limiter->Hit(ctx.principal->agent_id, ctx.may_block);
  if (!hit.ok()) return Reply(done, std::move(hit).error());
  const domain::RateDecision decision = *hit;
  if (!decision.allowed)
    return Reply(done, Error::RateLimited(static_cast<int>(decision.retry_after_s)));
  auto q = http::ParseQuery(ctx.req.query);
  if (!q.ok()) return Reply(done, std::move(q).error());
  auto f = AuditFilterFrom(*q, false);
  if (!f.ok()) return Reply(done, std::move(f).error());
  auto result = domain::VerifyAuditChain(s_.store->audit(), f->from_ms, f->to_ms);
  if (!result.ok()) return Reply(done, std::move(result).error());
  RecordChainStatus(result->verified);
  boost::json::object o;
  o["verified"] = result->verified;
  o["checkedCount"] = result->checked_count;
  o["brokenAtEventId"] = result->broken_at_event_id
                             ? boost::json::value(*result->broken_at_event_id)
                             : boost::json::value(nullptr);
  o["fromDate"] = f->from_ms ? boost::json::value(core::FormatIso8601(*f->from_ms)) : nullptr;
  o["toDate"] = f->to_ms ? boost::json::value(core::FormatIso8601(*f->to_ms)) : nullptr;
  done(Json(200, o));
}

// ---------------------------------------------------------------------------------------
// A2A delegation (SPEC §4)

namespace {
// The access token this request authenticated with (Bearer or DPoP scheme).
std::string_view PresentedToken(const http::Request& req) {
  std::string_view authz = req.Header("authorization");
  size_t sp = authz.find(' ');
  return sp == std::string_view::npos ? std::string_view() : authz.substr(sp + 1);
}

boost::json::array ScopeArrayJson(std::string_view joined) {
  boost::json::array a;
  size_t start = 0;
  while (start < joined.size()) {
    size_t end = joined.find(' ', start);
    if (end == std::string_view::npos) end = joined.size();
    if (end > start) a.emplace_back(joined.substr(start, end - start));
    start = end + 1;
  }
  return a;
}
}  // namespace

void Api::Delegate(RequestContext& ctx, Responder done) {
  auto body = JsonBody(ctx.req);
  if (!body.ok()) return Reply(done, std::move(body).error());
  // Both spellings of SPEC §4, one of each at most.
  const boost::json::value* delegatee = nullptr;
  const boost::json::value* scopes = nullptr;
  const boost::json::value* ttl = nullptr;
  const boost::json::value* expires_at = nullptr;
  auto take = [&](const boost::json::value*& slot, const boost::json::value& v,
                  const char* what) -> core::Status {
    if (slot) return Error::Validation(std::string("Give ") + what + " once, in one spelling");
    slot = &v;
    return core::Ok();
  };
  for (const auto& kv : *body) {
    const std::string_view k = kv.key();
    core::Status st = core::Ok();
    if (k == "delegateeAgentId" || k == "delegatee_id")
      st = take(delegatee, kv.value(), "the delegatee");
    else if (k == "scopes" || k == "scope")
      st = take(scopes, kv.value(), "the scopes");
    else if (k == "ttlSeconds")
      st = take(ttl, kv.value(), "the lifetime");
    else if (k == "expires_at")
      st = take(expires_at, kv.value(), "the expiry");
    else
      st = Error::Validation("Unknown field \"" + std::string(k) + "\"");
    if (!st.ok()) return Reply(done, std::move(st).error());
  }
  domain::DelegateInput in;
  if (!delegatee || !delegatee->is_string())
    return Reply(done, Error::Validation("\"delegateeAgentId\" is required"));
  in.delegatee_agent_id = std::string(delegatee->get_string());
  if (!scopes)
    return Reply(done, Error{core::Errc::kValidation, "INVALID_SCOPES", "\"scopes\" is required"});
  std::string joined;
  if (scopes->is_array()) {
    for (const auto& v : scopes->get_array()) {
      if (!v.is_string())
        return Reply(done, Error{core::Errc::kValidation, "INVALID_SCOPES", "scopes are strings"});
      joined += (joined.empty() ? "" : " ") + std::string(v.get_string());
    }
  } else if (scopes->is_string()) {
    joined = std::string(scopes->get_string());
  } else {
    return Reply(done, Error{core::Errc::kValidation, "INVALID_SCOPES",
                             "\"scopes\" is an array (or \"scope\" a space-separated string)"});
  }
  auto parsed = domain::ParseScopeString(joined);
  if (!parsed.ok() || parsed->empty())
    return Reply(done, Error{core::Errc::kValidation, "INVALID_SCOPES",
                             parsed.ok() ? "scopes must not be empty" : parsed.error().message});
  in.scopes = std::move(parsed).value();
  if (ttl && expires_at)
    return Reply(done, Error{core::Errc::kValidation, "INVALID_TTL",
                             "Give ttlSeconds or expires_at, not both"});
  if (ttl) {
    if (!ttl->is_int64())
      return Reply(done, Error{core::Errc::kValidation, "INVALID_TTL", "ttlSeconds is an integer"});
    in.ttl_s = ttl->get_int64();
  } else if (expires_at) {
    int64_t ms = 0;
    if (expires_at->is_int64())
      ms = expires_at->get_int64() * 1000;  // epoch seconds
    else if (!expires_at->is_string() ||
             !core::ParseIso8601(std::string_view(expires_at->get_string()), ms))
      return Reply(done, Error{core::Errc::kValidation, "INVALID_TTL",
                               "expires_at is an ISO-8601 date-time or epoch seconds"});
    in.ttl_s = (ms - s_.clock->NowMs() + 999) / 1000;
  }
  auto caller_token = s_.tokens->Validate(PresentedToken(ctx.req));
  if (!caller_token.ok())
    return Reply(done, Error::Unauthorized("Invalid or expired access token"));
  auto grant = s_.delegations->Delegate(*ctx.principal, *caller_token, in);
  if (!grant.ok()) return Reply(done, std::move(grant).error());
  delegations_created_->Inc();
  const auto& d = grant->record;
  boost::json::object o;
  o["delegationToken"] = grant->token.access_token;
  o["tokenType"] = grant->token.token_type;
  o["chainId"] = d.chain_id;
  o["parentChainId"] = d.parent_chain_id.empty() ? boost::json::value(nullptr)
                                                 : boost::json::value(d.parent_chain_id);
  o["delegatorAgentId"] = d.delegator_agent_id;
  o["delegateeAgentId"] = d.delegatee_agent_id;
  o["scopes"] = ScopeArrayJson(d.scopes);
  o["depth"] = d.depth;
  o["expiresAt"] = core::FormatIso8601(d.expires_at);
  o["expiresIn"] = grant->token.expires_in;
  done(NoStore(Json(201, o)));
}

void Api::VerifyDelegation(RequestContext& ctx, Responder done) {
  auto body = JsonBody(ctx.req);
  if (!body.ok()) return Reply(done, std::move(body).error());
  const boost::json::value* token = nullptr;
  for (const auto& kv : *body) {
    if (kv.key() == "delegationToken" || kv.key() == "delegation_token") {
      if (token) return Reply(done, Error::Validation("Give the token once"));
      token = &kv.value();
    } else {
      return Reply(done, Error::Validation("Unknown field \"" + std::string(kv.key()) + "\""));
    }
  }
  if (!token || !token->is_string() || token->get_string().empty())
    return Reply(done, Error::Validation("\"delegationToken\" is required"));
  auto check = s_.delegations->Verify(*ctx.principal, token->get_string());
  if (!check.ok()) return Reply(done, std::move(check).error());
  boost::json::object o;
  o["valid"] = check->valid;
  if (!check->valid) {
    o["reason"] = check->reason;
    return done(NoStore(Json(200, o)));
  }
  delegations_verified_->Inc();
  const auto& d = *check->record;
  o["chainId"] = d.chain_id;
  o["delegatorAgentId"] = d.delegator_agent_id;
  o["delegateeAgentId"] = d.delegatee_agent_id;
  o["subject"] = check->info.agent_id;
  o["scopes"] = ScopeArrayJson(domain::JoinScopes(check->info.scopes));
  o["depth"] = d.depth;
  o["expiresAt"] = core::FormatIso8601(check->info.exp_s * 1000);
  boost::json::array chain;
  for (const auto& id : check->info.chain_ids) chain.emplace_back(id);
  o["chain"] = std::move(chain);
  if (const auto* act = check->info.claims.if_contains("act")) o["act"] = *act;
  done(NoStore(Json(200, o)));
}

void Api::RevokeDelegation(RequestContext& ctx, Responder done) {
  auto st = s_.delegations->Revoke(*ctx.principal, std::string(ctx.req.PathParam("chainId")));
  if (!st.ok()) return Reply(done, std::move(st).error());
  delegations_revoked_->Inc();
  done(NoContent());
}

// Organizations

namespace {
std::string OrgIdParam(const RequestContext& ctx) {
  return std::string(ctx.req.PathParam("orgId"));
}
}  // namespace

void Api::CreateOrg(RequestContext& ctx, Responder done) {
  auto body = JsonBody(ctx.req);
  if (!body.ok()) return Reply(done, std::move(body).error());
  auto input = domain::ParseOrgInput(*body, false);
  if (!input.ok()) return Reply(done, std::move(input).error());
  auto org = s_.orgs->Create(*ctx.principal, *input);
  if (!org.ok()) return Reply(done, std::move(org).error());
  done(Created(domain::OrgToJson(*org), "/api/v1/organizations/" + org->organization_id));
}

void Api::ListOrgs(RequestContext& ctx, Responder done) {
  auto q = http::ParseQuery(ctx.req.query);
  if (!q.ok()) return Reply(done, std::move(q).error());
  auto page = PageParams(*q);
  if (!page.ok()) return Reply(done, std::move(page).error());
  domain::OrgFilter f;
  for (const auto& [k, v] : *q) {
    if (k == "status") {
      if (v != "active" && v != "suspended" && v != "deleted")
        return Reply(done, Error::Validation("\"status\" must be active, suspended or deleted"));
      f.status = v;
    } else if (k != "page" && k != "limit") {
      return Reply(done, Error::Validation("Unknown query parameter \"" + k + "\""));
    }
  }
  auto list = s_.orgs->List(*ctx.principal, f, *page);
  if (!list.ok()) return Reply(done, std::move(list).error());
  boost::json::array data;
  for (const auto& o : list->data) data.push_back(domain::OrgToJson(o));
  done(http::JsonResponse(200, PageBody(std::move(data), list->total, *page)));
}

void Api::GetOrg(RequestContext& ctx, Responder done) {
  auto org = s_.orgs->Get(*ctx.principal, OrgIdParam(ctx));
  if (!org.ok()) return Reply(done, std::move(org).error());
  done(Json(200, domain::OrgToJson(*org)));
}

void Api::UpdateOrg(RequestContext& ctx, Responder done) {
  auto body = JsonBody(ctx.req);
  if (!body.ok()) return Reply(done, std::move(body).error());
  auto input = domain::ParseOrgInput(*body, true);
  if (!input.ok()) return Reply(done, std::move(input).error());
  auto org = s_.orgs->Update(*ctx.principal, OrgIdParam(ctx), *input);
  if (!org.ok()) return Reply(done, std::move(org).error());
  // A new plan tier applies to the daily limits at once on this node (others: through the
  // organization message on the cluster bus, or the tier cache's TTL without one).
  s_.org_tiers->Invalidate(org->organization_id);
  done(Json(200, domain::OrgToJson(*org)));
}

void Api::DeleteOrg(RequestContext& ctx, Responder done) {
  auto st = s_.orgs->Delete(*ctx.principal, OrgIdParam(ctx));
  if (!st.ok()) return Reply(done, std::move(st).error());
  done(NoContent());
}

void Api::AddOrgMember(RequestContext& ctx, Responder done) {
  auto body = JsonBody(ctx.req);
  if (!body.ok()) return Reply(done, std::move(body).error());
  auto input = domain::ParseMemberInput(*body);
  if (!input.ok()) return Reply(done, std::move(input).error());
  auto member =
      s_.orgs->AddMember(*ctx.principal, OrgIdParam(ctx), input->agent_id, input->role,
                         RoleScopesOf(policy(), s_.tokens->settings().system_organization_id));
  if (!member.ok()) return Reply(done, std::move(member).error());
  done(Json(201, domain::MembershipToJson(*member)));
}

// ---------------------------------------------------------------------------------------
// DIDs and agent cards

namespace {
Response DidJson(int status, const boost::json::value& v) {
  Response r = Json(status, v);
  r.content_type = std::string(domain::kDidContentType);
  return r;
}
}  // namespace

core::Result<domain::Agent> Api::PublicDidAgent(const RequestContext& ctx) {
  auto not_found = Error::NotFound("AGENT_NOT_FOUND", "Agent not found");
  const std::string id = AgentIdParam(ctx);
  if (!core::IsUuid(id)) return not_found;
  // DID documents and cards are public (SPEC §4): any agent's, whoever asks. A system-scope
  // read; the agent's key is then read (or created) in its own organization's scope.
  TRY_ASSIGN(auto agent, s_.store->agents().Get(domain::TenantScope::System(), id));
  if (!agent) return not_found;
  if (agent->status == "decommissioned")
    return Error{core::Errc::kGone, "AGENT_DECOMMISSIONED",
                 "The agent is decommissioned; its DID is deactivated"};
  return std::move(*agent);
}

void Api::InstanceDid(RequestContext&, Responder done) {
  Response r = DidJson(200, s_.dids->InstanceDocument(*s_.keyring->Snapshot()));
  // As the JWKS: shorter than the staging delay, so a new key is seen before it signs.
  r.SetHeader("Cache-Control",
              "public, max-age=" +
                  std::to_string(std::clamp(s_.config->key_activation_delay_seconds / 2, 0, 300)));
  done(std::move(r));
}

void Api::AgentDidDocument(RequestContext& ctx, Responder done) {
  auto agent = PublicDidAgent(ctx);
  if (!agent.ok()) return Reply(done, std::move(agent).error());
  auto key = s_.dids->KeyFor(*agent);
  if (!key.ok()) return Reply(done, std::move(key).error());
  Response r = DidJson(200, s_.dids->AgentDocument(*agent, *key));
  r.SetHeader("Cache-Control", "public, max-age=60");
  done(std::move(r));
}

void Api::ResolveAgentDid(RequestContext& ctx, Responder done) {
  auto agent = s_.agents->Get(*ctx.principal, AgentIdParam(ctx));
  if (!agent.ok()) return Reply(done, std::move(agent).error());
  if (agent->status == "decommissioned") {
    // DID Resolution HTTP binding: a deactivated DID answers 410 with its metadata.
    return done(Json(410, s_.dids->Resolution(*agent, nullptr)));
  }
  auto key = s_.dids->KeyFor(*agent);
  if (!key.ok()) return Reply(done, std::move(key).error());
  Response r = Json(200, s_.dids->Resolution(*agent, &*key));
  r.content_type = "application/ld+json;profile=\"https://w3id.org/did-resolution\"";
  done(std::move(r));
}

void Api::RotateAgentDidKey(RequestContext& ctx, Responder done) {
  // Tenant confinement as for any agent route: a foreign agent is not found.
  auto agent = s_.agents->Get(*ctx.principal, AgentIdParam(ctx));
  if (!agent.ok()) return Reply(done, std::move(agent).error());
  if (agent->status == "decommissioned")
    return Reply(done, Error::Conflict("AGENT_ALREADY_DECOMMISSIONED",
                                       "The agent is decommissioned; its DID is deactivated"));
  auto rotated = s_.dids->RotateKey(*agent);
  if (!rotated.ok()) return Reply(done, std::move(rotated).error());
  const std::string did = domain::AgentDid(s_.did_base, agent->agent_id);
  domain::AuditRecord rec =
      RequestRecord(ctx, "key.rotated", agent->agent_id, agent->organization_id);
  boost::json::object meta;
  meta["keyType"] = "agent_did";
  meta["kid"] = rotated->key.kid;
  meta["alg"] = rotated->key.alg;
  if (!rotated->previous_kid.empty()) meta["previousKid"] = rotated->previous_kid;
  meta["rotatedBy"] = ctx.principal->holder();
  rec.metadata_json = boost::json::serialize(meta);
  if (auto st = s_.audit->Write(std::move(rec)); !st.ok())
    return Reply(done, Error::Unavailable("The key rotation could not be recorded; retry"));
  boost::json::object o;
  o["agentId"] = agent->agent_id;
  o["did"] = did;
  o["kid"] = rotated->key.kid;
  o["alg"] = rotated->key.alg;
  o["verificationMethod"] = did + "#" + rotated->key.kid;
  o["previousKid"] = rotated->previous_kid.empty() ? boost::json::value(nullptr)
                                                   : boost::json::value(rotated->previous_kid);
  o["rotatedAt"] = core::FormatIso8601(rotated->key.created_at);
  done(NoStore(Json(200, o)));
}

void Api::AgentCard(RequestContext& ctx, Responder done) {
  auto q = http::ParseQuery(ctx.req.query);
  if (!q.ok()) return Reply(done, std::move(q).error());
  bool jwt = false;
  for (const auto& [k, v] : *q) {
    if (k == "format" && (v == "json" || v == "jwt")) {
      jwt = v == "jwt";
    } else {
      return Reply(done, Error::Validation("Only \"format=json\" or \"format=jwt\" may be given"));
    }
  }
  auto agent = PublicDidAgent(ctx);
  if (!agent.ok()) return Reply(done, std::move(agent).error());
  auto key = s_.dids->KeyFor(*agent);
  if (!key.ok()) return Reply(done, std::move(key).error());
  if (jwt) {
    auto signed_card = s_.dids->SignedCard(*agent, *key);
    if (!signed_card.ok()) return Reply(done, std::move(signed_card).error());
    Response r;
    r.status = 200;
    r.content_type = "application/jwt";
    r.body = std::move(signed_card).value();
    r.SetHeader("Cache-Control", "no-store");
    return done(std::move(r));
  }
  Response r = Json(200, s_.dids->Card(*agent, *key));
  r.SetHeader("Cache-Control", "public, max-age=60");
  done(std::move(r));
}

void Api::ComplianceAgentCards(RequestContext& ctx, Responder done) {
  auto q = http::ParseQuery(ctx.req.query);
  if (!q.ok()) return Reply(done, std::move(q).error());
  auto page = PageParams(*q);
  if (!page.ok()) return Reply(done, std::move(page).error());
  domain::AgentFilter f;
  f.organization_id = ctx.principal->organization_id;
  f.status = "active";
  for (const auto& [k, v] : *q) {
    if (k == "organizationId") {
      // Another organization's cards only for cross-tenant administrators; for anyone else
      // the filter cannot widen what they see (tenant confinement).
      if (ctx.principal->CanSee(v)) f.organization_id = v;
    } else if (k != "page" && k != "limit") {
      return Reply(done, Error::Validation("Unknown query parameter \"" + k + "\""));
    }
  }
  auto list = s_.agents->List(*ctx.principal, f, *page);
  if (!list.ok()) return Reply(done, std::move(list).error());
  boost::json::array data;
  for (const auto& a : list->data) {
    auto key = s_.dids->KeyFor(a);
    if (!key.ok()) return Reply(done, std::move(key).error());
    data.push_back(s_.dids->Card(a, *key));
  }
  done(http::JsonResponse(200, PageBody(std::move(data), list->total, *page)));
}

// ---------------------------------------------------------------------------------------
// Workload identity federation (SPEC §6) and federation partners (SPEC §4)

namespace {
boost::json::object TokenBody(const domain::IssuedToken& t) {
  boost::json::object body;
  body["access_token"] = t.access_token;
  body["token_type"] = t.token_type;
  body["expires_in"] = t.expires_in;
  body["scope"] = t.scope;
  body["issued_token_type"] = "urn:ietf:params:oauth:token-type:access_token";
  return body;
}
}  // namespace

void Api::CreateTrustPolicy(RequestContext& ctx, Responder done) {
  auto body = JsonBody(ctx.req);
  if (!body.ok()) return Reply(done, std::move(body).error());
  auto created = s_.workload->CreatePolicy(*ctx.principal, *body);
  if (!created.ok()) return Reply(done, std::move(created).error());
  domain::AuditRecord rec = RequestRecord(ctx, "oidc.trust_policy.created", ctx.principal->agent_id,
                                          created->organization_id);
  boost::json::object meta;
  meta["policyId"] = created->policy_id;
  meta["provider"] = created->provider;
  meta["bootstrap"] = created->agent_id.empty();
  if (!created->agent_id.empty()) meta["boundAgentId"] = created->agent_id;
  rec.metadata_json = boost::json::serialize(meta);
  if (auto st = s_.audit->Write(std::move(rec)); !st.ok())
    return Reply(done, Error::Unavailable("The trust policy could not be recorded; retry"));
  done(Created(domain::TrustPolicyToJson(*created, s_.workload->settings()),
               "/api/v1/oidc/trust-policies/" + created->policy_id));
}

void Api::ListTrustPolicies(RequestContext& ctx, Responder done) {
  auto q = http::ParseQuery(ctx.req.query);
  if (!q.ok()) return Reply(done, std::move(q).error());
  for (const auto& [k, v] : *q)
    if (k != "page" && k != "limit")
      return Reply(done, Error::Validation("Unknown query parameter \"" + k + "\""));
  auto page = PageParams(*q);
  if (!page.ok()) return Reply(done, std::move(page).error());
  auto list = s_.workload->ListPolicies(*ctx.principal);
  if (!list.ok()) return Reply(done, std::move(list).error());
  boost::json::array data;
  const size_t first = static_cast<size_t>(page->page - 1) * static_cast<size_t>(page->limit);
  for (size_t i = first; i < list->size() && i < first + static_cast<size_t>(page->limit); ++i)
    data.push_back(domain::TrustPolicyToJson((*list)[i], s_.workload->settings()));
  done(http::JsonResponse(200,
                          PageBody(std::move(data), static_cast<int64_t>(list->size()), *page)));
}

void Api::DeleteTrustPolicy(RequestContext& ctx, Responder done) {
  auto deleted =
      s_.workload->DeletePolicy(*ctx.principal, std::string(ctx.req.PathParam("policyId")));
  if (!deleted.ok()) return Reply(done, std::move(deleted).error());
  domain::AuditRecord rec = RequestRecord(ctx, "oidc.trust_policy.deleted", ctx.principal->agent_id,
                                          deleted->organization_id);
  rec.metadata_json = boost::json::serialize(boost::json::object{{"policyId", deleted->policy_id}});
  s_.audit->Post(std::move(rec));
  done(NoContent());
}

void Api::OidcToken(RequestContext& ctx, Responder done) {
  // The external token is single-use: this route always runs on a worker (Exec::kWorker).
  auto body = JsonBody(ctx.req);
  if (!body.ok()) return Reply(done, std::move(body).error());
  std::optional<std::string> token, policy_id, scope;
  for (const auto& kv : *body) {
    const auto& v = kv.value();
    const std::string key(kv.key());
    if (key != "token" && key != "policyId" && key != "scope")
      return Reply(done, Error::OAuth("invalid_request", "Unknown field \"" + key + "\""));
    if (!v.is_string() || v.get_string().empty())
      return Reply(done,
                   Error::OAuth("invalid_request", "\"" + key + "\" must be a non-empty string"));
    (key == "token" ? token : key == "policyId" ? policy_id : scope) = std::string(v.get_string());
  }
  if (!token) return Reply(done, Error::OAuth("invalid_request", "\"token\" is required"));
  if (auto st = ExternalTokenThrottle(ctx); !st.ok()) return Reply(done, std::move(st).error());
  auto policy = this->policy();
  FinishFederatedToken(ctx, std::move(done),
                       s_.workload->Exchange(*token, policy_id, scope, *policy),
                       "urn:agentidp:oidc-federation", "");
}

void Api::JwtBearerGrant(RequestContext& ctx, Responder done, const std::string& jkt) {
  if (!ctx.may_block) return RetryOnWorker(done);
  // The assertion is the credential; a second one (client authentication) is refused rather
  // than silently ignored.
  if (!ctx.req.Header("authorization").empty() || FormValue(ctx.form, "client_secret") ||
      FormValue(ctx.form, "client_assertion"))
    return Reply(done, Error::OAuth("invalid_request",
                                    "The jwt-bearer grant takes no client authentication: the "
                                    "assertion is the credential"));
  const std::string* assertion = FormValue(ctx.form, "assertion");
  if (!assertion || assertion->empty())
    return Reply(done, Error::OAuth("invalid_request", "assertion is required"));
  std::optional<std::string> scope;
  if (const std::string* sc = FormValue(ctx.form, "scope")) scope = *sc;
  if (auto st = ExternalTokenThrottle(ctx); !st.ok()) return Reply(done, std::move(st).error());
  auto policy = this->policy();
  FinishFederatedToken(ctx, std::move(done),
                       s_.workload->Exchange(*assertion, std::nullopt, scope, *policy, jkt),
                       std::string(domain::kJwtBearerGrantType), jkt);
}

// Refused external tokens slow their sender down like failed client authentications
// (auth_failures_before_slowdown free failures per client address, then 429 + Retry-After).
core::Status Api::ExternalTokenThrottle(RequestContext& ctx) {
  if (int64_t wait = s_.auth_throttle->RetryAfter("external-token|" + ctx.req.remote_ip);
      wait > 0) {
    auth_failures_->Inc();
    Error e = Error::OAuth("invalid_grant", "Too many refused tokens; retry later", 429);
    e.retry_after = static_cast<int>(wait);
    return e;
  }
  return core::Ok();
}

void Api::FinishFederatedToken(RequestContext& ctx, Responder done,
                               core::Result<domain::FederatedToken> issued,
                               const std::string& grant_type, const std::string& jkt) {
  const std::string throttle_key = "external-token|" + ctx.req.remote_ip;
  if (!issued.ok()) {
    const Error& e = issued.error();
    if (e.kind == core::Errc::kOAuth && e.code == "invalid_grant") {
      s_.auth_throttle->RecordFailure(throttle_key);
      auth_failures_->Inc();
      domain::AuditRecord r;
      r.action = "auth.failed";
      r.outcome = "failure";
      r.ip_address = ctx.req.remote_ip;
      r.user_agent = std::string(ctx.req.Header("user-agent").substr(0, 256));
      boost::json::object meta;
      meta["reason"] = "invalid_external_token";
      meta["grantType"] = grant_type;
      meta["path"] = ctx.req.path;
      r.metadata_json = boost::json::serialize(meta);
      s_.audit->Post(std::move(r));
    }
    if (e.kind != core::Errc::kOAuth) return Reply(done, OAuthUnavailable("Try again shortly"));
    return Reply(done, std::move(issued).error());
  }
  s_.auth_throttle->RecordSuccess(throttle_key);
  const domain::FederatedToken& t = *issued;
  // The organization's daily token issuances (SPEC §8); the organization is known once the
  // external token matched a trust policy. A refused token is never handed out.
  auto quota = TokenQuota(t.organization_id, true);
  auto hit = quota.ok() ? s_.token_limiter->Hit("", &*quota, true)
                        : core::Result<domain::RateDecision>(quota.error());
  if (!hit.ok()) return Reply(done, OAuthUnavailable("Try again shortly"));
  if (!hit->allowed) {
    token_quota_refusals_->Inc();
    return Reply(done, OAuthQuotaExceeded(*hit));
  }
  Response response = NoStore(Json(200, TokenBody(t.token)));
  if (!jkt.empty() && s_.dpop->nonces_required())
    response.SetHeader("DPoP-Nonce", s_.dpop->CurrentNonce());
  domain::AuditRecord rec = RequestRecord(ctx, "token.issued", t.agent_id, t.organization_id);
  boost::json::object meta;
  meta["jti"] = t.token.jti;
  meta["grantType"] = grant_type;
  meta["scope"] = t.token.scope;
  meta["policyId"] = t.policy.policy_id;
  meta["bootstrap"] = t.bootstrap;
  meta["externalIssuer"] = t.external_issuer;
  meta["externalSubject"] = t.external_subject.substr(0, 256);
  if (!t.external_jti.empty()) meta["externalJti"] = t.external_jti.substr(0, 256);
  if (!jkt.empty()) meta["dpopJkt"] = jkt;
  meta["expiresAt"] = core::FormatIso8601(t.token.expires_at_ms);
  rec.metadata_json = boost::json::serialize(meta);
  s_.audit->Submit(std::move(rec), [done = std::move(done), response = std::move(response),
                                    counter = tokens_issued_](const core::Status& st) mutable {
    if (!st.ok()) {
      done(http::ErrorResponse(OAuthUnavailable("Token could not be recorded; retry")));
      return;
    }
    counter->Inc();
    done(std::move(response));
  });
}

void Api::CreatePartner(RequestContext& ctx, Responder done) {
  auto body = JsonBody(ctx.req);
  if (!body.ok()) return Reply(done, std::move(body).error());
  auto created = s_.partners->Create(*body);
  if (!created.ok()) return Reply(done, std::move(created).error());
  domain::AuditRecord rec = RequestRecord(ctx, "federation.partner.created",
                                          ctx.principal->agent_id, ctx.principal->organization_id);
  rec.metadata_json = boost::json::serialize(
      boost::json::object{{"partnerId", created->partner_id}, {"issuer", created->issuer}});
  if (auto st = s_.audit->Write(std::move(rec)); !st.ok())
    return Reply(done, Error::Unavailable("The partner could not be recorded; retry"));
  done(Created(domain::PartnerToJson(*created, s_.partners->NowMs()),
               "/api/v1/federation/partners/" + created->partner_id));
}

void Api::ListPartners(RequestContext& ctx, Responder done) {
  auto q = http::ParseQuery(ctx.req.query);
  if (!q.ok()) return Reply(done, std::move(q).error());
  std::optional<std::string> status;
  for (const auto& [k, v] : *q) {
    if (k == "status") {
      if (v != "active" && v != "inactive" && v != "expired")
        return Reply(done, Error::Validation("\"status\" must be active, inactive or expired"));
      status = v;
    } else if (k != "page" && k != "limit") {
      return Reply(done, Error::Validation("Unknown query parameter \"" + k + "\""));
    }
  }
  auto page = PageParams(*q);
  if (!page.ok()) return Reply(done, std::move(page).error());
  auto list = s_.partners->List();
  if (!list.ok()) return Reply(done, std::move(list).error());
  const int64_t now = s_.partners->NowMs();
  std::vector<const domain::FederationPartner*> kept;
  for (const auto& p : *list)
    if (!status || domain::PartnerStatus(p, now) == *status) kept.push_back(&p);
  boost::json::array data;
  const size_t first = static_cast<size_t>(page->page - 1) * static_cast<size_t>(page->limit);
  for (size_t i = first; i < kept.size() && i < first + static_cast<size_t>(page->limit); ++i)
    data.push_back(domain::PartnerToJson(*kept[i], now));
  done(
      http::JsonResponse(200, PageBody(std::move(data), static_cast<int64_t>(kept.size()), *page)));
}

void Api::GetPartner(RequestContext& ctx, Responder done) {
  auto p = s_.partners->Get(std::string(ctx.req.PathParam("partnerId")));
  if (!p.ok()) return Reply(done, std::move(p).error());
  done(Json(200, domain::PartnerToJson(*p, s_.partners->NowMs())));
}

void Api::UpdatePartner(RequestContext& ctx, Responder done) {
  auto body = JsonBody(ctx.req);
  if (!body.ok()) return Reply(done, std::move(body).error());
  auto p = s_.partners->Update(std::string(ctx.req.PathParam("partnerId")), *body);
  if (!p.ok()) return Reply(done, std::move(p).error());
  domain::AuditRecord rec = RequestRecord(ctx, "federation.partner.updated",
                                          ctx.principal->agent_id, ctx.principal->organization_id);
  rec.metadata_json = boost::json::serialize(boost::json::object{{"partnerId", p->partner_id}});
  s_.audit->Post(std::move(rec));
  done(Json(200, domain::PartnerToJson(*p, s_.partners->NowMs())));
}

void Api::DeletePartner(RequestContext& ctx, Responder done) {
  const std::string id(ctx.req.PathParam("partnerId"));
  auto st = s_.partners->Delete(id);
  if (!st.ok()) return Reply(done, std::move(st).error());
  domain::AuditRecord rec = RequestRecord(ctx, "federation.partner.deleted",
                                          ctx.principal->agent_id, ctx.principal->organization_id);
  rec.metadata_json = boost::json::serialize(boost::json::object{{"partnerId", id}});
  s_.audit->Post(std::move(rec));
  done(NoContent());
}

void Api::VerifyFederated(RequestContext& ctx, Responder done) {
  auto body = JsonBody(ctx.req);
  if (!body.ok()) return Reply(done, std::move(body).error());
  std::string token;
  std::optional<std::string> audience;
  for (const auto& kv : *body) {
    const auto& v = kv.value();
    if (kv.key() == "token") {
      if (!v.is_string() || v.get_string().empty())
        return Reply(done, Error::Validation("\"token\" must be a non-empty string"));
      token = std::string(v.get_string());
    } else if (kv.key() == "audience") {
      if (!v.is_string() || v.get_string().empty())
        return Reply(done, Error::Validation("\"audience\" must be a non-empty string"));
      audience = std::string(v.get_string());
    } else {
      return Reply(done, Error::Validation("Unknown field \"" + std::string(kv.key()) + "\""));
    }
  }
  if (token.empty()) return Reply(done, Error::Validation("\"token\" is required"));
  auto result = s_.partners->Verify(*ctx.principal, token, audience);
  if (!result.ok()) return Reply(done, std::move(result).error());
  boost::json::object o;
  o["valid"] = result->valid;
  o["issuer"] =
      result->issuer.empty() ? boost::json::value(nullptr) : boost::json::value(result->issuer);
  if (result->valid)
    o["claims"] = result->claims;
  else
    o["reason"] = result->reason;
  done(NoStore(Json(200, o)));
}

// ---------------------------------------------------------------------------------------
// Usage tiers (SPEC §8)

core::Result<domain::DailyQuota> Api::TokenQuota(const std::string& organization_id,
                                                 bool may_block) {
  TRY_ASSIGN(std::string tier, s_.org_tiers->TierOf(organization_id, may_block));
  return domain::DailyQuota{organization_id, s_.tier_table->For(tier).tokens_per_day};
}

core::Result<domain::DailyQuota> Api::ApiQuota(const std::string& organization_id, bool may_block) {
  TRY_ASSIGN(std::string tier, s_.org_tiers->TierOf(organization_id, may_block));
  return domain::DailyQuota{organization_id, s_.tier_table->For(tier).api_calls_per_day};
}

void Api::TierStatus(RequestContext& ctx, Responder done) {
  auto q = http::ParseQuery(ctx.req.query);
  if (!q.ok()) return Reply(done, std::move(q).error());
  std::string org_id = ctx.principal->organization_id;
  for (const auto& [k, v] : *q) {
    if (k == "organizationId") {
      org_id = v;  // another organization only for cross-tenant administrators (404 otherwise)
    } else {
      return Reply(done, Error::Validation("Unknown query parameter \"" + k + "\""));
    }
  }
  auto org = s_.orgs->Get(*ctx.principal, org_id);
  if (!org.ok()) return Reply(done, std::move(org).error());
  auto tier = s_.org_tiers->TierOf(org->organization_id, true);
  if (!tier.ok()) return Reply(done, std::move(tier).error());
  const domain::TierLimits& limits = s_.tier_table->For(*tier);
  auto agents = s_.store->agents().CountLive(domain::TenantScope::Org(org->organization_id),
                                             org->organization_id);
  if (!agents.ok()) return Reply(done, std::move(agents).error());
  auto api_calls = s_.api_limiter->UsageToday(org->organization_id);
  if (!api_calls.ok()) return Reply(done, std::move(api_calls).error());
  auto tokens = s_.token_limiter->UsageToday(org->organization_id);
  if (!tokens.ok()) return Reply(done, std::move(tokens).error());
  auto limit_json = [](int64_t n) {
    return n == domain::kUnlimited ? boost::json::value(nullptr) : boost::json::value(n);
  };
  // The agent limit is the organization's own maxAgents (set from its tier, adjustable).
  boost::json::object l;
  l["agents"] = limit_json(org->max_agents < 0 ? domain::kUnlimited : org->max_agents);
  l["apiCallsPerDay"] = limit_json(limits.api_calls_per_day);
  l["tokensPerDay"] = limit_json(limits.tokens_per_day);
  boost::json::object u;
  u["agents"] = *agents;
  u["apiCallsToday"] = *api_calls;
  u["tokensToday"] = *tokens;
  boost::json::object o;
  o["organizationId"] = org->organization_id;
  o["tier"] = *tier;
  o["limits"] = std::move(l);
  o["usage"] = std::move(u);
  o["resetsAt"] = core::FormatIso8601(domain::NextUtcMidnight(s_.clock->NowSeconds()) * 1000);
  done(NoStore(Json(200, o)));
}

}  // namespace agentidp::app
