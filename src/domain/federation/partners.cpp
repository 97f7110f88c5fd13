#include "domain/federation/partners.hpp"

#include "crypto/jws.hpp"
#include "domain/federation/issuer_keys.hpp"
#include "domain/would_block.hpp"

#include <boost/json/array.hpp>

#include <set>

namespace agentidp::domain {

namespace {

using core::Error;

Error Bad(std::string message) {
  return Error::Validation(std::move(message));
}

Error PartnerNotFound() {
  return Error::NotFound("PARTNER_NOT_FOUND", "Federation partner not found");
}

bool SafeText(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  return true;
}

// A partner-issued JWT checked against the partner key already selected for it: the pinned
// algorithms and types of partner tokens, the partner's issuer, a required exp and the
// configured leeway (SPEC §5); without `audience` the caller checks "aud" itself.
core::Result<crypto::VerifiedJwt> VerifyPartnerJwt(std::string_view token,
                                                   const crypto::PublicKey* key,
                                                   const std::string& issuer,
                                                   std::optional<std::string> audience,
                                                   int64_t now_s, int64_t leeway_s) {
  crypto::JwtVerifyOptions opts;
  opts.allowed_algs = {"RS256", "ES256", "EdDSA"};
  opts.allowed_typs = {"", "JWT", "at+jwt"};
  opts.issuer = issuer;
  opts.audience = std::move(audience);
  opts.now_s = now_s;
  opts.leeway_s = leeway_s;
  opts.require_exp = true;
  return crypto::VerifyJwt(
      token, [key](std::string_view, std::string_view) { return key; }, opts);
}

}  // namespace

std::string PartnerStatus(const FederationPartner& p, int64_t now_ms) {
  if (p.expires_at && *p.expires_at <= now_ms) return "expired";
  return p.status;
}

boost::json::object PartnerToJson(const FederationPartner& p, int64_t now_ms) {
  boost::json::object o;
  o["id"] = p.partner_id;
  o["name"] = p.name;
  o["issuer"] = p.issuer;
  o["jwksUri"] = p.jwks_uri;
  boost::json::array orgs;
  for (const auto& org : p.allowed_organizations) orgs.emplace_back(org);
  o["allowedOrganizations"] = std::move(orgs);
  o["status"] = PartnerStatus(p, now_ms);
  o["expiresAt"] = p.expires_at ? boost::json::value(core::FormatIso8601(*p.expires_at))
                                : boost::json::value(nullptr);
  o["createdAt"] = core::FormatIso8601(p.created_at);
  o["updatedAt"] = core::FormatIso8601(p.updated_at);
  return o;
}

FederationPartners::FederationPartners(Store& store, RemoteKeySets& keys, const core::Clock& clock,
                                       core::Random& random, std::string our_issuer,
                                       int64_t leeway_s)
    : store_(store),
      keys_(keys),
      clock_(clock),
      random_(random),
      our_issuer_(std::move(our_issuer)),
      leeway_s_(leeway_s) {}

core::Status FederationPartners::Apply(FederationPartner& p, const boost::json::object& body,
                                       bool create) {
  std::set<std::string> seen;
  for (const auto& kv : body) {
    const std::string key(kv.key());
    const auto& v = kv.value();
    seen.insert(key);
    if (key == "name") {
      if (!v.is_string() || !SafeText(v.get_string(), 128))
        return Bad("\"name\" must be a string of 1-128 printable characters");
      p.name = std::string(v.get_string());
    } else if (key == "issuer") {
      if (!v.is_string()) return Bad("\"issuer\" must be an https URL");
      TRY(ValidateIssuerUrl(v.get_string(), "issuer"));
      p.issuer = std::string(v.get_string());
    } else if (key == "jwksUri") {
      if (!v.is_string()) return Bad("\"jwksUri\" must be an https URL");
      TRY(ValidateJwksUri(v.get_string()));
      p.jwks_uri = std::string(v.get_string());
    } else if (key == "allowedOrganizations") {
      if (!v.is_array() || v.get_array().size() > 100)
        return Bad("\"allowedOrganizations\" must be an array of at most 100 organization ids");
      std::vector<std::string> orgs;
      std::set<std::string> unique;
      for (const auto& o : v.get_array()) {
        if (!o.is_string() || !SafeText(o.get_string(), 128))
          return Bad("\"allowedOrganizations\" entries must be organization ids");
        if (!unique.insert(std::string(o.get_string())).second)
          return Bad("\"allowedOrganizations\" repeats \"" + std::string(o.get_string()) + "\"");
        orgs.emplace_back(o.get_string());
      }
      p.allowed_organizations = std::move(orgs);
    } else if (key == "expiresAt") {
      if (v.is_null()) {
        p.expires_at.reset();
        continue;
      }
      int64_t ms = 0;
      if (!v.is_string() || !core::ParseIso8601(std::string_view(v.get_string()), ms))
        return Bad("\"expiresAt\" must be an ISO-8601 date-time or null");
      p.expires_at = ms;
    } else if (key == "status") {
      if (!v.is_string() || (v.get_string() != "active" && v.get_string() != "inactive"))
        return Bad("\"status\" must be active or inactive (expired follows from expiresAt)");
      p.status = std::string(v.get_string());
    } else {
      return Bad("Unknown field \"" + key + "\"");
    }
  }
  if (create)
    for (const char* required : {"name", "issuer", "jwksUri", "allowedOrganizations"})
      if (!seen.count(required)) return Bad("\"" + std::string(required) + "\" is required");
  return core::Ok();
}

core::Result<FederationPartner> FederationPartners::Create(const boost::json::object& body) {
  FederationPartner p;
  TRY(Apply(p, body, true));
  p.partner_id = random_.UuidV4();
  p.created_at = p.updated_at = clock_.NowMs();
  auto st = store_.federation().CreatePartner(p);
  if (!st.ok()) {
    if (st.error().kind == core::Errc::kConflict)
      return Error::Conflict("PARTNER_EXISTS", "A partner with this issuer exists");
    return std::move(st).error();
  }
  return p;
}

core::Result<std::vector<FederationPartner>> FederationPartners::List() {
  return store_.federation().ListPartners();
}

core::Result<FederationPartner> FederationPartners::Get(const std::string& partner_id) {
  if (!core::IsUuid(partner_id)) return PartnerNotFound();
  TRY_ASSIGN(auto p, store_.federation().GetPartner(partner_id));
  if (!p) return PartnerNotFound();
  return *p;
}

core::Result<FederationPartner> FederationPartners::Update(const std::string& partner_id,
                                                           const boost::json::object& body) {
  TRY_ASSIGN(FederationPartner p, Get(partner_id));
  if (body.empty()) return Bad("Nothing to update");
  TRY(Apply(p, body, false));
  p.updated_at = clock_.NowMs();
  auto st = store_.federation().UpdatePartner(p);
  if (!st.ok()) {
    if (st.error().kind == core::Errc::kConflict)
      return Error::Conflict("PARTNER_EXISTS", "A partner with this issuer exists");
    if (st.error().kind == core::Errc::kNotFound) return PartnerNotFound();
    return std::move(st).error();
  }
  Changed(p.partner_id);
  return p;
}

core::Status FederationPartners::Delete(const std::string& partner_id) {
  if (!core::IsUuid(partner_id)) return PartnerNotFound();
  TRY_ASSIGN(bool deleted, store_.federation().DeletePartner(partner_id));
  if (!deleted) return PartnerNotFound();
  Changed(partner_id);
  return core::Ok();
}

core::Result<FederationPartners::Checked> FederationPartners::Resolve(
    const std::string& organization_id, std::string_view token,
    std::shared_ptr<const KeySet>& set_holder) {
  Checked out;
  PartnerVerification& v = out.verdict;
  auto invalid = [&](std::string reason) {
    v.valid = false;
    v.reason = std::move(reason);
    return std::move(out);
  };
  auto decoded = crypto::DecodeJwtUnverified(token, 16384);
  if (!decoded.ok()) return invalid("The token is not a well-formed signed JWT");
  const auto* iss_v = decoded->claims.if_contains("iss");
  if (!iss_v || !iss_v->is_string() || iss_v->get_string().empty())
    return invalid("The token has no issuer");
  const std::string iss(iss_v->get_string());
  TRY_ASSIGN(out.partner, store_.federation().GetPartnerByIssuer(iss));
  if (!out.partner) return invalid("The token's issuer is not a federation partner");
  const FederationPartner& partner = *out.partner;
  v.issuer = iss;
  const std::string status = PartnerStatus(partner, clock_.NowMs());
  if (status != "active") return invalid("The partner is " + status);
  bool allowed = false;
  for (const auto& org : partner.allowed_organizations) allowed = allowed || org == organization_id;
  if (!allowed) return invalid("The partner is not trusted for the caller's organization");

  const auto* kid_v = decoded->header.if_contains("kid");
  const std::string kid = kid_v && kid_v->is_string() ? std::string(kid_v->get_string()) : "";
  const auto* alg_v = decoded->header.if_contains("alg");
  const std::string alg = alg_v && alg_v->is_string() ? std::string(alg_v->get_string()) : "";
  // nullptr: the outbound guard refuses the partner's JWKS URL (a configuration problem of
  // the partner record: the token is not valid here, and no connection was made).
  auto fetch = [&](bool refresh) -> core::Result<std::shared_ptr<const KeySet>> {
    auto set = keys_.Get(partner.jwks_uri, true, refresh);
    if (!set.ok() && set.error().kind != core::Errc::kUnavailable)
      return std::shared_ptr<const KeySet>();
    if (!set.ok())
      return Error::Unavailable("The partner's JWKS could not be fetched; retry later", 5);
    return set;
  };
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
  TRY_ASSIGN(set_holder, fetch(false));
  if (set_holder && !find_key(*set_holder)) {
    TRY_ASSIGN(set_holder, fetch(true));
  }
  if (!set_holder) return invalid("The partner's JWKS URL is refused by the outbound guard");
  out.key = find_key(*set_holder);
  if (!out.key) return invalid("The token is signed with a key the partner does not publish");
  v.valid = true;
  return out;
}

core::Result<PartnerVerification> FederationPartners::Verify(
    const Principal& caller, std::string_view token, const std::optional<std::string>& audience) {
  std::shared_ptr<const KeySet> set;
  TRY_ASSIGN(Checked checked, Resolve(caller.organization_id, token, set));
  PartnerVerification out = std::move(checked.verdict);
  if (!out.valid) return out;
  auto verified = VerifyPartnerJwt(token, checked.key, out.issuer, audience.value_or(our_issuer_),
                                   clock_.NowSeconds(), leeway_s_);
  if (!verified.ok()) {
    out.valid = false;
    out.reason = verified.error().message;
    return out;
  }
  out.claims = std::move(verified->claims);
  return out;
}

core::Result<ExternalSubject> FederationPartners::VerifySubjectToken(
    const std::string& organization_id, std::string_view token,
    const std::vector<std::string>& token_endpoints) {
  auto refuse = [](const std::string& reason) {
    return Error::OAuth("invalid_request", "subject_token refused: " + reason);
  };
  std::shared_ptr<const KeySet> set;
  TRY_ASSIGN(Checked checked, Resolve(organization_id, token, set));
  if (!checked.verdict.valid) return refuse(checked.verdict.reason);
  auto verified = VerifyPartnerJwt(token, checked.key, checked.verdict.issuer, std::nullopt,
                                   clock_.NowSeconds(), leeway_s_);
  if (!verified.ok()) return refuse(verified.error().message);
  const boost::json::object& claims = verified->claims;
  // RFC 7519 §4.1.3 / RFC 8693 §2.1: the token must be meant for us — our issuer identifier
  // or our token endpoint (either spelling) — not merely for some resource server.
  bool for_us = false;
  auto names_us = [&](const boost::json::value& a) {
    if (!a.is_string()) return false;
    if (a.get_string() == our_issuer_) return true;
    for (const auto& e : token_endpoints)
      if (a.get_string() == e) return true;
    return false;
  };
  if (const auto* aud = claims.if_contains("aud")) {
    if (aud->is_string()) for_us = names_us(*aud);
    if (aud->is_array())
      for (const auto& a : aud->get_array()) for_us = for_us || names_us(a);
  }
  if (!for_us) return refuse("its audience does not name this authorization server");
  ExternalSubject out;
  out.partner_id = checked.partner->partner_id;
  out.issuer = checked.verdict.issuer;
  const auto* sub = claims.if_contains("sub");
  if (!sub || !sub->is_string() || !SafeText(sub->get_string(), 255))
    return refuse("it needs a \"sub\" of 1-255 printable characters");
  out.subject = std::string(sub->get_string());
  if (const auto* jti = claims.if_contains("jti"); jti && jti->is_string())
    out.jti = std::string(std::string_view(jti->get_string()).substr(0, 256));
  const auto* exp = claims.if_contains("exp");
  if (!exp || !exp->is_int64()) return refuse("\"exp\" must be an integer");
  out.exp_s = exp->get_int64();
  // Scopes the external principal granted: "scope" (RFC 8693 §4.2, space-separated) or the
  // "scp" array some issuers use. Neither: it granted none.
  if (const auto* scope = claims.if_contains("scope")) {
    if (!scope->is_string()) return refuse("\"scope\" must be a string");
    auto parsed = ParseScopeString(std::string(scope->get_string()));
    if (!parsed.ok()) return refuse("its \"scope\" is malformed");
    out.scopes = std::move(parsed).value();
  } else if (const auto* scp = claims.if_contains("scp")) {
    if (!scp->is_array()) return refuse("\"scp\" must be an array of strings");
    for (const auto& s : scp->get_array()) {
      if (!s.is_string()) return refuse("\"scp\" must be an array of strings");
      auto parsed = ParseScopeString(std::string(s.get_string()));
      if (!parsed.ok() || parsed->size() != 1) return refuse("its \"scp\" is malformed");
      out.scopes.insert(*parsed->begin());
    }
  }
  return out;
}

core::Result<bool> FederationPartners::Trusts(const std::string& partner_id,
                                              const std::string& organization_id, bool may_load) {
  const int64_t now = clock_.NowMs();
  auto judge = [&](const std::optional<FederationPartner>& p) {
    if (!p || PartnerStatus(*p, now) != "active") return false;
    for (const auto& org : p->allowed_organizations)
      if (org == organization_id) return true;
    return false;
  };
  uint64_t generation = 0;
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(partner_id);
    if (it != cache_.end() && now - it->second.loaded_at_ms < kCacheTtlMs)
      return judge(it->second.partner);
    generation = generation_;
  }
  if (!core::IsUuid(partner_id)) return false;
  if (!may_load) return WouldBlock();
  TRY_ASSIGN(auto partner, store_.federation().GetPartner(partner_id));
  const bool trusted = judge(partner);
  std::lock_guard lock(mu_);
  if (generation == generation_) {
    if (cache_.size() >= 10'000) cache_.clear();  // partners are few; a crude bound suffices
    cache_[partner_id] = CacheEntry{std::move(partner), now};
  }
  return trusted;
}

void FederationPartners::Forget(const std::string& partner_id) {
  std::lock_guard lock(mu_);
  ++generation_;
  cache_.erase(partner_id);
}

void FederationPartners::ClearCache() {
  std::lock_guard lock(mu_);
  ++generation_;
  cache_.clear();
}

void FederationPartners::Changed(const std::string& partner_id) {
  Forget(partner_id);
  if (listener_) listener_(partner_id);
}

}  // namespace agentidp::domain
