#include "domain/oauth/client_keys.hpp"

#include "domain/oauth/client_directory.hpp"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace agentidp::domain {
namespace {

boost::json::object PublicJwk(const char* alg, const char* kid) {
  auto pair = std::move(crypto::KeyPair::Generate(alg)).value();
  auto jwk = pair.PublicJwk(kid);
  return jwk;
}

TEST(ClientKeys, NormalizesAValidSetToPublicMembers) {
  boost::json::object es = PublicJwk("ES256", "a");
  es["x5c"] = boost::json::array{"junk"};  // dropped: only public members, kid, alg, use
  boost::json::value set = {
      {"keys", boost::json::array{es, PublicJwk("EdDSA", "b"), PublicJwk("RS256", "c")}}};
  auto out = NormalizeClientJwks(set);
  ASSERT_TRUE(out.ok()) << out.error().message;
  auto parsed = boost::json::parse(*out).as_object();
  ASSERT_EQ(parsed["keys"].as_array().size(), 3u);
  EXPECT_FALSE(parsed["keys"].as_array()[0].as_object().contains("x5c"));
  auto ks = ParseKeySet(*out, false);
  ASSERT_TRUE(ks.ok());
  EXPECT_NE((*ks)->Find("a", "ES256"), nullptr);
  EXPECT_EQ((*ks)->Find("a", "RS256"), nullptr) << "alg pinned per key";
  EXPECT_EQ((*ks)->Find("z", "ES256"), nullptr);
}

TEST(ClientKeys, RefusesUnsafeOrIncompleteSets) {
  auto refused = [](boost::json::value v) { return !NormalizeClientJwks(v).ok(); };
  auto jwk = PublicJwk("ES256", "a");
  auto without = [&](const char* m) {
    auto j = jwk;
    j.erase(m);
    return j;
  };
  auto with = [&](const char* m, boost::json::value v) {
    auto j = jwk;
    j[m] = v;
    return j;
  };
  using A = boost::json::array;
  EXPECT_TRUE(refused(A{jwk}));
  EXPECT_TRUE(refused({{"keys", A{}}}));
  EXPECT_TRUE(refused({{"keys", A{without("kid")}}}));
  EXPECT_TRUE(refused({{"keys", A{without("alg")}}}));
  EXPECT_TRUE(refused({{"keys", A{with("alg", "HS256")}}}));
  EXPECT_TRUE(refused({{"keys", A{with("alg", "RS256")}}}));
  EXPECT_TRUE(refused({{"keys", A{with("d", "AAAA")}}}));
  EXPECT_TRUE(refused({{"keys", A{jwk, jwk}}}));
  EXPECT_TRUE(refused({{"keys", A{jwk}}, {"extra", 1}}));
  EXPECT_TRUE(
      refused({{"keys", A{{{"kty", "oct"}, {"k", "c2VjcmV0"}, {"kid", "o"}, {"alg", "HS256"}}}}}));
  A many;
  for (int i = 0; i < 11; ++i) many.push_back(PublicJwk("EdDSA", std::to_string(i).c_str()));
  EXPECT_TRUE(refused({{"keys", many}}));
}

TEST(ClientKeys, JwksUriMustBeHttps) {
  EXPECT_TRUE(ValidateJwksUri("https://example.com/.well-known/jwks.json").ok());
  for (const char* bad : {"http://example.com/jwks", "https://u:p@example.com/", "https:///x",
                          "https://example.com/#f", "file:///etc/passwd", "", "example.com/jwks"})
    EXPECT_FALSE(ValidateJwksUri(bad).ok()) << bad;
}

class FakeFetcher final : public core::OutboundFetcher {
 public:
  core::Result<core::OutboundResponse> Get(const std::string&) override {
    ++calls;
    if (fail) return core::Error::Unavailable("down");
    return core::OutboundResponse{200, "application/json", body};
  }
  int calls = 0;
  bool fail = false;
  std::string body;
};

TEST(RemoteKeySets, CachesRefreshesAtMostEveryFloorAndRemembersFailures) {
  core::ManualClock clock;
  FakeFetcher fetcher;
  fetcher.body = R"({"keys":[)" + boost::json::serialize(PublicJwk("ES256", "a")) +
                 R"(,{"kty":"oct","k":"AA","kid":"skip"}]})";
  RemoteKeySets sets(&fetcher, clock, 300'000, 10'000);
  const std::string uri = "https://example.com/jwks";
  EXPECT_TRUE(IsWouldBlock(sets.Get(uri, false).error())) << "I/O threads never fetch";
  auto first = sets.Get(uri, true);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ((*first)->keys.size(), 1u) << "unusable keys of a fetched set are skipped";
  EXPECT_TRUE(sets.Get(uri, false).ok());
  EXPECT_EQ(fetcher.calls, 1);
  // Refresh on an unknown kid: not before the floor.
  EXPECT_TRUE(sets.Get(uri, true, true).ok());
  EXPECT_EQ(fetcher.calls, 1);
  clock.Advance(10'000);
  EXPECT_TRUE(sets.Get(uri, true, true).ok());
  EXPECT_EQ(fetcher.calls, 2);
  // A failed refresh keeps the old set until it is stale.
  fetcher.fail = true;
  clock.Advance(10'000);
  EXPECT_TRUE(sets.Get(uri, true, true).ok());
  EXPECT_EQ(fetcher.calls, 3);
  clock.Advance(300'000);
  EXPECT_FALSE(sets.Get(uri, true).ok());
  EXPECT_EQ(fetcher.calls, 4);
  // ... and the failure is not retried per request.
  EXPECT_FALSE(sets.Get(uri, true).ok());
  EXPECT_EQ(fetcher.calls, 4);
  fetcher.fail = false;
  clock.Advance(10'000);
  EXPECT_TRUE(sets.Get(uri, true).ok());
  EXPECT_EQ(fetcher.calls, 5);
}

}  // namespace
}  // namespace agentidp::domain
