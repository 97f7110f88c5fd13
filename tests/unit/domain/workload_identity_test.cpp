// Workload identity federation rules that need neither HTTP nor a database: trust-policy
// validation, exact claim matching, issuer URLs and discovery of issuer keys.

#include "domain/federation/workload_identity.hpp"
#include "domain/federation/issuer_keys.hpp"
#include "domain/federation/partners.hpp"
#include "domain/would_block.hpp"
#include "memory_store.hpp"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <map>

namespace agentidp::domain {
namespace {

using boost::json::object;

FederationSettings Settings() {
  FederationSettings s;
  s.our_issuer = "https://idp.example";
  return s;
}

object Obj(std::string_view json) {
  return boost::json::parse(json).as_object();
}

TEST(TrustPolicy, ParsesProvidersAndDefaultsTheAudience) {
  auto gh = ParseTrustPolicy(
      Obj(R"({"provider":"github","repository":"acme/app","branch":"main"})"), Settings());
  ASSERT_TRUE(gh.ok()) << gh.error().message;
  EXPECT_EQ(gh->provider, "github");
  EXPECT_EQ(gh->issuer, "");
  EXPECT_EQ(gh->audience, "https://idp.example");
  EXPECT_TRUE(gh->agent_id.empty()) << "bootstrap";

  auto k8s = ParseTrustPolicy(Obj(R"({"provider":"kubernetes","issuer":"https://k8s.example",
      "namespace":"ci","serviceAccount":"builder","audience":"agentidp"})"),
                              Settings());
  ASSERT_TRUE(k8s.ok()) << k8s.error().message;
  EXPECT_EQ(k8s->repository, "ci/builder");
  EXPECT_EQ(k8s->audience, "agentidp");

  auto generic = ParseTrustPolicy(
      Obj(R"({"provider":"https://issuer.example","conditions":{"sub":"svc"}})"), Settings());
  ASSERT_TRUE(generic.ok()) << generic.error().message;
  EXPECT_EQ(generic->provider, "oidc");
  EXPECT_EQ(generic->issuer, "https://issuer.example");
  auto json = TrustPolicyToJson(*generic, Settings());
  EXPECT_EQ(json["provider"].as_string(), "https://issuer.example");
  EXPECT_EQ(json["conditions"].as_object().at("sub").as_string(), "svc");

  auto gl = ParseTrustPolicy(Obj(R"({"provider":"gitlab","repository":"g/sub/p"})"), Settings());
  ASSERT_TRUE(gl.ok()) << gl.error().message;
}

TEST(TrustPolicy, RefusesInvalidBodies) {
  for (
      const char* body : {
          R"({})",
          R"({"provider":"bitbucket","repository":"a/b"})",
          R"({"provider":"github"})",
          R"({"provider":"github","repository":"acme"})",
          R"({"provider":"github","repository":"acme/app/x"})",
          R"({"provider":"github","repository":"acme/app evil"})",
          R"({"provider":"github","repository":"/app"})",
          R"({"provider":"github","repository":"acme/app","branch":"refs/heads/main"})",
          R"({"provider":"github","repository":"acme/app","branch":""})",
          R"({"provider":"github","repository":"acme/app","issuer":"https://x.example"})",
          R"({"provider":"github","repository":"acme/app","agentId":"abc"})",
          R"({"provider":"github","repository":"acme/app","conditions":{"a":1}})",
          R"({"provider":"github","repository":"acme/app","conditions":[]})",
          R"({"provider":"github","repository":"acme/app","unknown":true})",
          R"({"provider":"github","repository":"acme/app","namespace":"ci"})",
          R"({"provider":"http://issuer.example","conditions":{"sub":"x"}})",
          R"({"provider":"https://issuer.example"})",
          R"({"provider":"https://issuer.example","repository":"a/b","conditions":{"sub":"x"}})",
          R"({"provider":"https://issuer.example?x=1","conditions":{"sub":"x"}})",
          R"({"provider":"https://user@issuer.example","conditions":{"sub":"x"}})",
          R"({"provider":"kubernetes","namespace":"ci","serviceAccount":"b"})",
          R"({"provider":"kubernetes","issuer":"https://k.example","namespace":"CI","serviceAccount":"b"})",
          R"({"provider":"kubernetes","issuer":"https://k.example","namespace":"ci"})",
      }) {
    EXPECT_FALSE(ParseTrustPolicy(Obj(body), Settings()).ok()) << body;
  }
}

TrustPolicy Github(std::string repo, std::string branch) {
  TrustPolicy p;
  p.provider = "github";
  p.repository = std::move(repo);
  p.branch = std::move(branch);
  p.audience = "https://idp.example";
  return p;
}

TEST(TrustPolicy, GithubClaimsMatchExactlyNeverByPrefix) {
  auto p = Github("org/repo", "main");
  auto claims = [](std::string repo, std::string ref,
                   boost::json::value aud = "https://idp.example") {
    object c;
    c["repository"] = std::move(repo);
    c["ref"] = std::move(ref);
    c["aud"] = std::move(aud);
    return c;
  };
  EXPECT_EQ(TrustPolicyMismatch(p, claims("org/repo", "refs/heads/main")), "");
  EXPECT_EQ(TrustPolicyMismatch(p, claims("org/repo", "refs/heads/main",
                                          boost::json::array{"other", "https://idp.example"})),
            "");
  EXPECT_NE(TrustPolicyMismatch(p, claims("org/repo-evil", "refs/heads/main")), "");
  EXPECT_NE(TrustPolicyMismatch(p, claims("org/rep", "refs/heads/main")), "");
  EXPECT_NE(TrustPolicyMismatch(p, claims("Org/repo", "refs/heads/main")), "");
  EXPECT_NE(TrustPolicyMismatch(p, claims("org/repo", "refs/heads/main-evil")), "");
  EXPECT_NE(TrustPolicyMismatch(p, claims("org/repo", "refs/tags/main")), "");
  EXPECT_NE(TrustPolicyMismatch(p, claims("org/repo", "main")), "");
  EXPECT_NE(TrustPolicyMismatch(p, claims("org/repo", "refs/heads/main", "https://idp.example/")),
            "");
  EXPECT_NE(TrustPolicyMismatch(p, claims("org/repo", "refs/heads/main", boost::json::array{})),
            "");
  object no_repo = claims("org/repo", "refs/heads/main");
  no_repo.erase("repository");
  EXPECT_NE(TrustPolicyMismatch(p, no_repo), "");
  object array_repo = claims("org/repo", "refs/heads/main");
  array_repo["repository"] = boost::json::array{"org/repo"};
  EXPECT_NE(TrustPolicyMismatch(p, array_repo), "");
  // Without a branch, any ref of the repository.
  EXPECT_EQ(TrustPolicyMismatch(Github("org/repo", ""), claims("org/repo", "refs/heads/dev")), "");
}

TEST(TrustPolicy, KubernetesAndConditions) {
  TrustPolicy k;
  k.provider = "kubernetes";
  k.issuer = "https://k8s.example";
  k.repository = "ci/builder";
  k.audience = "https://idp.example";
  auto token = Obj(R"({"sub":"system:serviceaccount:ci:builder","aud":["https://idp.example"],
      "kubernetes.io":{"namespace":"ci","serviceaccount":{"name":"builder"}}})");
  EXPECT_EQ(TrustPolicyMismatch(k, token), "");
  auto other_sa = token;
  other_sa["sub"] = "system:serviceaccount:ci:builder-evil";
  EXPECT_NE(TrustPolicyMismatch(k, other_sa), "");
  auto other_ns = token;
  other_ns["kubernetes.io"].as_object()["namespace"] = "prod";
  EXPECT_NE(TrustPolicyMismatch(k, other_ns), "");
  auto missing = token;
  missing.erase("kubernetes.io");
  EXPECT_NE(TrustPolicyMismatch(k, missing), "");

  TrustPolicy g;
  g.provider = "oidc";
  g.issuer = "https://issuer.example";
  g.audience = "aud-1";
  g.conditions_json = R"({"sub":"svc-42","env":"prod"})";
  EXPECT_EQ(TrustPolicyMismatch(g, Obj(R"({"sub":"svc-42","env":"prod","aud":"aud-1"})")), "");
  EXPECT_NE(TrustPolicyMismatch(g, Obj(R"({"sub":"svc-42","env":"prod-evil","aud":"aud-1"})")), "");
  EXPECT_NE(TrustPolicyMismatch(g, Obj(R"({"sub":"svc-42","aud":"aud-1"})")), "");
  EXPECT_NE(TrustPolicyMismatch(g, Obj(R"({"sub":"svc-42","env":1,"aud":"aud-1"})")), "");
  EXPECT_NE(TrustPolicyMismatch(g, Obj(R"({"sub":"svc-42","env":"prod","aud":"aud-2"})")), "");
}

TEST(IssuerUrl, OnlyPlainHttpsUrls) {
  for (const char* ok : {"https://token.actions.githubusercontent.com", "https://gitlab.com",
                         "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC", "https://h:8443/p"})
    EXPECT_TRUE(ValidateIssuerUrl(ok, "issuer").ok()) << ok;
  for (const char* bad : {"", "http://gitlab.com", "https://", "gitlab.com", "https://a@b.example",
                          "https://b.example?x", "https://b.example#f", "https://b.example/ x"})
    EXPECT_FALSE(ValidateIssuerUrl(bad, "issuer").ok()) << bad;
}

class MapFetcher final : public core::OutboundFetcher {
 public:
  core::Result<core::OutboundResponse> Get(const std::string& url) override {
    ++calls[url];
    auto it = bodies.find(url);
    if (it == bodies.end()) return core::OutboundResponse{404, "text/plain", ""};
    return core::OutboundResponse{200, "application/json", it->second};
  }
  std::map<std::string, std::string> bodies;
  std::map<std::string, int> calls;
};

TEST(IssuerKeys, DiscoversTheJwksUriAndChecksTheIssuer) {
  core::ManualClock clock;
  MapFetcher fetcher;
  auto pair = std::move(crypto::KeyPair::Generate("RS256")).value();
  boost::json::object set{{"keys", boost::json::array{pair.PublicJwk("k1")}}};
  fetcher.bodies["https://iss.example/.well-known/openid-configuration"] =
      R"({"issuer":"https://iss.example","jwks_uri":"https://keys.example/jwks"})";
  fetcher.bodies["https://keys.example/jwks"] = boost::json::serialize(set);
  fetcher.bodies["https://liar.example/.well-known/openid-configuration"] =
      R"({"issuer":"https://iss.example","jwks_uri":"https://keys.example/jwks"})";
  fetcher.bodies["https://plain.example/.well-known/openid-configuration"] =
      R"({"issuer":"https://plain.example","jwks_uri":"http://keys.example/jwks"})";
  RemoteKeySets sets(&fetcher, clock);
  IssuerKeys keys(&fetcher, sets, clock);

  auto got = keys.Get("https://iss.example", false);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_NE((*got)->Find("k1", "RS256"), nullptr);
  EXPECT_TRUE(keys.Get("https://iss.example", false).ok());
  EXPECT_EQ(fetcher.calls["https://iss.example/.well-known/openid-configuration"], 1) << "cached";
  EXPECT_EQ(fetcher.calls["https://keys.example/jwks"], 1) << "cached";

  EXPECT_FALSE(keys.Get("https://liar.example", false).ok()) << "discovered issuer differs";
  EXPECT_FALSE(keys.Get("https://plain.example", false).ok()) << "jwks_uri must be https";
  EXPECT_FALSE(keys.Get("https://absent.example", false).ok());
  // A failed discovery is not retried before the floor.
  EXPECT_FALSE(keys.Get("https://absent.example", false).ok());
  EXPECT_EQ(fetcher.calls["https://absent.example/.well-known/openid-configuration"], 1);
  clock.Advance(10'000);
  EXPECT_FALSE(keys.Get("https://absent.example", false).ok());
  EXPECT_EQ(fetcher.calls["https://absent.example/.well-known/openid-configuration"], 2);
}

TEST(FederationPartner, StatusIsExpiredPastExpiresAt) {
  FederationPartner p;
  p.status = "active";
  EXPECT_EQ(PartnerStatus(p, 1000), "active");
  p.expires_at = 1000;
  EXPECT_EQ(PartnerStatus(p, 999), "active");
  EXPECT_EQ(PartnerStatus(p, 1000), "expired");
  p.status = "inactive";
  EXPECT_EQ(PartnerStatus(p, 10), "inactive");
  EXPECT_EQ(PartnerStatus(p, 2000), "expired");
}

// Tokens exchanged for a partner's subject are checked against the partner on every use:
// from a cache (no store read on the hot path), dropped on every change, expiry judged
// each time.
TEST(FederationPartners, TrustIsCachedDroppedOnChangeAndExpiryJudgedOnEveryUse) {
  core::ManualClock clock;
  core::SecureRandom random;
  MapFetcher fetcher;
  RemoteKeySets sets(&fetcher, clock);
  testing::MemoryStore store;
  FederationPartners partners(store, sets, clock, random, "https://idp.example", 30);
  std::vector<std::string> changed;
  partners.SetChangeListener([&](const std::string& id) { changed.push_back(id); });
  auto created = partners.Create(Obj(R"({"name":"P","issuer":"https://p.example",
      "jwksUri":"https://p.example/jwks","allowedOrganizations":["org-a"]})"));
  ASSERT_TRUE(created.ok()) << created.error().message;
  const std::string id = created->partner_id;

  auto trusts = [&](const std::string& org, bool may_load) {
    return partners.Trusts(id, org, may_load);
  };
  auto not_cached = trusts("org-a", false);
  ASSERT_FALSE(not_cached.ok());
  EXPECT_TRUE(IsWouldBlock(not_cached.error()));
  EXPECT_TRUE(*trusts("org-a", true));
  EXPECT_FALSE(*trusts("org-b", false)) << "cached now; org-b is not allowed";
  EXPECT_FALSE(*partners.Trusts("not-a-uuid", "org-a", true));

  // A change made elsewhere is seen once the entry is dropped (another node's message) or
  // has lived its TTL.
  store.federation_.partners[id].status = "inactive";
  EXPECT_TRUE(*trusts("org-a", false)) << "still cached";
  partners.Forget(id);
  EXPECT_FALSE(*trusts("org-a", true));
  store.federation_.partners[id].status = "active";
  EXPECT_FALSE(*trusts("org-a", false));
  clock.Advance(30'000);
  EXPECT_TRUE(*trusts("org-a", true)) << "reloaded after the TTL";

  // Changes made here drop the entry and are announced.
  ASSERT_TRUE(partners.Update(id, Obj(R"({"allowedOrganizations":["org-b"]})")).ok());
  EXPECT_EQ(changed, std::vector<std::string>{id});
  EXPECT_FALSE(*trusts("org-a", true));
  EXPECT_TRUE(*trusts("org-b", false));

  // Expiry needs no message: judged on every use.
  const std::string soon = core::FormatIso8601(clock.NowMs() + 1'000);
  ASSERT_TRUE(partners.Update(id, Obj(R"({"expiresAt":")" + soon + R"("})")).ok());
  EXPECT_TRUE(*trusts("org-b", true));
  clock.Advance(1'000);
  EXPECT_FALSE(*trusts("org-b", false));

  ASSERT_TRUE(partners.Delete(id).ok());
  EXPECT_EQ(changed.size(), 3u);
  EXPECT_FALSE(*trusts("org-b", true)) << "deleted";
  partners.ClearCache();
  EXPECT_FALSE(trusts("org-b", false).ok()) << "cleared: must load again";
}

}  // namespace
}  // namespace agentidp::domain
