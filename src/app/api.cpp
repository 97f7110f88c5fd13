#include "app/api.hpp"

#include "core/json.hpp"
#include "http/basic_auth.hpp"
#include "http/error_mapping.hpp"
#include "http/form.hpp"

#include <boost/json/serialize.hpp>

#include <chrono>

namespace agentidp::app {

namespace {

using core::Error;
using http::Responder;
using http::Response;

Response Json(int status, const boost::json::value& v) {
  return http::JsonResponse(status, boost::json::serialize(v));
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
  chain_valid_ = &m.GetGauge("agentidp_audit_chain_valid",
                             "1 if the last audit chain verification passed, 0 if it failed", {});
  chain_valid_->Set(1);
  shed_ = &m.GetCounter("agentidp_requests_shed_total",
                        "Requests refused with 503 because the worker queue was full", {});

  // Discovery documents are fixed for the process lifetime: build them once.
  const std::string& iss = s_.issuer;
  boost::json::object meta;
  meta["issuer"] = iss;
  meta["token_endpoint"] = iss + "/api/v1/token";
  meta["introspection_endpoint"] = iss + "/api/v1/token/introspect";
  meta["revocation_endpoint"] = iss + "/api/v1/token/revoke";
  meta["jwks_uri"] = iss + "/.well-known/jwks.json";
  meta["userinfo_endpoint"] = iss + "/agent-info";
  meta["grant_types_supported"] = boost::json::array{"client_credentials"};
  // No authorization endpoint: no response type is supported (RFC 8414 §2).
  meta["response_types_supported"] = boost::json::array{};
  meta["token_endpoint_auth_methods_supported"] =
      boost::json::array{"client_secret_basic", "client_secret_post"};
  meta["introspection_endpoint_auth_methods_supported"] =
      boost::json::array{"client_secret_basic", "client_secret_post", "bearer"};
  meta["revocation_endpoint_auth_methods_supported"] =
      boost::json::array{"client_secret_basic", "client_secret_post", "bearer"};
  boost::json::array scopes;
  for (const auto& sc : domain::AllScopes()) scopes.emplace_back(sc);
  meta["scopes_supported"] = scopes;
  meta["subject_types_supported"] = boost::json::array{"public"};
  const std::string alg = s_.keyring->options().alg;
  meta["id_token_signing_alg_values_supported"] = boost::json::array{alg};
  meta["token_endpoint_auth_signing_alg_values_supported"] = boost::json::array{};
  meta["claims_supported"] = boost::json::array{
      "iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "organization_id", "email"};
  meta.erase("token_endpoint_auth_signing_alg_values_supported");
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

void Api::Dispatch(const Route& route, std::shared_ptr<http::Request> req, Responder done) {
  // The responder lives in shared state so that a refused task can still answer (DESIGN §4:
  // shed load, do not queue without bound).
  auto state = std::make_shared<std::pair<std::shared_ptr<http::Request>, Responder>>(
      std::move(req), std::move(done));
  bool queued = s_.workers->TrySubmit([this, &route, state] {
    Run(route, std::move(state->first), std::move(state->second), true);
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
              bool may_block) {
  RequestContext ctx{*req};
  ctx.may_block = may_block;
  auto status = Authenticate(route, ctx);
  if (!status.ok() && !may_block && domain::IsWouldBlock(status.error()))
    return Dispatch(route, std::move(req), std::move(done));
  // Handlers may answer asynchronously (after ctx is gone): everything the completion needs
  // is captured by value here.
  Responder finish = [this, &route, req, done = std::move(done), headers = ctx.extra_headers,
                      may_block](Response r) mutable {
    if (r.status == kRetryOnWorker && !may_block)
      return Dispatch(route, std::move(req), std::move(done));
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
  std::string_view authz = req.Header("authorization");
  if (req.HeaderCount("authorization") > 1)
    return Error::OAuth("invalid_request", "Repeated Authorization header");
  const bool basic =
      authz.size() >= 6 && (authz.substr(0, 6) == "Basic " || authz.substr(0, 6) == "basic ");
  std::string client_id, secret;
  if (basic) {
    // Exactly one client authentication method per request (RFC 6749 §2.3).
    if (post_secret)
      return Error::OAuth("invalid_request", "Use one client authentication method, not two");
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
  auto client = s_.tokens->AuthenticateSecret(client_id, secret, ctx.may_block);
  if (!client.ok()) {
    if (client.error().kind == core::Errc::kOAuth) {
      s_.auth_throttle->RecordFailure(throttle_key);
      auth_failures_->Inc();
      AuditAuthFailure(ctx, client_id, "invalid_client_credentials");
    }
    return std::move(client).error();
  }
  s_.auth_throttle->RecordSuccess(throttle_key);
  return client;
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
  const bool bearer =
      authz.size() > 7 && (authz.substr(0, 7) == "Bearer " || authz.substr(0, 7) == "bearer ");
  if (route.auth == AuthKind::kClient) {
    TRY_ASSIGN(ctx.form, OAuthForm(req));
  }
  if (bearer) {
    if (req.HeaderCount("authorization") > 1)
      return Error::OAuth("invalid_request", "Repeated Authorization header");
    std::string_view token = authz.substr(7);
    auto principal = s_.tokens->AuthenticateBearer(token, *policy, ctx.may_block);
    if (!principal.ok()) {
      if (domain::IsWouldBlock(principal.error())) return std::move(principal).error();
      if (principal.error().kind != core::Errc::kOAuth)
        return route.auth == AuthKind::kClient ? OAuthUnavailable("Try again shortly")
                                               : Error::Unavailable("Try again shortly", 1);
      auth_failures_->Inc();
      AuditAuthFailure(ctx, "", "invalid_bearer_token");
      if (route.auth == AuthKind::kClient)
        return Error::OAuth("invalid_token", "The access token is invalid", 401);
      Error e = Error::Unauthorized("Invalid or expired access token");
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
  // A shared (Redis) limiter answers WouldBlock on an I/O thread: Run moves us to a worker.
  TRY_ASSIGN(domain::RateDecision decision,
             s_.api_limiter->Hit(ctx.principal->agent_id, ctx.may_block));
  AddRateHeaders(ctx, decision);
  if (!decision.allowed) {
    if (route.auth == AuthKind::kClient) return OAuthRateLimited(decision.retry_after_s);
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
  // Authenticate first: an unauthenticated caller learns nothing about grants (RFC 6749 §5.2
  // orders invalid_client before unsupported_grant_type in practice).
  auto client = AuthenticateClient(ctx, true);
  if (!client.ok()) {
    if (domain::IsWouldBlock(client.error())) return RetryOnWorker(done);
    return Reply(done, std::move(client).error());
  }
  if (!grant || grant->empty())
    return Reply(done, Error::OAuth("invalid_request", "grant_type is required"));
  if (*grant != "client_credentials")
    return Reply(
        done, Error::OAuth("unsupported_grant_type", "Supported grant types: client_credentials"));
  auto hit = s_.token_limiter->Hit(client->record->agent.agent_id, ctx.may_block);
  if (!hit.ok()) {  // WouldBlock: a shared (Redis) limiter on the I/O thread
    if (!ctx.may_block) return RetryOnWorker(done);
    return Reply(done, OAuthUnavailable("Try again shortly"));
  }
  const domain::RateDecision decision = *hit;
  AddRateHeaders(ctx, decision);
  std::vector<std::pair<std::string, std::string>> rate_headers = ctx.extra_headers;
  auto with_rate = [rate_headers](Response r) {
    for (const auto& [k, v] : rate_headers) r.SetHeader(k, v);
    return r;
  };
  if (!decision.allowed)
    return done(with_rate(http::ErrorResponse(OAuthRateLimited(decision.retry_after_s))));
  std::optional<std::string> scope;
  if (const std::string* sc = FormValue(ctx.form, "scope")) scope = *sc;
  auto policy = this->policy();
  auto issued = s_.tokens->IssueClientCredentials(*client, scope, *policy);
  if (!issued.ok()) return done(with_rate(http::ErrorResponse(issued.error())));

  boost::json::object body;
  body["access_token"] = issued->access_token;
  body["token_type"] = issued->token_type;
  body["expires_in"] = issued->expires_in;
  body["scope"] = issued->scope;
  if (!issued->id_token.empty()) body["id_token"] = issued->id_token;
  Response response = with_rate(NoStore(Json(200, body)));

  domain::AuditRecord rec;
  rec.agent_id = client->record->agent.agent_id;
  rec.organization_id = client->record->agent.organization_id;
  rec.action = "token.issued";
  rec.ip_address = ctx.req.remote_ip;
  rec.user_agent = std::string(ctx.req.Header("user-agent").substr(0, 256));
  boost::json::object meta;
  meta["jti"] = issued->jti;
  meta["grantType"] = "client_credentials";
  meta["scope"] = issued->scope;
  meta["credentialId"] = client->credential_id;
  meta["expiresAt"] = core::FormatIso8601(issued->expires_at_ms);
  rec.metadata_json = boost::json::serialize(meta);
  // A 200 means the token.issued event is durable (group commit): answer when its batch
  // commits; if it cannot be recorded, the token is not handed out.
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

void Api::Introspect(RequestContext& ctx, Responder done) {
  const std::string* token = FormValue(ctx.form, "token");
  if (!token || token->empty())
    return Reply(done, Error::OAuth("invalid_request", "token is required"));
  auto inactive = [&] { done(NoStore(http::JsonResponse(200, R"({"active":false})"))); };
  auto info = s_.tokens->Validate(*token, ctx.may_block);
  if (!info.ok()) {
    if (domain::IsWouldBlock(info.error())) return RetryOnWorker(done);
    if (info.error().kind != core::Errc::kOAuth)
      return Reply(done, OAuthUnavailable("Token state could not be read; retry"));
    return inactive();
  }
  // Tokens of another organization are not the caller's business (SPEC §5).
  if (!ctx.principal->CanSee(info->organization_id)) return inactive();
  boost::json::object o;
  o["active"] = true;
  for (const char* k : {"scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti",
                        "organization_id", "act", "cnf"}) {
    if (auto* v = info->claims.if_contains(k)) o[k] = *v;
  }
  o["token_type"] = "Bearer";
  done(NoStore(Json(200, o)));
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
  domain::AuditRecord rec;
  rec.agent_id = info->agent_id;
  rec.organization_id = info->organization_id;
  rec.action = "token.revoked";
  rec.ip_address = ctx.req.remote_ip;
  rec.user_agent = std::string(ctx.req.Header("user-agent").substr(0, 256));
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
  Response r = Json(201, domain::AgentToJson(*agent, s_.did_base));
  r.SetHeader("Location", "/api/v1/agents/" + agent->agent_id);
  done(std::move(r));
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
  o["clientSecret"] = s.client_secret;
  return o;
}
}  // namespace

void Api::CreateCredential(RequestContext& ctx, Responder done) {
  auto body = JsonBody(ctx.req);
  if (!body.ok()) return Reply(done, std::move(body).error());
  std::optional<int64_t> expires_at;
  for (const auto& [k, v] : *body) {
    if (k == "expiresAt") {
      int64_t ms = 0;
      if (v.is_null()) continue;
      if (!v.is_string() || !core::ParseIso8601(std::string_view(v.as_string()), ms))
        return Reply(done, Error::Validation("\"expiresAt\" must be an ISO-8601 date-time"));
      expires_at = ms;
    } else if (k == "type") {
      if (!v.is_string() || v.as_string() != "client_secret")
        return Reply(done, Error::Validation("\"type\" must be client_secret"));
    } else {
      return Reply(done, Error::Validation("Unknown field \"" + std::string(k) + "\""));
    }
  }
  auto created = s_.agents->CreateCredential(*ctx.principal, AgentIdParam(ctx), expires_at);
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
  auto rotated = s_.agents->RotateCredential(*ctx.principal, AgentIdParam(ctx),
                                             std::string(ctx.req.PathParam("credentialId")));
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
  auto list = s_.store->audit().List(*f, *page);
  if (!list.ok()) return Reply(done, std::move(list).error());
  boost::json::array data;
  for (const auto& e : list->data) data.push_back(domain::AuditEventToJson(e));
  done(http::JsonResponse(200, PageBody(std::move(data), list->total, *page)));
}

void Api::GetAudit(RequestContext& ctx, Responder done) {
  std::string id(ctx.req.PathParam("eventId"));
  auto not_found = Error::NotFound("AUDIT_EVENT_NOT_FOUND", "Audit event not found");
  if (!core::IsUuid(id)) return Reply(done, not_found);
  auto ev = s_.store->audit().Get(id);
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

}  // namespace agentidp::app
