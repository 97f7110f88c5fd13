#pragma once

// Federation partners (SPEC §4): external issuers whose JWTs POST /federation/verify checks
// against the partner's JWKS, for the organizations the partner record allows. Partner
// records are instance-wide (admin:orgs). A partner past its `expiresAt` reads as status
// "expired" and verifies nothing; an "inactive" one neither.

#include "core/clock.hpp"
#include "core/random.hpp"
#include "core/result.hpp"
#include "domain/model.hpp"
#include "domain/oauth/client_keys.hpp"
#include "domain/oauth/token_service.hpp"
#include "domain/principal.hpp"
#include "domain/store.hpp"

#include <boost/json/object.hpp>

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace agentidp::domain {

// "active", "inactive" or "expired" (active or inactive past expires_at).
std::string PartnerStatus(const FederationPartner& partner, int64_t now_ms);
boost::json::object PartnerToJson(const FederationPartner& partner, int64_t now_ms);

struct PartnerVerification {
  bool valid = false;
  std::string issuer;          // "" when the token names no known partner
  boost::json::object claims;  // only when valid
  std::string reason;          // only when not valid
};

class FederationPartners {
 public:
  FederationPartners(Store& store, RemoteKeySets& keys, const core::Clock& clock,
                     core::Random& random, std::string our_issuer, int64_t leeway_s);

  core::Result<FederationPartner> Create(const boost::json::object& body);
  core::Result<std::vector<FederationPartner>> List();
  core::Result<FederationPartner> Get(const std::string& partner_id);
  core::Result<FederationPartner> Update(const std::string& partner_id,
                                         const boost::json::object& body);
  core::Status Delete(const std::string& partner_id);

  // Verifies a partner-issued JWT for `caller`. Never an error for a bad token (valid=false
  // with a reason); errors only when the store cannot be read or the partner's JWKS cannot
  // be fetched (a URL the outbound guard refuses makes the token not valid).
  // `audience`: the aud the token must carry; nullopt = our issuer identifier.
  core::Result<PartnerVerification> Verify(const Principal& caller, std::string_view token,
                                           const std::optional<std::string>& audience);

  // A subject token of RFC 8693 token exchange from a partner trusted for
  // `organization_id`: pinned algorithms, the partner's JWKS, iss exact, aud naming us (our
  // issuer or one of `token_endpoints`), exp required, nbf/iat with the leeway, typ absent,
  // JWT or at+jwt, a sub. Every refusal is invalid_request (RFC 8693 §2.2.2); errors of
  // another kind when the store or the partner's JWKS cannot be read.
  core::Result<ExternalSubject> VerifySubjectToken(const std::string& organization_id,
                                                   std::string_view token,
                                                   const std::vector<std::string>& token_endpoints);

  // Whether partner `partner_id` trusts `organization_id` now (the token hot path: a cached
  // record, loaded once per partner and TTL). See PartnerTrustCheck.
  core::Result<bool> Trusts(const std::string& partner_id, const std::string& organization_id,
                            bool may_load);
  // A partner changed on another node: drop it from the cache. Clear: after a gap in the
  // cluster messages.
  void Forget(const std::string& partner_id);
  void ClearCache();
  // Called after a partner is updated or deleted here (e.g. to tell the other nodes). Set
  // before serving.
  void SetChangeListener(std::function<void(const std::string& partner_id)> listener) {
    listener_ = std::move(listener);
  }

  int64_t NowMs() const { return clock_.NowMs(); }

 private:
  struct Checked {
    std::optional<FederationPartner> partner;
    PartnerVerification verdict;
    const crypto::PublicKey* key = nullptr;
  };
  // The partner of the token's issuer, its trust for `organization_id`, and the key that
  // signed it (shared by Verify and VerifySubjectToken).
  core::Result<Checked> Resolve(const std::string& organization_id, std::string_view token,
                                std::shared_ptr<const KeySet>& set_holder);
  void Changed(const std::string& partner_id);
  core::Status Apply(FederationPartner& p, const boost::json::object& body, bool create);

  Store& store_;
  RemoteKeySets& keys_;
  const core::Clock& clock_;
  core::Random& random_;
  std::string our_issuer_;
  int64_t leeway_s_;
  std::function<void(const std::string&)> listener_;

  struct CacheEntry {
    std::optional<FederationPartner> partner;  // nullopt: no such partner
    int64_t loaded_at_ms = 0;
  };
  static constexpr int64_t kCacheTtlMs = 30'000;
  std::mutex mu_;
  std::unordered_map<std::string, CacheEntry> cache_;
  uint64_t generation_ = 0;  // under mu_; a load that raced with a change is not cached
};

}  // namespace agentidp::domain
