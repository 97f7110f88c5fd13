#pragma once

// The HTTP API: one route table (method, path, id, auth, where it runs), thin handlers that
// parse the wire format, call one domain function and map the result.

#include "app/config.hpp"
#include "core/metrics.hpp"
#include "core/thread_pool.hpp"
#include "domain/agents/agent_service.hpp"
#include "domain/audit/audit_log.hpp"
#include "domain/cluster.hpp"
#include "domain/oauth/rate_limiter.hpp"
#include "domain/oauth/token_service.hpp"
#include "domain/policy/policy.hpp"
#include "domain/replay_cache.hpp"
#include "http/message.hpp"
#include "http/router.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace agentidp::app {

enum class AuthKind {
  kNone,    // public
  kBearer,  // Authorization: Bearer <our access token with the API audience>
  kClient,  // OAuth endpoint: client authentication (basic/post) or a Bearer token
};
enum class Exec {
  kInline,  // cheap, in-memory only: runs on the I/O thread
  kFast,    // runs on the I/O thread while all it needs is in memory (the hot path: cached
            // clients and tokens); a cache miss moves the request to the worker pool
  kWorker,  // may touch the store: runs on the bounded worker pool
};

struct RequestContext {
  explicit RequestContext(http::Request& r) : req(r) {}
  http::Request& req;
  bool may_block = true;  // false on an I/O thread: store reads answer WouldBlock()
  std::optional<domain::Principal> principal;
  // Set for kClient routes authenticated with client credentials.
  std::optional<domain::AuthenticatedClient> client;
  std::vector<std::pair<std::string, std::string>> form;  // kClient routes: parsed body
  std::vector<std::pair<std::string, std::string>> extra_headers;
};

class Api;
using HandlerFn = std::function<void(Api&, RequestContext&, http::Responder)>;

struct Route {
  std::string method;
  std::string pattern;
  std::string id;  // policy key ("agents.create"); empty for public routes
  AuthKind auth = AuthKind::kNone;
  Exec exec = Exec::kWorker;
  HandlerFn handler;
};

// Everything the handlers use; owned by the Runtime (composition root).
struct Services {
  const Config* config = nullptr;
  std::string issuer;
  std::string audience;
  std::string did_base;  // did:web:<host%3Aport>
  domain::Store* store = nullptr;
  domain::AuditWriter* audit = nullptr;
  domain::Keyring* keyring = nullptr;
  domain::TokenService* tokens = nullptr;
  domain::ClientDirectory* clients = nullptr;
  domain::AgentService* agents = nullptr;
  domain::RateLimiter* token_limiter = nullptr;
  domain::RateLimiter* api_limiter = nullptr;
  domain::RateLimiter* verify_limiter = nullptr;
  domain::FailureThrottle* auth_throttle = nullptr;
  core::Metrics* metrics = nullptr;
  core::ThreadPool* workers = nullptr;
  const core::Clock* clock = nullptr;
  // Shared state (app/shared_state.hpp): in process, or Redis with REDIS_URL.
  domain::ReplayCache* replay_cache = nullptr;
  // The "redis" entry of /health/detailed; empty when the shared state is in process.
  std::function<domain::DependencyStatus()> shared_state_probe;
};

class Api final : public http::Application {
 public:
  explicit Api(Services services);

  // The route table (also checked against docs/openapi.yaml by a test).
  static const std::vector<Route>& Routes();
  static std::vector<std::string> PolicyRouteIds();

  void SetPolicy(std::shared_ptr<const domain::Policy> policy);
  std::shared_ptr<const domain::Policy> policy() const;

  void Handle(http::Request req, http::Responder done) override;

  const Services& services() const { return s_; }
  // Chain status from the last verification (metrics gauge).
  void RecordChainStatus(bool verified);

  // Handlers (public for the route table).
  void Health(RequestContext&, http::Responder);
  void HealthDetailed(RequestContext&, http::Responder);
  void MetricsText(RequestContext&, http::Responder);
  void Discovery(RequestContext&, http::Responder);
  void Jwks(RequestContext&, http::Responder);
  void AgentInfo(RequestContext&, http::Responder);
  void Token(RequestContext&, http::Responder);
  void Introspect(RequestContext&, http::Responder);
  void Revoke(RequestContext&, http::Responder);
  void CreateAgent(RequestContext&, http::Responder);
  void ListAgents(RequestContext&, http::Responder);
  void GetAgent(RequestContext&, http::Responder);
  void UpdateAgent(RequestContext&, http::Responder);
  void DeleteAgent(RequestContext&, http::Responder);
  void CreateCredential(RequestContext&, http::Responder);
  void ListCredentials(RequestContext&, http::Responder);
  void RotateCredential(RequestContext&, http::Responder);
  void RevokeCredential(RequestContext&, http::Responder);
  void ListAudit(RequestContext&, http::Responder);
  void GetAudit(RequestContext&, http::Responder);
  void VerifyAudit(RequestContext&, http::Responder);

 private:
  void Run(const Route& route, std::shared_ptr<http::Request> req, http::Responder done,
           bool may_block);
  // Hands the request to the worker pool, or answers 503 when its queue is full.
  void Dispatch(const Route& route, std::shared_ptr<http::Request> req, http::Responder done);
  // Authenticates per the route's AuthKind; fills ctx. Errors are already mapped.
  core::Status Authenticate(const Route& route, RequestContext& ctx);
  core::Result<domain::AuthenticatedClient> AuthenticateClient(RequestContext& ctx, bool required);
  void AuditAuthFailure(const RequestContext& ctx, const std::string& client_id,
                        const std::string& reason);

  Services s_;
  mutable std::mutex policy_mu_;
  std::shared_ptr<const domain::Policy> policy_;
  http::Router<const Route*> router_;
  std::string openid_configuration_;
  std::string oauth_metadata_;
  core::Counter* tokens_issued_ = nullptr;
  core::Counter* auth_failures_ = nullptr;
  core::Counter* revocations_ = nullptr;
  core::Gauge* chain_valid_ = nullptr;
  core::Counter* shed_ = nullptr;
};

}  // namespace agentidp::app
