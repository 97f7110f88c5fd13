#include "domain/oauth/dpop.hpp"

#include "crypto/encoding.hpp"
#include "crypto/hash.hpp"
#include "crypto/jws.hpp"

#include <gtest/gtest.h>
#include <boost/json/serialize.hpp>

#include <set>

namespace agentidp::domain {
namespace {

// Remembers keys forever: enough to test that the verifier asks once per proof.
class SetReplayCache final : public ReplayCache {
 public:
  core::Result<bool> Consume(std::string_view ns, std::string_view key, int64_t until) override {
    last_until = until;
    return seen.insert(std::string(ns) + "|" + std::string(key)).second;
  }
  std::set<std::string> seen;
  int64_t last_until = 0;
};

constexpr std::string_view kUrl = "https://idp.example.com/api/v1/token";

struct Fixture {
  core::ManualClock clock;
  SetReplayCache replay;
  crypto::KeyPair key = std::move(crypto::KeyPair::Generate("ES256")).value();
  crypto::JwsSigner signer{crypto::KeyPair(std::move(crypto::KeyPair::Generate("ES256")).value()),
                           "k"};

  DpopVerifier Make(bool nonce = false) {
    DpopSettings s;
    s.require_nonce = nonce;
    s.nonce_key = std::string(32, 'n');
    return DpopVerifier(replay, clock, s);
  }
  std::string Proof(boost::json::object claims, boost::json::object header = {}) {
    if (!header.contains("typ")) header["typ"] = "dpop+jwt";
    if (!header.contains("jwk")) header["jwk"] = signer.key().PublicJwk("");
    for (auto it = header.begin(); it != header.end();)
      it = it->value().is_null() ? header.erase(it) : std::next(it);
    return signer.Sign(header, boost::json::serialize(claims));
  }
  boost::json::object Claims(std::string htm = "POST", std::string htu = std::string(kUrl)) {
    static int n = 0;
    return {{"jti", "j" + std::to_string(++n)},
            {"htm", htm},
            {"htu", htu},
            {"iat", clock.NowSeconds()}};
  }
};

std::string Ath(std::string_view token) {
  auto d = crypto::Sha256(token);
  return crypto::Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(d.data()), 32));
}

TEST(Dpop, ValidProofYieldsTheKeyThumbprintOnce) {
  Fixture f;
  auto v = f.Make();
  auto proof = f.Proof(f.Claims());
  auto jkt = v.Verify({proof, "POST", kUrl, {}});
  ASSERT_TRUE(jkt.ok()) << jkt.error().message;
  EXPECT_EQ(*jkt, f.signer.key().Thumbprint());
  // Remembered until iat + max age + leeway (+1 s rounding).
  EXPECT_EQ(f.replay.last_until, (f.clock.NowSeconds() + 60 + 30 + 1) * 1000);
  auto again = v.Verify({proof, "POST", kUrl, {}});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, "invalid_dpop_proof");
}

TEST(Dpop, RefusesEveryMismatch) {
  Fixture f;
  auto v = f.Make();
  const int64_t now = f.clock.NowSeconds();
  auto refused = [&](boost::json::object claims, boost::json::object header = {},
                     std::optional<std::string_view> token = std::nullopt) {
    auto r = v.Verify({f.Proof(std::move(claims), std::move(header)), "POST", kUrl, token});
    return !r.ok() && r.error().code == "invalid_dpop_proof";
  };
  auto c = [&] { return f.Claims(); };
  auto with = [&](const char* k, boost::json::value val) {
    auto o = c();
    if (val.is_null())
      o.erase(k);
    else
      o[k] = val;
    return o;
  };
  EXPECT_TRUE(refused(with("htm", "GET")));
  EXPECT_TRUE(refused(with("htm", "post")));
  EXPECT_TRUE(refused(with("htu", "https://idp.example.com/api/v1/token/x")));
  EXPECT_TRUE(refused(with("htu", "https://other.example.com/api/v1/token")));
  EXPECT_TRUE(refused(with("htu", "http://idp.example.com/api/v1/token")));
  EXPECT_TRUE(refused(with("htu", "not a url")));
  EXPECT_TRUE(refused(with("htu", nullptr)));
  EXPECT_TRUE(refused(with("jti", nullptr)));
  EXPECT_TRUE(refused(with("jti", "")));
  EXPECT_TRUE(refused(with("iat", nullptr)));
  EXPECT_TRUE(refused(with("iat", now - 91)));  // older than 60 s + 30 s leeway
  EXPECT_TRUE(refused(with("iat", now + 31)));  // from the future
  EXPECT_TRUE(refused(c(), {{"typ", "JWT"}}));
  EXPECT_TRUE(refused(c(), {{"typ", nullptr}}));
  EXPECT_TRUE(refused(c(), {{"jwk", nullptr}}));
  // A jwk that is not the signing key.
  auto other = std::move(crypto::KeyPair::Generate("ES256")).value();
  EXPECT_TRUE(refused(c(), {{"jwk", other.PublicJwk("")}}));
  // A private key in the header.
  EXPECT_TRUE(refused(c(), {{"jku", "https://evil.example/jwks"}}));
  // ath: required with a token, must match it, refused without one.
  EXPECT_TRUE(refused(c(), {}, std::string_view("tok")));
  EXPECT_TRUE(refused(with("ath", boost::json::value(Ath("other"))), {}, std::string_view("tok")));
  EXPECT_TRUE(refused(with("ath", boost::json::value(Ath("tok")))));
  EXPECT_TRUE(v.Verify({f.Proof(with("ath", boost::json::value(Ath("tok")))), "POST", kUrl,
                        std::string_view("tok")})
                  .ok());
  EXPECT_TRUE(v.Verify({f.Proof(with("iat", now - 89)), "POST", kUrl, {}}).ok());
}

TEST(Dpop, HtuNormalization) {
  EXPECT_EQ(NormalizeHtu("HTTPS://IDP.example.com:443/api/v1/token?x=1#f"),
            "https://idp.example.com/api/v1/token");
  EXPECT_EQ(NormalizeHtu("http://h:80"), "http://h/");
  EXPECT_EQ(NormalizeHtu("https://h:8443/a/%7e"), "https://h:8443/a/~");
  EXPECT_EQ(NormalizeHtu("https://h/a/./b/../c"), "https://h/a/c");
  EXPECT_EQ(NormalizeHtu("ftp://h/x"), std::nullopt);
  EXPECT_EQ(NormalizeHtu("/relative"), std::nullopt);
  EXPECT_EQ(NormalizeHtu("https://user@h/x"), std::nullopt);
  EXPECT_EQ(NormalizeHtu(""), std::nullopt);
}

TEST(Dpop, NoncesAreRequiredAndExpireAfterTwoSlots) {
  Fixture f;
  auto v = f.Make(true);
  auto missing = v.Verify({f.Proof(f.Claims()), "POST", kUrl, {}});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "use_dpop_nonce");
  ASSERT_EQ(missing.error().headers.size(), 1u);
  EXPECT_EQ(missing.error().headers[0].first, "DPoP-Nonce");
  const std::string nonce = missing.error().headers[0].second;
  EXPECT_EQ(nonce, v.CurrentNonce());
  auto claims = f.Claims();
  claims["nonce"] = nonce;
  EXPECT_TRUE(v.Verify({f.Proof(claims), "POST", kUrl, {}}).ok());
  // Still good in the next slot, not in the one after.
  f.clock.Advance(300'000);
  claims = f.Claims();
  claims["nonce"] = nonce;
  EXPECT_TRUE(v.Verify({f.Proof(claims), "POST", kUrl, {}}).ok());
  f.clock.Advance(300'000);
  claims = f.Claims();
  claims["nonce"] = nonce;
  auto stale = v.Verify({f.Proof(claims), "POST", kUrl, {}});
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, "use_dpop_nonce");
  // Another node with the same key accepts this node's nonce; another key does not.
  SetReplayCache r2;
  DpopSettings same;
  same.require_nonce = true;
  same.nonce_key = std::string(32, 'n');
  EXPECT_EQ(DpopVerifier(r2, f.clock, same).CurrentNonce(), v.CurrentNonce());
  same.nonce_key = std::string(32, 'm');
  EXPECT_NE(DpopVerifier(r2, f.clock, same).CurrentNonce(), v.CurrentNonce());
}

}  // namespace
}  // namespace agentidp::domain
