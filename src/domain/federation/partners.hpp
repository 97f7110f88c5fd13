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
#include "domain/principal.hpp"
#include "domain/store.hpp"

#include <boost/json/object.hpp>

#include <optional>
#include <string>
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

  int64_t NowMs() const { return clock_.NowMs(); }

 private:
  core::Status Apply(FederationPartner& p, const boost::json::object& body, bool create);

  Store& store_;
  RemoteKeySets& keys_;
  const core::Clock& clock_;
  core::Random& random_;
  std::string our_issuer_;
  int64_t leeway_s_;
};

}  // namespace agentidp::domain
