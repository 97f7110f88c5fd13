#pragma once

// The HTTP API: one route table (method, path, id, auth, where it runs), thin handlers that
// parse the wire format, call one domain function and map the result.

#include "app/config.hpp"
#include "core/metrics.hpp"
#include "core/thread_pool.hpp"
#include "domain/agents/agent_service.hpp"
#include "domain/audit/audit_log.hpp"
#include "domain/cluster.hpp"
#include "domain/delegation/delegation_service.hpp"
#include "domain/did/did_service.hpp"
#include "domain/federation/partners.hpp"
#include "domain/federation/workload_identity.hpp"
#include "domain/oauth/client_assertion.hpp"
#include "domain/oauth/dpop.hpp"
#include "domain/oauth/rate_limiter.hpp"
#include "domain/oauth/token_service.hpp"
#include "domain/orgs/org_service.hpp"
#include "domain/policy/policy.hpp"
#include "domain/replay_cache.hpp"
#include "domain/tiers/tiers.hpp"
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
  // The token endpoint's second pass on the I/O thread, after an asynchronous rate-limit
  // answer (a shared limiter's round trip on the thread's event loop): the counted decision.
  std::optional<domain::RateDecision> token_rate;
  // The same for the API limiter in Authenticate; `api_rate_key` names what Authenticate
  // wanted to count when that limiter answered WouldBlock.
  std::optional<domain::RateDecision> api_rate;
  std::string api_rate_key;
  std::optional<domain::DailyQuota> api_quota;  // the organization's quota that goes with it
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
  domain::ClientAssertionVerifier* assertions = nullptr;  // private_key_jwt
  domain::DpopVerifier* dpop = nullptr;
  domain::DelegationService* delegations = nullptr;
  domain::OrgService* orgs = nullptr;  // organizations and members
  domain::DidService* dids = nullptr;  // DID documents, resolution, agent cards
  core::Metrics* metrics = nullptr;
  core::ThreadPool* workers = nullptr;
  const core::Clock* clock = nullptr;
  // Workload identity federation and federation partners.
  domain::WorkloadIdentity* workload = nullptr;
  domain::FederationPartners* partners = nullptr;
  // Usage tiers (SPEC §8): daily limits per tier, each organization's tier.
  const domain::TierTable* tier_table = nullptr;
  domain::OrgTiers* org_tiers = nullptr;
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
  void Delegate(RequestContext&, http::Responder);
  void VerifyDelegation(RequestContext&, http::Responder);
  void RevokeDelegation(RequestContext&, http::Responder);
  // Organizations
  void CreateOrg(RequestContext&, http::Responder);
  void ListOrgs(RequestContext&, http::Responder);
  void GetOrg(RequestContext&, http::Responder);
  void UpdateOrg(RequestContext&, http::Responder);
  void DeleteOrg(RequestContext&, http::Responder);
  void AddOrgMember(RequestContext&, http::Responder);
  // DIDs and agent cards
  void InstanceDid(RequestContext&, http::Responder);
  void AgentDidDocument(RequestContext&, http::Responder);
  void ResolveAgentDid(RequestContext&, http::Responder);
  void RotateAgentDidKey(RequestContext&, http::Responder);
  void AgentCard(RequestContext&, http::Responder);
  void ComplianceAgentCards(RequestContext&, http::Responder);
  // Workload identity federation (SPEC §6) and federation partners.
  void CreateTrustPolicy(RequestContext&, http::Responder);
  void ListTrustPolicies(RequestContext&, http::Responder);
  void DeleteTrustPolicy(RequestContext&, http::Responder);
  void OidcToken(RequestContext&, http::Responder);
  void CreatePartner(RequestContext&, http::Responder);
  void ListPartners(RequestContext&, http::Responder);
  void GetPartner(RequestContext&, http::Responder);
  void UpdatePartner(RequestContext&, http::Responder);
  void DeletePartner(RequestContext&, http::Responder);
  void VerifyFederated(RequestContext&, http::Responder);
  // Usage tiers (SPEC §8).
  void TierStatus(RequestContext&, http::Responder);

 private:
  // `api_rate`: the second pass on the I/O thread after an asynchronous answer of the API
  // rate limiter (Authenticate uses it instead of counting again).
  void Run(const Route& route, std::shared_ptr<http::Request> req, http::Responder done,
           bool may_block, std::optional<domain::RateDecision> api_rate = std::nullopt);
  // Hands the request to the worker pool, or answers 503 when its queue is full.
  // `api_rate`: the API limiter's decision when the request was already counted.
  void Dispatch(const Route& route, std::shared_ptr<http::Request> req, http::Responder done,
                std::optional<domain::RateDecision> api_rate = std::nullopt);
  // Authenticates per the route's AuthKind; fills ctx. Errors are already mapped.
  core::Status Authenticate(const Route& route, RequestContext& ctx);
  core::Result<domain::AuthenticatedClient> AuthenticateClient(RequestContext& ctx, bool required);
  void AuditAuthFailure(const RequestContext& ctx, const std::string& client_id,
                        const std::string& reason);
  // The WWW-Authenticate value of a DPoP challenge (RFC 9449 §7.1).
  // The jwt-bearer grant (RFC 7523 §2.1) at the token endpoint: no client authentication,
  // the external JWT in `assertion` is the credential (same rules as POST /oidc/token).
  void JwtBearerGrant(RequestContext& ctx, http::Responder done, const std::string& jkt);
  core::Status ExternalTokenThrottle(RequestContext& ctx);
  // Answers an exchanged external token: audits token.issued (durable before the 200).
  void FinishFederatedToken(RequestContext& ctx, http::Responder done,
                            core::Result<domain::FederatedToken> issued,
                            const std::string& grant_type, const std::string& jkt);
  std::string DpopChallenge(std::string_view error, std::string_view description) const;
  // The organization's daily quota of token issuances or API calls (per its plan tier).
  // WouldBlock() on an I/O thread when its tier is not in memory.
  core::Result<domain::DailyQuota> TokenQuota(const std::string& organization_id, bool may_block);
  core::Result<domain::DailyQuota> ApiQuota(const std::string& organization_id, bool may_block);
  // `Authorization: DPoP <token>` at a protected route: one valid proof for this request
  // and token, made with the key the token is bound to.
  // The agent behind a public DID route: 404 unknown, 410 decommissioned.
  core::Result<domain::Agent> PublicDidAgent(const RequestContext& ctx);
  core::Status CheckDpopAtResource(RequestContext& ctx, std::string_view token,
                                   const std::string& bound_jkt, bool oauth_route);

  Services s_;
  mutable std::mutex policy_mu_;
  std::shared_ptr<const domain::Policy> policy_;
  http::Router<const Route*> router_;
  std::string openid_configuration_;
  std::string oauth_metadata_;
  core::Counter* tokens_issued_ = nullptr;
  core::Counter* auth_failures_ = nullptr;
  core::Counter* revocations_ = nullptr;
  core::Counter* tokens_exchanged_ = nullptr;
  core::Counter* delegations_created_ = nullptr;
  core::Counter* delegations_verified_ = nullptr;
  core::Counter* delegations_revoked_ = nullptr;
  core::Gauge* chain_valid_ = nullptr;
  core::Counter* shed_ = nullptr;
  core::Counter* token_quota_refusals_ = nullptr;  // over an organization's daily limit
  core::Counter* api_quota_refusals_ = nullptr;
};

}  // namespace agentidp::app
