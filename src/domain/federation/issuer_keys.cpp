#include "domain/federation/issuer_keys.hpp"

#include "core/json.hpp"

#include <boost/url/parse.hpp>

namespace agentidp::domain {

core::Status ValidateIssuerUrl(std::string_view issuer, std::string_view field) {
  const std::string f(field);
  if (issuer.empty() || issuer.size() > 2048)
    return core::Error::Validation("\"" + f + "\" must be 1-2048 characters");
  auto u = boost::urls::parse_absolute_uri(issuer);
  if (!u || u->scheme_id() != boost::urls::scheme::https || u->encoded_host().empty())
    return core::Error::Validation("\"" + f + "\" must be an absolute https URL");
  if (u->has_userinfo() || u->has_query() || u->has_fragment())
    return core::Error::Validation("\"" + f +
                                   "\" must not carry user information, a query or a fragment");
  for (char c : issuer)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return core::Error::Validation("\"" + f + "\" must not contain spaces or control characters");
  return core::Ok();
}

IssuerKeys::IssuerKeys(core::OutboundFetcher* fetcher, RemoteKeySets& sets,
                       const core::Clock& clock, int64_t ttl_ms, int64_t min_refresh_ms)
    : fetcher_(fetcher),
      sets_(sets),
      clock_(clock),
      ttl_ms_(ttl_ms),
      min_refresh_ms_(min_refresh_ms) {}

core::Result<std::string> IssuerKeys::JwksUri(const std::string& issuer) {
  const int64_t now = clock_.NowMs();
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(issuer);
    if (it != entries_.end()) {
      const Entry& e = it->second;
      if (!e.jwks_uri.empty() && now - e.fetched_ms < ttl_ms_) return e.jwks_uri;
      if (e.jwks_uri.empty() && now - e.attempted_ms < min_refresh_ms_)
        return core::Error{core::Errc::kUnavailable, "ISSUER_DISCOVERY_FAILED",
                           "The issuer's discovery document could not be fetched; retry later"};
    }
  }
  auto failed = [&](std::string message) -> core::Error {
    std::lock_guard lock(mu_);
    if (entries_.size() >= 10'000) entries_.clear();
    Entry& e = entries_[issuer];
    e.attempted_ms = now;
    // A stale but once valid answer keeps serving while the issuer is unreachable.
    return core::Error{core::Errc::kUnavailable, "ISSUER_DISCOVERY_FAILED", std::move(message)};
  };
  if (!fetcher_)
    return core::Error{core::Errc::kUnavailable, "OUTBOUND_DISABLED", "Outbound fetches are off"};
  std::string url = issuer;
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += "/.well-known/openid-configuration";
  auto res = fetcher_->Get(url);
  if (!res.ok()) {
    if (res.error().kind != core::Errc::kUnavailable) return std::move(res).error();
    {
      std::lock_guard lock(mu_);
      auto it = entries_.find(issuer);
      if (it != entries_.end() && !it->second.jwks_uri.empty()) return it->second.jwks_uri;
    }
    return failed("The issuer's discovery document could not be fetched");
  }
  if (res->status != 200)
    return failed("The issuer's discovery document answered " + std::to_string(res->status));
  auto doc = core::ParseJsonObjectStrict(res->body);
  if (!doc.ok()) return failed("The issuer's discovery document is not a JSON object");
  const auto* iss = doc->if_contains("issuer");
  if (!iss || !iss->is_string() || iss->get_string() != issuer)
    return failed("The issuer's discovery document names another issuer");
  const auto* jwks = doc->if_contains("jwks_uri");
  if (!jwks || !jwks->is_string() || !ValidateJwksUri(jwks->get_string()).ok())
    return failed("The issuer's discovery document has no usable https jwks_uri");
  std::lock_guard lock(mu_);
  if (entries_.size() >= 10'000) entries_.clear();
  Entry& e = entries_[issuer];
  e.jwks_uri = std::string(jwks->get_string());
  e.fetched_ms = now;
  e.attempted_ms = now;
  return e.jwks_uri;
}

core::Result<std::shared_ptr<const KeySet>> IssuerKeys::Get(const std::string& issuer,
                                                            bool refresh) {
  TRY_ASSIGN(std::string uri, JwksUri(issuer));
  return sets_.Get(uri, true, refresh);
}

}  // namespace agentidp::domain
