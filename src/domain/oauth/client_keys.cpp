#include "domain/oauth/client_keys.hpp"

#include "core/json.hpp"
#include "domain/oauth/client_directory.hpp"
#include "domain/oauth/dpop.hpp"

#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include <set>

namespace agentidp::domain {

namespace {

core::Error Bad(std::string message) {
  return core::Error::Validation(std::move(message));
}

}  // namespace

const crypto::PublicKey* KeySet::Find(std::string_view kid, std::string_view alg) const {
  for (const auto& e : keys)
    if (e.kid == kid && e.key->alg() == alg) return e.key.get();
  return nullptr;
}

core::Result<std::string> NormalizeClientJwks(const boost::json::value& jwks) {
  if (!jwks.is_object()) return Bad("\"jwks\" must be an object {\"keys\":[...]}");
  const auto& o = jwks.as_object();
  for (const auto& kv : o)
    if (kv.key() != "keys") return Bad("\"jwks\" may only hold \"keys\"");
  const auto* keys = o.if_contains("keys");
  if (!keys || !keys->is_array() || keys->as_array().empty())
    return Bad("\"jwks.keys\" must be a non-empty array");
  if (keys->as_array().size() > kMaxClientKeys)
    return Bad("\"jwks.keys\" holds at most " + std::to_string(kMaxClientKeys) + " keys");
  boost::json::array out;
  std::set<std::string> kids;
  int i = 0;
  for (const auto& k : keys->as_array()) {
    const std::string where = "\"jwks.keys[" + std::to_string(i++) + "]\"";
    if (!k.is_object()) return Bad(where + " must be a JWK object");
    const auto& jwk = k.as_object();
    const auto* kid = jwk.if_contains("kid");
    if (!kid || !kid->is_string() || kid->as_string().empty() || kid->as_string().size() > 128)
      return Bad(where + " needs a \"kid\" (1-128 characters)");
    const auto* alg = jwk.if_contains("alg");
    if (!alg || !alg->is_string() ||
        !(crypto::IsSupportedAlg(alg->as_string()) || alg->as_string() == crypto::kAlgEd25519))
      return Bad(where + " needs an \"alg\": RS256, ES256 or EdDSA (or Ed25519)");
    if (!kids.insert(std::string(kid->as_string())).second)
      return Bad(where + " repeats kid \"" + std::string(kid->as_string()) + "\"");
    auto key = crypto::PublicKey::FromJwk(jwk);
    if (!key.ok()) return Bad(where + ": " + key.error().message);
    boost::json::object canonical = key->Jwk();
    canonical["kid"] = kid->as_string();
    canonical["alg"] = key->alg();
    canonical["use"] = "sig";
    out.push_back(std::move(canonical));
  }
  boost::json::object set;
  set["keys"] = std::move(out);
  return boost::json::serialize(set);
}

core::Status ValidateJwksUri(std::string_view uri) {
  if (uri.empty() || uri.size() > 2048) return Bad("\"jwksUri\" must be 1-2048 characters");
  auto u = boost::urls::parse_absolute_uri(uri);
  if (!u || u->scheme_id() != boost::urls::scheme::https || u->encoded_host().empty())
    return Bad("\"jwksUri\" must be an absolute https URL");
  if (u->has_userinfo() || u->has_fragment())
    return Bad("\"jwksUri\" must not carry user information or a fragment");
  // The same well-formedness as a DPoP htu: a numeric port, a form that reads back as itself.
  if (!NormalizeHtu(uri)) return Bad("\"jwksUri\" is not a well-formed URL");
  return core::Ok();
}

core::Result<std::shared_ptr<const KeySet>> ParseKeySet(std::string_view json, bool lenient) {
  auto doc = core::ParseJsonObjectStrict(json);
  if (!doc.ok()) return core::Error::Validation("key set is not a JSON object");
  const auto* keys = doc->if_contains("keys");
  if (!keys || !keys->is_array()) return core::Error::Validation("key set has no \"keys\" array");
  auto set = std::make_shared<KeySet>();
  for (const auto& k : keys->as_array()) {
    if (set->keys.size() >= 100) break;  // a fetched set is capped at 1 MiB anyway
    if (!k.is_object()) {
      if (lenient) continue;
      return core::Error::Validation("key set holds a non-object");
    }
    const auto& jwk = k.as_object();
    const auto* kid = jwk.if_contains("kid");
    const auto* use = jwk.if_contains("use");
    if (use && (!use->is_string() || use->as_string() != "sig")) {
      if (lenient) continue;
      return core::Error::Validation("key set holds a key not for signatures");
    }
    if (!kid || !kid->is_string() || kid->as_string().empty()) {
      if (lenient) continue;
      return core::Error::Validation("key set holds a key without kid");
    }
    auto key = crypto::PublicKey::FromJwk(jwk);
    if (!key.ok()) {
      if (lenient) continue;
      return core::Error::Validation("key set holds an unusable key: " + key.error().message);
    }
    set->keys.push_back(
        KeySetEntry{std::string(kid->as_string()),
                    std::make_shared<const crypto::PublicKey>(std::move(key).value())});
  }
  return std::shared_ptr<const KeySet>(std::move(set));
}

RemoteKeySets::RemoteKeySets(core::OutboundFetcher* fetcher, const core::Clock& clock,
                             int64_t ttl_ms, int64_t min_refresh_ms)
    : fetcher_(fetcher), clock_(clock), ttl_ms_(ttl_ms), min_refresh_ms_(min_refresh_ms) {}

core::Result<std::shared_ptr<const KeySet>> RemoteKeySets::Get(const std::string& uri,
                                                               bool may_fetch, bool refresh) {
  const int64_t now = clock_.NowMs();
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(uri);
    if (it != entries_.end()) {
      const Entry& e = it->second;
      const bool fresh = e.set && now - e.fetched_ms < ttl_ms_;
      const bool may_retry = now - e.attempted_ms >= min_refresh_ms_;
      if (fresh && !(refresh && may_retry)) return e.set;
      if (!may_retry) {
        // Fetched (or failed) moments ago: no new fetch for this caller.
        if (fresh) return e.set;
        return core::Error{core::Errc::kUnavailable, "JWKS_FETCH_FAILED",
                           "The client's JWKS could not be fetched; retry later"};
      }
    }
  }
  if (!may_fetch) return WouldBlock();
  auto fetched = Fetch(uri);
  std::lock_guard lock(mu_);
  if (entries_.size() >= 10'000) entries_.clear();
  Entry& e = entries_[uri];
  e.attempted_ms = now;
  if (!fetched.ok()) {
    // A failed refresh keeps serving the previous set until it is stale.
    if (e.set && now - e.fetched_ms < ttl_ms_) return e.set;
    e.set = nullptr;
    return std::move(fetched).error();
  }
  e.set = *fetched;
  e.fetched_ms = now;
  return *fetched;
}

core::Result<std::shared_ptr<const KeySet>> RemoteKeySets::Fetch(const std::string& uri) {
  if (!fetcher_)
    return core::Error{core::Errc::kUnavailable, "OUTBOUND_DISABLED", "Outbound fetches are off"};
  TRY_ASSIGN(core::OutboundResponse res, fetcher_->Get(uri));
  if (res.status != 200)
    return core::Error{core::Errc::kUnavailable, "JWKS_FETCH_FAILED",
                       "JWKS URL answered " + std::to_string(res.status)};
  auto set = ParseKeySet(res.body, true);
  if (!set.ok())
    return core::Error{core::Errc::kUnavailable, "JWKS_FETCH_FAILED",
                       "JWKS URL did not answer a key set"};
  return set;
}

}  // namespace agentidp::domain
