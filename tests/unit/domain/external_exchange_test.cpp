// RFC 8693 token exchange for a federation partner's subject (TokenService::ExchangeExternal)
// and the liveness of the tokens it issues (TokenService::Validate): scopes narrowed by the
// external token and by the caller's role, audience and lifetime, the partner trust check,
// and the holder's and its organization's status. The partner token's own verification is
// exercised end to end in tests/integration/token_exchange_external.test.mjs.

#include "crypto/jws.hpp"
#include "domain/oauth/token_service.hpp"
#include "memory_store.hpp"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

namespace agentidp::domain {
namespace {

using testing::MemoryStore;

constexpr const char* kOrg = "00000000-0000-4000-8000-00000000000a";
constexpr const char* kCaller = "00000000-0000-4000-9000-000000000001";
constexpr const char* kPartner = "00000000-0000-4000-a000-000000000001";
const std::string kMaster(32, 'k');

std::vector<std::string> RouteIds(std::string_view policy_json) {
  std::vector<std::string> out;
  const boost::json::value doc = boost::json::parse(policy_json);
  for (const auto& kv : doc.as_object().at("routes").as_object()) out.emplace_back(kv.key());
  return out;
}

TokenSettings Settings() {
  TokenSettings s;
  s.issuer = "https://idp.example";
  s.audience = "https://idp.example/api/v1";
  s.ttl_s = 3600;
  s.system_organization_id = "00000000-0000-4000-8000-000000000001";
  s.secret_pepper = "pepper";
  return s;
}

class ExternalExchangeTest : public ::testing::Test {
 protected:
  ExternalExchangeTest()
      : keyring_(store_.keys_, clock_, kMaster, {"ES256", 300, 3600}),
        revocations_(store_.revocations_, clock_),
        clients_(store_, clock_),
        tokens_(clients_, keyring_, revocations_, clock_, random_, Settings()),
        policy_(*Policy::Parse(Policy::DefaultDocument(), RouteIds(Policy::DefaultDocument()))) {
    EXPECT_TRUE(keyring_.Initialize().ok());
    Organization org;
    org.organization_id = kOrg;
    org.slug = "org-a";
    store_.orgs_.orgs[kOrg] = org;
    Agent a;
    a.agent_id = kCaller;
    a.organization_id = kOrg;
    a.role = "member";  // agents:read tokens:read webhooks:read openid
    store_.agent_rows[kCaller] = a;
    tokens_.SetPartnerTrustCheck(
        [this](const std::string& partner, const std::string& org, bool) -> core::Result<bool> {
          ++trust_checks_;
          return trusted_ && partner == kPartner && org == kOrg;
        });
    subject_.partner_id = kPartner;
    subject_.issuer = "https://partner.example";
    subject_.subject = "user-42";
    subject_.jti = "ext-jti";
    subject_.scopes = {"agents:read", "tokens:read", "admin:orgs"};
    subject_.exp_s = clock_.NowSeconds() + 600;
    request_.subject_token = "<verified elsewhere>";
    request_.subject_token_type = std::string(kTokenTypeJwt);
  }

  AuthenticatedClient Caller() { return AuthenticatedClient{*clients_.Find(kCaller), "cred-1"}; }
  core::Result<ExchangeResult> Exchange() {
    return tokens_.ExchangeExternal(Caller(), request_, subject_, policy_);
  }
  static boost::json::object Claims(const std::string& jwt) {
    return crypto::DecodeJwtUnverified(jwt)->claims;
  }
  static void ExpectOAuthError(const core::Result<ExchangeResult>& r, const std::string& code) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, core::Errc::kOAuth);
    EXPECT_EQ(r.error().code, code) << r.error().message;
  }

  core::ManualClock clock_;
  core::SecureRandom random_;
  MemoryStore store_;
  Keyring keyring_;
  RevocationList revocations_;
  ClientDirectory clients_;
  TokenService tokens_;
  Policy policy_;
  ExternalSubject subject_;
  ExchangeRequest request_;
  bool trusted_ = true;
  int trust_checks_ = 0;
};

TEST_F(ExternalExchangeTest, IssuesForTheExternalSubjectActedForByTheCaller) {
  auto r = Exchange();
  ASSERT_TRUE(r.ok()) << r.error().message;
  // admin:orgs is in the external token but not grantable to a member: dropped.
  EXPECT_EQ(r->token.scope, "agents:read tokens:read");
  EXPECT_EQ(r->token.expires_in, 600) << "the external token's remaining life, below the TTL";
  EXPECT_EQ(r->partner_id, kPartner);
  EXPECT_EQ(r->subject_issuer, "https://partner.example");
  EXPECT_EQ(r->subject.agent_id, "user-42");
  EXPECT_EQ(r->subject.jti, "ext-jti");
  auto c = Claims(r->token.access_token);
  EXPECT_EQ(c.at("iss").as_string(), "https://idp.example");
  EXPECT_EQ(c.at("sub").as_string(), "user-42");
  EXPECT_EQ(c.at("subject_issuer").as_string(), "https://partner.example");
  EXPECT_EQ(c.at("federation_partner").as_string(), kPartner);
  EXPECT_EQ(c.at("client_id").as_string(), kCaller);
  EXPECT_EQ(c.at("organization_id").as_string(), kOrg);
  EXPECT_EQ(c.at("aud").as_string(), "https://idp.example/api/v1");
  EXPECT_EQ(c.at("act").as_object().at("sub").as_string(), kCaller);
  EXPECT_EQ(c.at("exp").as_int64(), subject_.exp_s);

  // A long-lived external token: capped by the configured lifetime.
  subject_.exp_s = clock_.NowSeconds() + 86400;
  auto capped = Exchange();
  ASSERT_TRUE(capped.ok());
  EXPECT_EQ(capped->token.expires_in, 3600);
}

TEST_F(ExternalExchangeTest, ScopesOnlyNarrowTwice) {
  request_.scope = "tokens:read";
  auto narrowed = Exchange();
  ASSERT_TRUE(narrowed.ok()) << narrowed.error().message;
  EXPECT_EQ(narrowed->token.scope, "tokens:read");
  request_.scope = "webhooks:read";  // the caller may hold it; the external token grants it not
  ExpectOAuthError(Exchange(), "invalid_scope");
  request_.scope = "admin:orgs";  // granted by the external token; the caller may not hold it
  ExpectOAuthError(Exchange(), "invalid_scope");
  request_.scope = "";
  ExpectOAuthError(Exchange(), "invalid_scope");
  request_.scope.reset();
  subject_.scopes = {"admin:orgs"};
  ExpectOAuthError(Exchange(), "invalid_scope");
  subject_.scopes.clear();
  ExpectOAuthError(Exchange(), "invalid_scope");
}

TEST_F(ExternalExchangeTest, RefusesOtherAudiencesActorTokensExpiredSubjectsAndTypes) {
  request_.audience = "https://rs.example";
  ExpectOAuthError(Exchange(), "invalid_target");
  request_.audience = "https://idp.example/api/v1";
  EXPECT_TRUE(Exchange().ok());
  request_.audience.reset();
  request_.actor_token = "x";
  request_.actor_token_type = std::string(kTokenTypeAccessToken);
  ExpectOAuthError(Exchange(), "invalid_request");
  request_.actor_token.reset();
  request_.actor_token_type.reset();
  request_.subject_token_type = "urn:ietf:params:oauth:token-type:id_token";
  ExpectOAuthError(Exchange(), "invalid_request");
  request_.subject_token_type = std::string(kTokenTypeAccessToken);
  EXPECT_TRUE(Exchange().ok());
  subject_.exp_s = clock_.NowSeconds();
  ExpectOAuthError(Exchange(), "invalid_request");
}

TEST_F(ExternalExchangeTest, TheTokenLivesWhileThePartnerTrustsAndTheHolderIsActive) {
  auto r = Exchange();
  ASSERT_TRUE(r.ok());
  const std::string token = r->token.access_token;
  auto info = tokens_.Validate(token);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->agent_id, "user-42");
  EXPECT_EQ(info->partner_id, kPartner);
  EXPECT_EQ(info->subject_issuer, "https://partner.example");
  EXPECT_GT(trust_checks_, 0);

  // On this API it authenticates its holder.
  auto principal = tokens_.AuthenticateBearer(token, policy_);
  ASSERT_TRUE(principal.ok()) << principal.error().message;
  EXPECT_EQ(principal->agent_id, kCaller);
  EXPECT_EQ(principal->holder(), kCaller);
  EXPECT_EQ(principal->scopes, (std::set<std::string>{"agents:read", "tokens:read"}));

  // It cannot be the subject of a further exchange or delegation.
  DerivedTokenRequest d;
  d.subject = &*info;
  d.actor_agent_id = kCaller;
  d.scopes = {"agents:read"};
  auto derived = tokens_.IssueDerived(d);
  ASSERT_FALSE(derived.ok());
  EXPECT_EQ(derived.error().code, "invalid_request");

  trusted_ = false;
  EXPECT_FALSE(tokens_.Validate(token).ok()) << "the partner no longer trusts the organization";
  trusted_ = true;
  EXPECT_TRUE(tokens_.Validate(token).ok()) << "trusted again";

  store_.orgs_.orgs[kOrg].status = "suspended";
  clients_.ForgetOrganization(kOrg);
  EXPECT_FALSE(tokens_.Validate(token).ok()) << "the holder's organization is suspended";
  store_.orgs_.orgs[kOrg].status = "active";
  clients_.ForgetOrganization(kOrg);
  ASSERT_TRUE(tokens_.Validate(token).ok());

  store_.agent_rows[kCaller].status = "suspended";
  clients_.Forget(kCaller);
  EXPECT_FALSE(tokens_.Validate(token).ok()) << "the holder is suspended";
  store_.agent_rows[kCaller].status = "active";
  clients_.Forget(kCaller);
  ASSERT_TRUE(tokens_.Validate(token).ok());

  clock_.Advance(601'000 + 30'000);
  EXPECT_FALSE(tokens_.Validate(token).ok()) << "expired with the external token";
}

TEST_F(ExternalExchangeTest, WithoutATrustCheckSuchTokensAreNeverValid) {
  auto r = Exchange();
  ASSERT_TRUE(r.ok());
  TokenService bare(clients_, keyring_, revocations_, clock_, random_, Settings());
  EXPECT_FALSE(bare.Validate(r->token.access_token).ok());
}

}  // namespace
}  // namespace agentidp::domain
