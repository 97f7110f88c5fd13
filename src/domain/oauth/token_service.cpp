#include "domain/oauth/token_service.hpp"

#include "core/json.hpp"
#include "crypto/hash.hpp"
#include "crypto/secret.hpp"

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
  // A member whose value is already serialized JSON (an object such as "cnf").
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
  Shard& s = ShardFor(jti);
  std::lock_guard lock(s.mu);
  s.jtis[jti] = expires_at_ms;
  return core::Ok();
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
  if (!matched || record->agent.status != "active") return InvalidClient();
  return AuthenticatedClient{std::move(record), std::move(credential_id)};
}

std::set<std::string> TokenService::GrantableScopes(const Agent& agent,
                                                    const Policy& policy) const {
  return policy.GrantableScopes(agent.role,
                                agent.organization_id == settings_.system_organization_id);
}

core::Result<IssuedToken> TokenService::IssueClientCredentials(
    const AuthenticatedClient& client, const std::optional<std::string>& requested_scope,
    const Policy& policy) {
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
  auto keys = keyring_.Snapshot();
  const auto& signer = *keys->current->signer;
  const int64_t now_s = clock_.NowSeconds();
  IssuedToken out;
  out.jti = random_.UuidV4();
  out.expires_in = settings_.ttl_s;
  out.expires_at_ms = (now_s + settings_.ttl_s) * 1000;
  out.scope = JoinScopes(scopes);

  // The claims are written as JSON text directly (same bytes as serializing a
  // boost::json::object with these members in this order, without building one).
  std::string claims;
  claims.reserve(512);
  ClaimsWriter c(claims);
  c.String("iss", settings_.issuer);
  c.String("sub", agent.agent_id);
  c.String("aud", settings_.audience);
  c.String("client_id", agent.agent_id);
  c.String("scope", out.scope);
  c.String("jti", out.jti);
  c.Int("iat", now_s);
  c.Int("exp", now_s + settings_.ttl_s);
  c.String("organization_id", agent.organization_id);
  c.Close();
  out.access_token = signer.SignJwt("at+jwt", claims);

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
  AccessTokenInfo info = *cached;
  if (revocations_.IsRevoked(info.jti))
    return core::Error::OAuth("invalid_token", "Token has been revoked");
  TRY_ASSIGN(auto record, clients_.Find(info.agent_id, may_load));
  if (!record || record->agent.status != "active")
    return core::Error::OAuth("invalid_token", "Agent is not active");
  return info;
}

core::Result<Principal> TokenService::AuthenticateBearer(std::string_view token,
                                                         const Policy& policy, bool may_load) {
  TRY_ASSIGN(AccessTokenInfo info, Validate(token, may_load));
  bool audience_ok = false;
  if (auto* aud = info.claims.if_contains("aud")) {
    if (aud->is_string()) audience_ok = aud->as_string() == settings_.audience;
    if (aud->is_array())
      for (const auto& a : aud->as_array())
        audience_ok = audience_ok || (a.is_string() && a.as_string() == settings_.audience);
  }
  if (!audience_ok) return core::Error::OAuth("invalid_token", "Token audience is not this API");
  Principal p;
  p.agent_id = info.agent_id;
  p.organization_id = info.organization_id;
  p.scopes = std::move(info.scopes);
  p.cross_tenant = policy.IsCrossTenant(p.scopes);
  p.jti = info.jti;
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

}  // namespace agentidp::domain
