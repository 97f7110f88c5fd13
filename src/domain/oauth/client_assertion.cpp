#include "domain/oauth/client_assertion.hpp"

#include "crypto/jws.hpp"

namespace agentidp::domain {

namespace {

constexpr std::string_view kFailed = "Client authentication failed";

core::Error InvalidClient(std::string message) {
  return core::Error::OAuth("invalid_client", std::move(message));
}

}  // namespace

ClientAssertionVerifier::ClientAssertionVerifier(ClientDirectory& clients, RemoteKeySets& remote,
                                                 ReplayCache& replay, const core::Clock& clock,
                                                 AssertionSettings settings)
    : clients_(clients),
      remote_(remote),
      replay_(replay),
      clock_(clock),
      settings_(std::move(settings)) {
  for (std::string_view alg : {crypto::kAlgRs256, crypto::kAlgEs256, crypto::kAlgEdDsa}) {
    auto pair = crypto::KeyPair::Generate(alg);
    if (!pair.ok()) continue;
    auto pub = crypto::PublicKey::FromKeyPair(*pair);
    if (pub.ok())
      dummy_keys_.emplace(std::string(alg),
                          std::make_unique<crypto::PublicKey>(std::move(pub).value()));
  }
}

std::shared_ptr<const KeySet> ClientAssertionVerifier::InlineSet(const std::string& jwks_json) {
  {
    std::lock_guard lock(inline_mu_);
    auto it = inline_sets_.find(jwks_json);
    if (it != inline_sets_.end()) return it->second;
  }
  auto parsed = ParseKeySet(jwks_json, false);
  if (!parsed.ok()) return nullptr;  // validated on registration; never expected
  std::lock_guard lock(inline_mu_);
  if (inline_sets_.size() >= 10'000) inline_sets_.clear();
  inline_sets_.emplace(jwks_json, *parsed);
  return *parsed;
}

core::Result<AuthenticatedClient> ClientAssertionVerifier::Authenticate(
    std::string_view assertion, const std::string* client_id, bool may_block) {
  // 1. Shape, from the unverified content: these messages depend on nothing stored.
  auto decoded = crypto::DecodeJwtUnverified(assertion, 8192);
  if (!decoded.ok()) return InvalidClient("client_assertion is not a well-formed signed JWT");
  const auto& claims = decoded->claims;
  auto str = [&](std::string_view name) -> std::string {
    const auto* v = claims.if_contains(name);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
  };
  const std::string iss = str("iss");
  if (iss.empty()) return InvalidClient("client_assertion needs an \"iss\" claim (the client id)");
  if (str("sub") != iss) return InvalidClient("client_assertion \"sub\" must equal \"iss\"");
  if (client_id && *client_id != iss)
    return InvalidClient("client_id does not match the client_assertion issuer");
  const auto* aud = claims.if_contains("aud");
  if (!aud || !aud->is_string() || aud->get_string() != settings_.issuer)
    return InvalidClient("client_assertion \"aud\" must be the issuer identifier \"" +
                         settings_.issuer + "\" as a single string");
  const auto* exp = claims.if_contains("exp");
  if (!exp || !exp->is_int64()) return InvalidClient("client_assertion needs a numeric \"exp\"");
  const int64_t now_s = clock_.NowSeconds();
  if (exp->get_int64() > now_s + settings_.max_lifetime_s + settings_.leeway_s)
    return InvalidClient("client_assertion lives too long: \"exp\" at most " +
                         std::to_string(settings_.max_lifetime_s) + " s ahead");
  const std::string jti = str("jti");
  if (jti.empty() || jti.size() > 256)
    return InvalidClient("client_assertion needs a \"jti\" (1-256 characters)");
  if (!may_block && replay_.Blocking()) return WouldBlock();

  // 2. The client and its keys.
  TRY_ASSIGN(auto record, clients_.Find(iss, may_block));
  const int64_t now_ms = clock_.NowMs();
  struct Candidate {
    std::shared_ptr<const KeySet> set;
    std::string credential_id;
    std::string uri;
  };
  std::vector<Candidate> candidates;
  if (record && record->Usable()) {
    for (const auto& c : record->active_credentials) {
      if (c.type != "private_key_jwt") continue;
      if (c.expires_at && *c.expires_at <= now_ms) continue;
      if (!c.jwks_json.empty()) {
        if (auto set = InlineSet(c.jwks_json)) candidates.push_back({set, c.credential_id, ""});
      } else if (!c.jwks_uri.empty()) {
        auto set = remote_.Get(c.jwks_uri, may_block);
        if (!set.ok()) {
          if (IsWouldBlock(set.error())) return std::move(set).error();
          continue;  // an unreachable URL fails this credential only
        }
        candidates.push_back({*set, c.credential_id, c.jwks_uri});
      }
    }
  }
  const auto& header = decoded->header;
  const auto* kid_v = header.if_contains("kid");
  const std::string kid = kid_v && kid_v->is_string() ? std::string(kid_v->get_string()) : "";
  const auto* alg_v = header.if_contains("alg");
  std::string alg = alg_v && alg_v->is_string() ? std::string(alg_v->get_string()) : "";
  if (alg == crypto::kAlgEd25519) alg = crypto::kAlgEdDsa;  // RFC 9864 synonym

  std::string matched_credential;
  const crypto::PublicKey* matched_key = nullptr;
  auto find = [&]() {
    for (const auto& c : candidates) {
      if (!kid.empty()) {
        if (const auto* k = c.set->Find(kid, alg)) {
          matched_key = k;
          matched_credential = c.credential_id;
          return;
        }
        continue;
      }
      // No kid: usable only when exactly one key of this alg is registered.
      const crypto::PublicKey* only = nullptr;
      int n = 0;
      for (const auto& e : c.set->keys)
        if (e.key->alg() == alg) {
          only = e.key.get();
          ++n;
        }
      if (n == 1) {
        matched_key = only;
        matched_credential = c.credential_id;
        return;
      }
    }
  };
  find();
  if (!matched_key && !kid.empty()) {
    // An unknown kid may be a key the client just added to its JWKS URL: refresh once.
    bool refreshed = false;
    for (auto& c : candidates) {
      if (c.uri.empty()) continue;
      if (!may_block) return WouldBlock();
      auto set = remote_.Get(c.uri, true, true);
      if (set.ok() && *set != c.set) {
        c.set = *set;
        refreshed = true;
      }
    }
    if (refreshed) find();
  }

  // 3. Signature and claims, with the same work when nothing matched.
  crypto::JwtVerifyOptions opts;
  opts.allowed_algs = {"RS256", "ES256", "EdDSA", "Ed25519"};
  opts.allowed_typs = {"", "JWT", "client-authentication+jwt"};
  opts.issuer = iss;
  opts.audience = settings_.issuer;
  opts.now_s = now_s;
  opts.leeway_s = settings_.leeway_s;
  opts.require_exp = true;
  opts.max_token_size = 8192;
  const crypto::PublicKey* dummy = nullptr;
  if (auto it = dummy_keys_.find(alg); it != dummy_keys_.end()) dummy = it->second.get();
  auto verified = crypto::VerifyJwt(
      assertion,
      [&](std::string_view, std::string_view) { return matched_key ? matched_key : dummy; }, opts);
  if (!matched_key || !verified.ok()) {
    // Typing errors are about the assertion itself, not about stored state.
    if (!verified.ok() && (verified.error().message == "Token type not allowed" ||
                           verified.error().message == "Missing typ header"))
      return InvalidClient("client_assertion has a JWT type that is not a client assertion");
    return InvalidClient(std::string(kFailed));
  }

  // 4. Once only: the jti is remembered until the assertion expires.
  auto first = replay_.Consume("client_assertion", iss + "|" + jti,
                               (exp->get_int64() + settings_.leeway_s) * 1000);
  if (!first.ok()) {
    core::Error e = core::Error::OAuth("temporarily_unavailable",
                                       "The client assertion could not be checked; retry", 503);
    e.retry_after = 1;
    return e;
  }
  if (!*first) return InvalidClient("client_assertion has already been used (jti replayed)");
  return AuthenticatedClient{std::move(record), std::move(matched_credential)};
}

}  // namespace agentidp::domain
