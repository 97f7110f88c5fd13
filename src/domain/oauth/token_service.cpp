#include "domain/oauth/token_service.hpp"

#include "core/json.hpp"
#include "crypto/hash.hpp"
#include "crypto/jws.hpp"
#include "crypto/secret.hpp"

#include <algorithm>
#include <boost/json/serialize.hpp>

#include <charconv>

namespace agentidp::domain {

namespace {
constexpr std::string_view kAuthFailed = "Client authentication failed";

core::Error InvalidClient() {
  return core::Error::OAuth("invalid_client", std::string(kAuthFailed));
}

// A flat JSON object of string and integer members, written in call order.
class ClaimsWriter {
 public:
  explicit ClaimsWriter(std::string& out) : out_(out) { out_.push_back('{'); }
  void String(std::string_view name, std::string_view value) {
    Key(name);
    core::AppendJsonString(out_, value);
  }
  void Int(std::string_view name, int64_t value) {
    Key(name);
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
    (void)ec;
    out_.append(buf, end);
  }
  // A member whose value is already JSON text.
  void Raw(std::string_view name, std::string_view json) {
    Key(name);
    out_.append(json);
  }
  void Close() { out_.push_back('}'); }

 private:
  void Key(std::string_view name) {
    if (!first_) out_.push_back(',');
    first_ = false;
    core::AppendJsonKey(out_, name);
  }
  std::string& out_;
  bool first_ = true;
};
}  // namespace

// ---------------------------------------------------------------------------------------
RevocationList::RevocationList(RevocationStore& store, const core::Clock& clock)
    : store_(store), clock_(clock) {}

RevocationList::Shard& RevocationList::ShardFor(const std::string& jti) {
  return shards_[std::hash<std::string>{}(jti) % shards_.size()];
}

core::Status RevocationList::Load() {
  TRY_ASSIGN(auto rows, store_.ListUnexpired(clock_.NowMs()));
  for (const auto& r : rows) {
    Shard& s = ShardFor(r.jti);
    std::lock_guard lock(s.mu);
    s.jtis[r.jti] = r.expires_at;
  }
  return core::Ok();
}

core::Status RevocationList::Revoke(const std::string& jti, int64_t expires_at_ms) {
  TRY(store_.Revoke(RevokedToken{jti, expires_at_ms, clock_.NowMs()}));
  Remember(jti, expires_at_ms);
  if (listener_) listener_(jti, expires_at_ms);
  return core::Ok();
}

void RevocationList::Remember(const std::string& jti, int64_t expires_at_ms) {
  Shard& s = ShardFor(jti);
  std::lock_guard lock(s.mu);
  s.jtis[jti] = expires_at_ms;
}

void RevocationList::SetListener(std::function<void(const std::string&, int64_t)> listener) {
  listener_ = std::move(listener);
}

bool RevocationList::IsRevoked(const std::string& jti) {
  Shard& s = ShardFor(jti);
  std::lock_guard lock(s.mu);
  return s.jtis.count(jti) > 0;
}

void RevocationList::Sweep() {
  const int64_t now = clock_.NowMs();
  for (auto& s : shards_) {
    std::lock_guard lock(s.mu);
    std::erase_if(s.jtis, [&](const auto& kv) { return kv.second < now; });
  }
  (void)store_.PurgeExpired(now);
}

// ---------------------------------------------------------------------------------------
TokenService::TokenService(ClientDirectory& clients, Keyring& keyring, RevocationList& revocations,
                           const core::Clock& clock, core::Random& random, TokenSettings settings)
    : clients_(clients),
      keyring_(keyring),
      revocations_(revocations),
      clock_(clock),
      random_(random),
      settings_(std::move(settings)),
      dummy_hash_(crypto::HashClientSecret("dummy-pepper", random.Hex(32))) {}

core::Result<AuthenticatedClient> TokenService::AuthenticateSecret(const std::string& client_id,
                                                                   const std::string& client_secret,
                                                                   bool may_load) {
  TRY_ASSIGN(auto record, clients_.Find(client_id, may_load));
  const int64_t now = clock_.NowMs();
  bool matched = false;
  std::string credential_id;
  if (record) {
    for (const auto& c : record->active_credentials) {
      if (c.type != "client_secret") continue;
      if (c.expires_at && *c.expires_at <= now) continue;
      // Every candidate is compared; no early exit on a match.
      if (crypto::VerifyClientSecret(settings_.secret_pepper, client_secret, c.secret_hash) &&
          !matched) {
        matched = true;
        credential_id = c.credential_id;
      }
    }
  } else {
    // Same work as a known client with one credential.
    (void)crypto::VerifyClientSecret(settings_.secret_pepper, client_secret, dummy_hash_);
  }
  if (!matched || !record->Usable()) return InvalidClient();
  return AuthenticatedClient{std::move(record), std::move(credential_id)};
}

std::set<std::string> TokenService::GrantableScopes(const Agent& agent,
                                                    const Policy& policy) const {
  return policy.GrantableScopes(agent.role,
                                agent.organization_id == settings_.system_organization_id);
}

core::Result<IssuedToken> TokenService::IssueClientCredentials(
    const AuthenticatedClient& client, const std::optional<std::string>& requested_scope,
    const Policy& policy, const std::string& dpop_jkt) {
  const Agent& agent = client.record->agent;
  const auto grantable = GrantableScopes(agent, policy);
  std::set<std::string> scopes;
  if (requested_scope) {
    if (requested_scope->empty())
      return core::Error::OAuth("invalid_scope",
                                "scope must not be empty; omit it for the default");
    TRY_ASSIGN(scopes, ParseScopeString(*requested_scope));
    for (const auto& s : scopes)
      if (!grantable.count(s))
        return core::Error::OAuth("invalid_scope", "Scope not allowed for this client: " + s);
  } else {
    scopes = grantable;
    scopes.erase("openid");  // an id_token only when asked for
  }
  MintRequest m;
  m.sub = agent.agent_id;
  m.client_id = agent.agent_id;
  m.organization_id = agent.organization_id;
  m.scopes = &scopes;
  m.audience = settings_.audience;
  m.ttl_s = settings_.ttl_s;
  m.jkt = dpop_jkt;
  IssuedToken out = Mint(m);
  const auto keys = keyring_.Snapshot();
  const auto& signer = *keys->current->signer;
  const int64_t now_s = m.iat_s;
  if (scopes.count("openid")) {
    std::string id;
    ClaimsWriter i(id);
    i.String("iss", settings_.issuer);
    i.String("sub", agent.agent_id);
    i.String("aud", agent.agent_id);
    i.Int("iat", now_s);
    i.Int("exp", now_s + settings_.ttl_s);
    i.Int("auth_time", now_s);
    i.String("organization_id", agent.organization_id);
    i.String("email", agent.email);
    i.Close();
    // at_hash is omitted: the token comes from the token endpoint, not the front channel
    // (OIDC Core §3.1.3.6 makes it optional there).
    out.id_token = signer.SignJwt("JWT", id);
  }
  return out;
}

IssuedToken TokenService::Mint(MintRequest& m) {
  auto keys = keyring_.Snapshot();
  const auto& signer = *keys->current->signer;
  m.iat_s = clock_.NowSeconds();
  if (m.exp_s == 0) m.exp_s = m.iat_s + m.ttl_s;
  IssuedToken out;
  out.jti = random_.UuidV4();
  out.expires_in = std::max<int64_t>(m.exp_s - m.iat_s, 0);
  out.expires_at_ms = m.exp_s * 1000;
  out.scope = JoinScopes(*m.scopes);
  // The claims are written as JSON text directly (the bytes boost::json would produce for
  // these members in this order, without building a tree); the rare nested members (act,
  // delegation_chain, cnf) are serialized on their own.
  std::string claims;
  claims.reserve(512);
  ClaimsWriter c(claims);
  c.String("iss", settings_.issuer);
  c.String("sub", m.sub);
  c.String("aud", m.audience);
  c.String("client_id", m.client_id);
  c.String("scope", out.scope);
  c.String("jti", out.jti);
  c.Int("iat", m.iat_s);
  c.Int("exp", m.exp_s);
  c.String("organization_id", m.organization_id);
  if (m.act) c.Raw("act", boost::json::serialize(*m.act));
  if (!m.chain_ids.empty()) {
    boost::json::array chain;
    for (const auto& id : m.chain_ids) chain.emplace_back(id);
    c.Raw("delegation_chain", boost::json::serialize(chain));
  }
  if (!m.jkt.empty()) {
    c.Raw("cnf", boost::json::serialize(boost::json::object{{"jkt", m.jkt}}));
    out.token_type = "DPoP";
  }
  if (m.extra) {
    static constexpr std::string_view kWritten[] = {"iss",
                                                    "sub",
                                                    "aud",
                                                    "client_id",
                                                    "scope",
                                                    "jti",
                                                    "iat",
                                                    "exp",
                                                    "organization_id",
                                                    "act",
                                                    "delegation_chain",
                                                    "cnf"};
    for (const auto& kv : *m.extra) {
      if (std::find(std::begin(kWritten), std::end(kWritten), kv.key()) == std::end(kWritten))
        c.Raw(kv.key(), boost::json::serialize(kv.value()));
    }
  }
  c.Close();
  out.access_token = signer.SignJwt("at+jwt", claims);
  return out;
}

core::Result<IssuedToken> TokenService::IssueDerived(const DerivedTokenRequest& r) {
  const AccessTokenInfo& subject = *r.subject;
  // Its subject is no agent of ours; deriving would drop the partner's binding (the tokens
  // it would make could never be valid). One exchange per external token.
  if (!subject.partner_id.empty())
    return core::Error::OAuth("invalid_request",
                              "A token acting for an external subject cannot be exchanged or "
                              "delegated again");
  for (const auto& sc : r.scopes)
    if (!subject.scopes.count(sc))
      return core::Error::OAuth("invalid_scope",
                                "Scope \"" + sc + "\" is not held by the subject token");
  if (r.scopes.empty()) return core::Error::OAuth("invalid_scope", "No scope to grant");
  std::string audience;
  if (r.audience) {
    if (!subject.audiences.count(*r.audience))
      return core::Error::OAuth("invalid_target",
                                "The audience must be one of the subject token's audiences");
    audience = *r.audience;
  } else if (subject.audiences.count(settings_.audience) || subject.audiences.empty()) {
    audience = settings_.audience;
  } else {
    audience = *subject.audiences.begin();
  }
  // The actor nests: {"sub": new actor, "act": <the subject's act>} (RFC 8693 §4.1).
  std::optional<boost::json::value> act;
  int depth = subject.act_depth;
  const auto* prior = subject.claims.if_contains("act");
  if (r.actor_agent_id != subject.agent_id &&
      !(subject.act_depth > 0 && prior && prior->is_object() &&
        prior->as_object().if_contains("sub") &&
        prior->as_object().at("sub") == boost::json::value(r.actor_agent_id))) {
    boost::json::object a;
    a["sub"] = r.actor_agent_id;
    if (prior && prior->is_object()) a["act"] = *prior;
    act = boost::json::value(std::move(a));
    ++depth;
  } else if (prior) {
    act = *prior;
  }
  if (depth > settings_.max_act_depth)
    return core::Error::OAuth("invalid_request", "Delegation chain would be deeper than " +
                                                     std::to_string(settings_.max_act_depth));
  const int64_t ttl = r.ttl_s > 0 ? std::min(r.ttl_s, settings_.ttl_s) : settings_.ttl_s;
  const int64_t exp_s = std::min(clock_.NowSeconds() + ttl, subject.exp_s);
  if (exp_s <= clock_.NowSeconds())
    return core::Error::OAuth("invalid_request", "The subject token is about to expire");
  MintRequest m;
  m.sub = subject.agent_id;
  m.client_id = r.actor_agent_id;
  m.organization_id = subject.organization_id;
  m.scopes = &r.scopes;
  m.audience = audience;
  m.exp_s = exp_s;
  m.act = act ? &*act : nullptr;
  m.chain_ids = r.chain_ids;
  m.jkt = r.jkt;
  return Mint(m);
}

core::Result<ExchangeResult> TokenService::Exchange(const AuthenticatedClient& caller,
                                                    const ExchangeRequest& req,
                                                    const Policy& policy, bool may_load) {
  auto bad = [](std::string m) { return core::Error::OAuth("invalid_request", std::move(m)); };
  auto is_token_type = [](std::string_view t) {
    return t == kTokenTypeAccessToken || t == kTokenTypeJwt;
  };
  if (req.subject_token.empty()) return bad("subject_token is required");
  if (!is_token_type(req.subject_token_type))
    return bad("subject_token_type must be " + std::string(kTokenTypeAccessToken) + " or " +
               std::string(kTokenTypeJwt));
  if (req.requested_token_type && !is_token_type(*req.requested_token_type))
    return bad("requested_token_type is not supported; access tokens only");
  if (req.actor_token.has_value() != req.actor_token_type.has_value())
    return bad("actor_token and actor_token_type go together");
  if (req.actor_token_type && !is_token_type(*req.actor_token_type))
    return bad("actor_token_type is not supported");
  const Agent& me = caller.record->agent;

  auto subject = Validate(req.subject_token, may_load);
  if (!subject.ok()) {
    if (subject.error().kind != core::Errc::kOAuth) return std::move(subject).error();
    return bad("subject_token is invalid, expired or revoked");
  }
  if (subject->organization_id != me.organization_id)
    return bad("subject_token belongs to another organization");
  if (req.actor_token) {
    auto actor = Validate(*req.actor_token, may_load);
    if (!actor.ok()) {
      if (actor.error().kind != core::Errc::kOAuth) return std::move(actor).error();
      return bad("actor_token is invalid, expired or revoked");
    }
    if (actor->agent_id != me.agent_id)
      return bad("actor_token must identify the authenticated client");
  }
  // Whose token may this client exchange? Its own; one naming it in may_act; any of its
  // organization's only when the policy grants its role that power.
  bool allowed = subject->client_id == me.agent_id || subject->agent_id == me.agent_id;
  if (const auto* may_act = subject->claims.if_contains("may_act");
      !allowed && may_act && may_act->is_object()) {
    const auto* s = may_act->as_object().if_contains("sub");
    allowed = s && s->is_string() && s->as_string() == me.agent_id;
  }
  if (!allowed) allowed = policy.MayExchangeOthersTokens(me.role);
  if (!allowed) return bad("This client may not exchange a token issued to another client");
  // A sender-constrained subject stays with its key.
  if (!subject->jkt.empty() && subject->jkt != req.jkt)
    return bad("subject_token is DPoP-bound: send a DPoP proof made with its key");

  DerivedTokenRequest d;
  d.subject = &*subject;
  d.actor_agent_id = me.agent_id;
  if (req.scope) {
    if (req.scope->empty()) return core::Error::OAuth("invalid_scope", "scope must not be empty");
    TRY_ASSIGN(d.scopes, ParseScopeString(*req.scope));
  } else {
    d.scopes = subject->scopes;
  }
  d.audience = req.audience;
  d.chain_ids = subject->chain_ids;
  d.jkt = req.jkt;
  TRY_ASSIGN(IssuedToken issued, IssueDerived(d));
  return ExchangeResult{std::move(issued), std::move(subject).value(), me.agent_id, "", ""};
}

bool TokenService::IssuedHere(std::string_view token) const {
  auto decoded = crypto::DecodeJwtUnverified(token);
  if (!decoded.ok()) return false;
  const auto* iss = decoded->claims.if_contains("iss");
  return iss && iss->is_string() && iss->get_string() == settings_.issuer;
}

core::Result<ExchangeResult> TokenService::ExchangeExternal(const AuthenticatedClient& caller,
                                                            const ExchangeRequest& req,
                                                            const ExternalSubject& subject,
                                                            const Policy& policy) {
  auto bad = [](std::string m) { return core::Error::OAuth("invalid_request", std::move(m)); };
  auto is_token_type = [](std::string_view t) {
    return t == kTokenTypeAccessToken || t == kTokenTypeJwt;
  };
  if (!is_token_type(req.subject_token_type))
    return bad("subject_token_type must be " + std::string(kTokenTypeAccessToken) + " or " +
               std::string(kTokenTypeJwt));
  if (req.requested_token_type && !is_token_type(*req.requested_token_type))
    return bad("requested_token_type is not supported; access tokens only");
  // The caller is the actor (it authenticated); a separate actor_token adds nothing here.
  if (req.actor_token || req.actor_token_type)
    return bad("actor_token is not accepted with an external subject_token");
  const Agent& me = caller.record->agent;
  // The external token was minted for us, so it can only become a token for our API: never
  // for another resource server (that would widen its audience).
  if (req.audience && *req.audience != settings_.audience)
    return core::Error::OAuth("invalid_target",
                              "An external subject_token can only be exchanged for a token for "
                              "this API");
  // Narrowing twice: the external principal's grant and the caller's own authority.
  auto grantable = GrantableScopes(me, policy);
  grantable.erase("openid");
  std::set<std::string> scopes;
  if (req.scope) {
    if (req.scope->empty()) return core::Error::OAuth("invalid_scope", "scope must not be empty");
    TRY_ASSIGN(scopes, ParseScopeString(*req.scope));
    for (const auto& s : scopes) {
      if (!subject.scopes.count(s))
        return core::Error::OAuth("invalid_scope",
                                  "Scope \"" + s + "\" is not granted by the subject token");
      if (!grantable.count(s))
        return core::Error::OAuth("invalid_scope", "Scope not allowed for this client: " + s);
    }
  } else {
    for (const auto& s : subject.scopes)
      if (grantable.count(s)) scopes.insert(s);
  }
  if (scopes.empty())
    return core::Error::OAuth("invalid_scope",
                              "The subject token grants no scope this client may hold");
  const int64_t now_s = clock_.NowSeconds();
  const int64_t exp_s = std::min(now_s + settings_.ttl_s, subject.exp_s);
  if (exp_s <= now_s) return bad("subject_token refused: it has expired");

  // RFC 8693 §4.1: the caller acts for the external subject. The external token's own act
  // (if any) names principals of another issuer and is not carried over.
  const boost::json::value act = boost::json::object{{"sub", me.agent_id}};
  const boost::json::object origin{{"subject_issuer", subject.issuer},
                                   {"federation_partner", subject.partner_id}};
  MintRequest m;
  m.sub = subject.subject;
  m.client_id = me.agent_id;
  m.organization_id = me.organization_id;
  m.audience = settings_.audience;
  m.scopes = &scopes;
  m.exp_s = exp_s;
  m.act = &act;
  m.jkt = req.jkt;
  m.extra = &origin;
  IssuedToken out = Mint(m);

  ExchangeResult result;
  result.token = std::move(out);
  result.subject.agent_id = subject.subject;
  result.subject.jti = subject.jti;
  result.subject.organization_id = me.organization_id;
  result.subject.scopes = subject.scopes;
  result.subject.exp_s = subject.exp_s;
  result.actor_agent_id = me.agent_id;
  result.subject_issuer = subject.issuer;
  result.partner_id = subject.partner_id;
  return result;
}

core::Result<AccessTokenInfo> TokenService::Verify(std::string_view token, bool check_expiry) {
  auto keys = keyring_.Snapshot();
  crypto::JwtVerifyOptions opts;
  opts.allowed_algs = {"RS256", "ES256", "EdDSA"};
  opts.allowed_typs = {"at+jwt"};
  opts.issuer = settings_.issuer;
  opts.now_s = clock_.NowSeconds();
  // Revocation accepts expired tokens of ours (RFC 7009 §2.2: nothing to do, still 200).
  opts.leeway_s = check_expiry ? settings_.leeway_s : int64_t{10} * 365 * 86400;
  opts.require_exp = true;
  TRY_ASSIGN(
      crypto::VerifiedJwt jwt,
      crypto::VerifyJwt(
          token, [&](std::string_view kid, std::string_view) { return keys->FindPublic(kid); },
          opts));
  AccessTokenInfo info;
  auto str = [&](const char* name) -> std::string {
    auto* v = jwt.claims.if_contains(name);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  info.jti = str("jti");
  info.agent_id = str("sub");
  info.client_id = str("client_id");
  info.organization_id = str("organization_id");
  if (auto* e = jwt.claims.if_contains("exp"); e && e->is_int64()) info.exp_s = e->as_int64();
  if (auto* chain = jwt.claims.if_contains("delegation_chain"); chain && chain->is_array())
    for (const auto& id : chain->as_array())
      if (id.is_string()) info.chain_ids.emplace_back(id.as_string());
  for (const auto* act = jwt.claims.if_contains("act"); act && act->is_object();
       act = act->as_object().if_contains("act"))
    ++info.act_depth;
  if (auto* aud = jwt.claims.if_contains("aud")) {
    if (aud->is_string()) info.audiences.emplace(aud->as_string());
    if (aud->is_array())
      for (const auto& a : aud->as_array())
        if (a.is_string()) info.audiences.emplace(a.as_string());
  }
  info.subject_issuer = str("subject_issuer");
  info.partner_id = str("federation_partner");
  if (auto* cnf = jwt.claims.if_contains("cnf"); cnf && cnf->is_object())
    if (auto* jkt = cnf->as_object().if_contains("jkt"); jkt && jkt->is_string())
      info.jkt = std::string(jkt->as_string());
  if (info.jti.empty() || info.agent_id.empty() || info.organization_id.empty())
    return core::Error::OAuth("invalid_token", "Token lacks required claims");
  auto scope = ParseScopeString(str("scope"));
  if (scope.ok()) info.scopes = std::move(scope).value();
  info.claims = std::move(jwt.claims);
  return info;
}

// Resource servers introspect the same token many times; its signature, issuer and type
// never change, so a successful verification is remembered by the token's SHA-256. Expiry,
// revocation and the agent's status are checked on every call.
std::shared_ptr<const AccessTokenInfo> TokenService::VerifiedCache::Find(const std::string& key) {
  Shard& s = shards[std::hash<std::string>{}(key) % shards.size()];
  std::lock_guard lock(s.mu);
  auto it = s.entries.find(key);
  return it == s.entries.end() ? nullptr : it->second;
}

void TokenService::VerifiedCache::Put(const std::string& key,
                                      std::shared_ptr<const AccessTokenInfo> info) {
  Shard& s = shards[std::hash<std::string>{}(key) % shards.size()];
  std::lock_guard lock(s.mu);
  // Bounded memory: a full shard starts over (re-verification is the only cost).
  if (s.entries.size() >= kPerShard) s.entries.clear();
  s.entries.emplace(key, std::move(info));
}

core::Result<AccessTokenInfo> TokenService::Validate(std::string_view token, bool may_load) {
  TRY_ASSIGN(auto shared, ValidateShared(token, may_load));
  return AccessTokenInfo(*shared);
}

core::Result<std::shared_ptr<const AccessTokenInfo>> TokenService::ValidateShared(
    std::string_view token, bool may_load) {
  const auto digest = crypto::Sha256(token);
  const std::string key(reinterpret_cast<const char*>(digest.data()), digest.size());
  std::shared_ptr<const AccessTokenInfo> cached = verified_.Find(key);
  if (!cached) {
    TRY_ASSIGN(AccessTokenInfo fresh, Verify(token, true));
    cached = std::make_shared<const AccessTokenInfo>(std::move(fresh));
    verified_.Put(key, cached);
  } else if (clock_.NowSeconds() > cached->exp_s + settings_.leeway_s) {
    return core::Error::OAuth("invalid_token", "Token has expired");
  }
  const AccessTokenInfo& info = *cached;
  if (revocations_.IsRevoked(info.jti))
    return core::Error::OAuth("invalid_token", "Token has been revoked");
  for (const auto& chain : info.chain_ids)
    if (revocations_.IsRevoked(ChainRevocationKey(chain)))
      return core::Error::OAuth("invalid_token", "Its delegation chain has been revoked");
  if (!info.partner_id.empty() || !info.subject_issuer.empty()) {
    // The subject is a partner's, not an agent: the token lives while its holder (and the
    // holder's organization) is active and the partner still trusts that organization.
    if (info.partner_id.empty() || info.client_id.empty() || !partner_trust_)
      return core::Error::OAuth("invalid_token", "Token lacks required claims");
    TRY_ASSIGN(bool trusted, partner_trust_(info.partner_id, info.organization_id, may_load));
    if (!trusted)
      return core::Error::OAuth("invalid_token", "The subject's issuer is no longer trusted");
    TRY_ASSIGN(auto holder, clients_.Find(info.client_id, may_load));
    if (!holder || !holder->Usable())
      return core::Error::OAuth("invalid_token", "Agent or its organization is not active");
    if (holder->agent.organization_id != info.organization_id)
      return core::Error::OAuth("invalid_token", "Agent has changed organization");
    return cached;
  }
  TRY_ASSIGN(auto record, clients_.Find(info.agent_id, may_load));
  if (!record || !record->Usable())
    return core::Error::OAuth("invalid_token", "Agent or its organization is not active");
  // A delegated or exchanged token is held by another agent: it must be active too.
  if (!info.client_id.empty() && info.client_id != info.agent_id) {
    TRY_ASSIGN(auto holder, clients_.Find(info.client_id, may_load));
    if (!holder || !holder->Usable())
      return core::Error::OAuth("invalid_token", "Agent or its organization is not active");
  }
  // An agent moved to another organization (POST /organizations/{id}/members) keeps no
  // authority in the one it left.
  if (record->agent.organization_id != info.organization_id)
    return core::Error::OAuth("invalid_token", "Agent has changed organization");
  return cached;
}

core::Result<Principal> TokenService::AuthenticateBearer(std::string_view token,
                                                         const Policy& policy, bool may_load) {
  TRY_ASSIGN(auto validated, ValidateShared(token, may_load));
  const AccessTokenInfo& info = *validated;
  bool audience_ok = false;
  if (auto* aud = info.claims.if_contains("aud")) {
    if (aud->is_string()) audience_ok = aud->as_string() == settings_.audience;
    if (aud->is_array())
      for (const auto& a : aud->as_array())
        audience_ok = audience_ok || (a.is_string() && a.as_string() == settings_.audience);
  }
  if (!audience_ok) return core::Error::OAuth("invalid_token", "Token audience is not this API");
  Principal p;
  // A token acting for an external subject authenticates its holder on this API: the
  // external subject is no agent here (and its scopes are within the holder's own).
  p.agent_id = info.partner_id.empty() ? info.agent_id : info.client_id;
  p.organization_id = info.organization_id;
  p.scopes = info.scopes;
  p.cross_tenant = policy.IsCrossTenant(p.scopes);
  p.jti = info.jti;
  p.jkt = info.jkt;
  p.client_id = info.client_id;
  return p;
}

Principal TokenService::ClientPrincipal(const AuthenticatedClient& client,
                                        const Policy& policy) const {
  Principal p;
  p.agent_id = client.record->agent.agent_id;
  p.organization_id = client.record->agent.organization_id;
  p.scopes = GrantableScopes(client.record->agent, policy);
  p.cross_tenant = policy.IsCrossTenant(p.scopes);
  return p;
}

std::optional<AccessTokenInfo> TokenService::ParseForRevocation(std::string_view token) {
  auto info = Verify(token, false);
  if (!info.ok()) return std::nullopt;
  return std::move(info).value();
}

core::Status TokenService::Revoke(const AccessTokenInfo& token) {
  return revocations_.Revoke(token.jti, token.exp_s * 1000);
}

core::Result<IssuedToken> TokenService::IssueForAgent(const Agent& agent,
                                                      const std::set<std::string>& scopes,
                                                      int64_t ttl_s,
                                                      const boost::json::object& extra_claims,
                                                      const std::string& dpop_jkt) {
  if (ttl_s < 1 || ttl_s > settings_.ttl_s)
    return core::Error::Internal("token lifetime out of range");
  MintRequest m;
  m.sub = agent.agent_id;
  m.client_id = agent.agent_id;
  m.organization_id = agent.organization_id;
  m.audience = settings_.audience;
  m.scopes = &scopes;
  m.ttl_s = ttl_s;
  m.jkt = dpop_jkt;
  m.extra = &extra_claims;
  return Mint(m);
}

}  // namespace agentidp::domain
