#include "crypto/jws.hpp"

#include "core/json.hpp"
#include "crypto/encoding.hpp"
#include "crypto/hash.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <boost/json/serialize.hpp>

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace agentidp::crypto {
namespace {

namespace bj = boost::json;

constexpr int64_t kNow = 1'774'688'400;
constexpr char kIssuer[] = "https://idp.example";
constexpr char kAudience[] = "https://api.example";

std::string B64(std::string_view s) {
  return Base64UrlEncode(s);
}

bj::object DefaultClaims() {
  return bj::object{{"iss", kIssuer}, {"sub", "agent-1"},  {"aud", kAudience},
                    {"iat", kNow},    {"exp", kNow + 300}, {"jti", "t-1"}};
}

std::string Json(const bj::object& o) {
  return bj::serialize(o);
}

// Keys of every algorithm, generated once (RSA generation is slow).
class JwsTest : public ::testing::Test {
 protected:
  struct Keys {
    std::map<std::string, std::unique_ptr<JwsSigner>> signers;  // by alg
    std::map<std::string, PublicKey> public_keys;               // by kid
  };

  static void SetUpTestSuite() {
    keys_ = new Keys;
    for (const char* alg : {"RS256", "ES256", "EdDSA"}) {
      std::string kid = std::string("kid-") + alg;
      auto pair = KeyPair::Generate(alg).value();
      keys_->public_keys.emplace(kid, PublicKey::FromJwk(pair.PublicJwk(kid)).value());
      keys_->signers[alg] = std::make_unique<JwsSigner>(std::move(pair), kid);
    }
  }
  static void TearDownTestSuite() { delete keys_; }

  static const JwsSigner& Signer(const std::string& alg) { return *keys_->signers.at(alg); }
  static const PublicKey& Pub(const std::string& alg) {
    return keys_->public_keys.at("kid-" + alg);
  }

  static KeyLookup Lookup() {
    return [](std::string_view kid, std::string_view) -> const PublicKey* {
      auto it = keys_->public_keys.find(std::string(kid));
      return it == keys_->public_keys.end() ? nullptr : &it->second;
    };
  }

  static JwtVerifyOptions Options() {
    JwtVerifyOptions o;
    o.allowed_algs = {"RS256", "ES256", "EdDSA"};
    o.allowed_typs = {"at+jwt"};
    o.issuer = kIssuer;
    o.audience = kAudience;
    o.now_s = kNow;
    return o;
  }

  // Verifies and returns "" on success, the error message otherwise.
  static std::string Check(std::string_view token, const JwtVerifyOptions& opts = Options()) {
    auto r = VerifyJwt(token, Lookup(), opts);
    if (r.ok()) return "";
    EXPECT_EQ(r.error().kind, core::Errc::kOAuth);
    EXPECT_EQ(r.error().code, "invalid_token");
    EXPECT_EQ(r.error().status_override, 400);
    return r.error().message.empty() ? "<empty message>" : r.error().message;
  }

  static std::string Token(const std::string& alg, const bj::object& claims = DefaultClaims(),
                           std::string_view typ = "at+jwt") {
    return Signer(alg).SignJwt(typ, Json(claims));
  }

  // A token with an arbitrary header, properly signed by `alg`'s key.
  static std::string WithHeader(const std::string& alg, const std::string& header_json,
                                const std::string& payload_json = Json(DefaultClaims())) {
    return Signer(alg).SignCompact(header_json, payload_json);
  }

  static std::vector<std::string> Parts(const std::string& token) {
    std::vector<std::string> parts;
    size_t start = 0;
    for (size_t dot = token.find('.'); dot != std::string::npos; dot = token.find('.', start)) {
      parts.push_back(token.substr(start, dot - start));
      start = dot + 1;
    }
    parts.push_back(token.substr(start));
    return parts;
  }

  static std::string ReplaceSignature(const std::string& token, std::string_view raw_sig) {
    auto p = Parts(token);
    return p[0] + "." + p[1] + "." + B64(raw_sig);
  }

  static Keys* keys_;
};
JwsTest::Keys* JwsTest::keys_ = nullptr;

// ---------------------------------------------------------------------------
// Round trips

class JwsRoundTrip : public JwsTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(JwsRoundTrip, SignsAndVerifies) {
  std::string token = Token(GetParam());
  auto r = VerifyJwt(token, Lookup(), Options());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->header.at("alg").as_string(), GetParam());
  EXPECT_EQ(r->header.at("kid").as_string(), "kid-" + GetParam());
  EXPECT_EQ(r->header.at("typ").as_string(), "at+jwt");
  EXPECT_EQ(r->header.size(), 3u);
  EXPECT_EQ(r->signing_input_kid, "kid-" + GetParam());
  EXPECT_EQ(r->claims.at("sub").as_string(), "agent-1");
  EXPECT_EQ(r->jwk_thumbprint, Pub(GetParam()).Thumbprint());
}

TEST_P(JwsRoundTrip, SignatureHasJwsSize) {
  auto sig = Base64UrlDecode(Parts(Token(GetParam()))[2]);
  ASSERT_TRUE(sig.has_value());
  EXPECT_EQ(sig->size(), GetParam() == "RS256" ? 256u : 64u);
}

TEST_P(JwsRoundTrip, HeaderIsExactlyAlgKidTyp) {
  auto header = Base64UrlDecode(Parts(Token(GetParam()))[0]);
  ASSERT_TRUE(header.has_value());
  EXPECT_EQ(*header,
            R"({"alg":")" + GetParam() + R"(","kid":"kid-)" + GetParam() + R"(","typ":"at+jwt"})");
}

TEST_P(JwsRoundTrip, RefusesTamperedPayload) {
  auto p = Parts(Token(GetParam()));
  bj::object claims = DefaultClaims();
  claims["sub"] = "agent-2";
  std::string forged = p[0] + "." + B64(Json(claims)) + "." + p[2];
  EXPECT_EQ(Check(forged), "Invalid token signature");
}

TEST_P(JwsRoundTrip, RefusesTamperedSignature) {
  std::string token = Token(GetParam());
  auto sig = *Base64UrlDecode(Parts(token)[2]);
  for (size_t i : {size_t{0}, sig.size() / 2, sig.size() - 1}) {
    std::string bad = sig;
    bad[i] = static_cast<char>(bad[i] ^ 0x04);
    EXPECT_EQ(Check(ReplaceSignature(token, bad)), "Invalid token signature") << i;
  }
}

TEST_P(JwsRoundTrip, RefusesTamperedHeader) {
  auto p = Parts(Token(GetParam()));
  std::string header =
      R"({"alg":")" + GetParam() + R"(","kid":"kid-)" + GetParam() + R"(","typ":"at+JWT"})";
  EXPECT_EQ(Check(B64(header) + "." + p[1] + "." + p[2]), "Invalid token signature");
}

TEST_P(JwsRoundTrip, RefusesNonCanonicalSignatureEncoding) {
  std::string token = Token(GetParam());
  auto p = Parts(token);
  ASSERT_NE(p[2].size() % 4, 0u);  // 256 and 64 bytes both leave unused bits
  // Bump the last character within its unused low bits: same bytes if decoded leniently.
  std::string sig = p[2];
  sig.back() = sig.back() == 'A' ? 'B' : static_cast<char>(sig.back() + 1);
  EXPECT_NE(Check(p[0] + "." + p[1] + "." + sig), "");
  EXPECT_NE(Check(p[0] + "." + p[1] + "." + p[2] + "="), "");
}

TEST_P(JwsRoundTrip, ConcurrentSigningFromManyThreads) {
  const JwsSigner& signer = Signer(GetParam());
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        bj::object claims = DefaultClaims();
        claims["jti"] = "t" + std::to_string(t) + "-" + std::to_string(i);
        std::string token = signer.SignJwt("at+jwt", Json(claims));
        auto r = VerifyJwt(token, Lookup(), Options());
        if (!r.ok() || r->claims.at("jti") != claims.at("jti")) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int f : failures) EXPECT_EQ(f, 0);
}

TEST_P(JwsRoundTrip, KeyFromKeyPairVerifies) {
  auto pub = PublicKey::FromKeyPair(Signer(GetParam()).key());
  ASSERT_TRUE(pub.ok());
  const PublicKey* key = &*pub;
  KeyLookup lookup = [key](std::string_view, std::string_view) { return key; };
  EXPECT_TRUE(VerifyJwt(Token(GetParam()), lookup, Options()).ok());
}

INSTANTIATE_TEST_SUITE_P(Algs, JwsRoundTrip, ::testing::Values("RS256", "ES256", "EdDSA"));

TEST_F(JwsTest, SignWithExtraHeaderMembers) {
  bj::object extra{{"typ", "at+jwt"}, {"alg", "none"}, {"kid", "evil"}, {"cty", "x"}};
  std::string token = Signer("ES256").Sign(extra, Json(DefaultClaims()));
  auto r = VerifyJwt(token, Lookup(), Options());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->header.at("alg").as_string(), "ES256");
  EXPECT_EQ(r->header.at("kid").as_string(), "kid-ES256");
  EXPECT_EQ(r->header.at("cty").as_string(), "x");
}

TEST_F(JwsTest, EcdsaSignaturesAreRandomizedButBothVerify) {
  std::string a = Token("ES256");
  std::string b = Token("ES256");
  EXPECT_NE(a, b);
  EXPECT_EQ(Check(a), "");
  EXPECT_EQ(Check(b), "");
}

// RFC 8037 Appendix A.4: Ed25519 is deterministic, so the signature is a known answer.
TEST_F(JwsTest, Ed25519MatchesRfc8037Example) {
  auto d = Base64UrlDecode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A");
  ASSERT_TRUE(d.has_value());
  EVP_PKEY* raw = EVP_PKEY_new_raw_private_key_ex(
      nullptr, "ED25519", nullptr, reinterpret_cast<const unsigned char*>(d->data()), d->size());
  ASSERT_NE(raw, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PKCS8PrivateKey(bio, raw, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  EVP_PKEY_free(raw);

  auto key = KeyPair::FromPrivatePem(pem, "EdDSA");
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ(key->PublicJwk("").at("x").as_string(), "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
  JwsSigner signer(std::move(key).value(), "rfc8037");
  std::string input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
  EXPECT_EQ(
      B64(signer.SignRaw(input)),
      "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg");
  EXPECT_EQ(B64(signer.SignRaw(input)), B64(signer.SignRaw(input)));
}

// ---------------------------------------------------------------------------
// Structure

TEST_F(JwsTest, RefusesWrongNumberOfParts) {
  std::string token = Token("ES256");
  auto p = Parts(token);
  EXPECT_NE(Check(""), "");
  EXPECT_NE(Check(p[0] + "." + p[1]), "");
  EXPECT_NE(Check(token + ".x"), "");
  EXPECT_NE(Check(token + "."), "");
  EXPECT_NE(Check(p[0] + "." + p[1] + "." + p[2] + "." + p[2]), "");
  EXPECT_NE(Check("a.b.c.d.e"), "");  // JWE-shaped
}

TEST_F(JwsTest, RefusesInvalidBase64Parts) {
  auto p = Parts(Token("ES256"));
  EXPECT_NE(Check(p[0] + "=." + p[1] + "." + p[2]), "");
  EXPECT_NE(Check(p[0] + "." + p[1] + " ." + p[2]), "");
  std::string std_alphabet = p[1];
  std::replace(std_alphabet.begin(), std_alphabet.end(), '_', '/');
  std::replace(std_alphabet.begin(), std_alphabet.end(), '-', '+');
  if (std_alphabet != p[1]) {
    EXPECT_NE(Check(p[0] + "." + std_alphabet + "." + p[2]), "");
  }
  EXPECT_NE(Check(p[0] + "." + p[1] + ".*"), "");
}

TEST_F(JwsTest, RefusesNonObjectHeaderOrClaims) {
  EXPECT_NE(Check(WithHeader("ES256", R"(["ES256"])")), "");
  EXPECT_NE(Check(WithHeader("ES256", R"({"alg":"ES256","kid":"kid-ES256","typ":"at+jwt"})", "[]")),
            "");
  EXPECT_NE(
      Check(WithHeader("ES256", R"({"alg":"ES256","kid":"kid-ES256","typ":"at+jwt"})", "not json")),
      "");
}

TEST_F(JwsTest, RefusesOversizedToken) {
  bj::object claims = DefaultClaims();
  claims["pad"] = std::string(20000, 'a');
  EXPECT_EQ(Check(Token("ES256", claims)), "Token too large");
  JwtVerifyOptions opts = Options();
  opts.max_token_size = 64 * 1024;
  EXPECT_EQ(Check(Token("ES256", claims), opts), "");
}

TEST_F(JwsTest, RefusesDuplicateClaimMembers) {
  std::string payload = R"({"iss":"https://idp.example","sub":"agent-1","sub":"admin",)"
                        R"("aud":"https://api.example","exp":)" +
                        std::to_string(kNow + 300) + "}";
  std::string token =
      WithHeader("ES256", R"({"alg":"ES256","kid":"kid-ES256","typ":"at+jwt"})", payload);
  std::string msg = Check(token);
  EXPECT_NE(msg.find("Duplicate JSON member \"sub\""), std::string::npos) << msg;
}

TEST_F(JwsTest, RefusesDuplicateHeaderMembers) {
  std::string token =
      WithHeader("ES256", R"({"alg":"ES256","kid":"kid-ES256","typ":"at+jwt","alg":"ES256"})");
  std::string msg = Check(token);
  EXPECT_NE(msg.find("Duplicate JSON member \"alg\""), std::string::npos) << msg;
}

// ---------------------------------------------------------------------------
// Algorithm

TEST_F(JwsTest, RefusesAlgNone) {
  std::string payload = B64(Json(DefaultClaims()));
  for (const char* alg : {"none", "None", "NONE"}) {
    std::string header =
        B64(std::string(R"({"alg":")") + alg + R"(","kid":"kid-RS256","typ":"at+jwt"})");
    JwtVerifyOptions opts = Options();
    opts.allowed_algs.push_back(alg);  // even a careless allow-list does not enable it
    EXPECT_NE(Check(header + "." + payload + ".", opts), "") << alg;
  }
  std::string header = B64(R"({"alg":"none","kid":"kid-RS256","typ":"at+jwt"})");
  EXPECT_EQ(Check(header + "." + payload + "."), "Unsigned tokens (alg none) are not accepted");
}

TEST_F(JwsTest, RefusesHmacSignedWithThePublicKey) {
  // The classic confusion: HS256 with the RSA public key (as published) as the secret.
  std::string header = B64(R"({"alg":"HS256","kid":"kid-RS256","typ":"at+jwt"})");
  std::string payload = B64(Json(DefaultClaims()));
  std::string input = header + "." + payload;
  JwtVerifyOptions opts = Options();
  opts.allowed_algs.push_back("HS256");
  for (const std::string& secret : {Json(Signer("RS256").key().PublicJwk("kid-RS256")),
                                    Json(Pub("RS256").Jwk()), Signer("RS256").key().PrivatePem()}) {
    std::string token = input + "." + B64(HmacSha256(secret, input));
    EXPECT_EQ(Check(token, opts), "HMAC-signed tokens are not accepted");
  }
}

TEST_F(JwsTest, RefusesAlgNotAllowed) {
  JwtVerifyOptions opts = Options();
  opts.allowed_algs = {"ES256"};
  EXPECT_EQ(Check(Token("RS256"), opts), "Token algorithm not allowed");
  EXPECT_EQ(Check(Token("ES256"), opts), "");
  EXPECT_EQ(Check(WithHeader("ES256", R"({"alg":"ES384","kid":"kid-ES256","typ":"at+jwt"})")),
            "Token algorithm not allowed");
  EXPECT_NE(Check(WithHeader("ES256", R"({"kid":"kid-ES256","typ":"at+jwt"})")), "");
  EXPECT_NE(Check(WithHeader("ES256", R"({"alg":5,"kid":"kid-ES256","typ":"at+jwt"})")), "");
}

TEST_F(JwsTest, RefusesAlgThatDoesNotMatchTheKey) {
  // Signed by the EC key but pointing at the RSA key's kid, with an honest alg.
  std::string token = WithHeader("ES256", R"({"alg":"ES256","kid":"kid-RS256","typ":"at+jwt"})");
  EXPECT_EQ(Check(token), "Token algorithm does not match the signing key");
  // And the alg is checked against the key even when the signature would match.
  std::string eddsa_as_es =
      WithHeader("EdDSA", R"({"alg":"ES256","kid":"kid-EdDSA","typ":"at+jwt"})");
  EXPECT_EQ(Check(eddsa_as_es), "Token algorithm does not match the signing key");
}

TEST_F(JwsTest, LookupReceivesKidAndAlg) {
  std::string seen_kid, seen_alg;
  KeyLookup spy = [&](std::string_view kid, std::string_view alg) -> const PublicKey* {
    seen_kid = kid;
    seen_alg = alg;
    return &Pub("ES256");
  };
  ASSERT_TRUE(VerifyJwt(Token("ES256"), spy, Options()).ok());
  EXPECT_EQ(seen_kid, "kid-ES256");
  EXPECT_EQ(seen_alg, "ES256");
  // No kid: the lookup is asked with "".
  ASSERT_TRUE(
      VerifyJwt(WithHeader("ES256", R"({"alg":"ES256","typ":"at+jwt"})"), spy, Options()).ok());
  EXPECT_EQ(seen_kid, "");
}

TEST_F(JwsTest, RefusesUnknownKid) {
  std::string token = WithHeader("ES256", R"({"alg":"ES256","kid":"unknown","typ":"at+jwt"})");
  EXPECT_EQ(Check(token), "Unknown signing key");
  EXPECT_FALSE(VerifyJwt(Token("ES256"), KeyLookup(), Options()).ok());
}

TEST_F(JwsTest, RefusesNonStringKid) {
  EXPECT_EQ(Check(WithHeader("ES256", R"({"alg":"ES256","kid":7,"typ":"at+jwt"})")),
            "kid must be a string");
  EXPECT_EQ(Check(WithHeader("ES256", R"({"alg":"ES256","kid":null,"typ":"at+jwt"})")),
            "kid must be a string");
}

// ---------------------------------------------------------------------------
// Header parameters that are never honoured

TEST_F(JwsTest, RefusesCrit) {
  bj::object extra{{"typ", "at+jwt"}, {"crit", bj::array{"exp"}}, {"exp", kNow}};
  EXPECT_EQ(Check(Signer("ES256").Sign(extra, Json(DefaultClaims()))),
            "Unsupported critical header parameters");
  bj::object b64{{"typ", "at+jwt"}, {"crit", bj::array{"b64"}}, {"b64", false}};
  EXPECT_EQ(Check(Signer("ES256").Sign(b64, Json(DefaultClaims()))),
            "Unsupported critical header parameters");
}

TEST_F(JwsTest, RefusesEmbeddedKeysAndKeyUrls) {
  bj::object jwk = Signer("ES256").key().PublicJwk("kid-ES256");
  EXPECT_EQ(Check(Signer("ES256").Sign({{"typ", "at+jwt"}, {"jwk", jwk}}, Json(DefaultClaims()))),
            "Embedded jwk is not accepted");
  for (const char* member : {"jku", "x5u"}) {
    bj::object extra{{"typ", "at+jwt"}, {member, "https://attacker.example/keys"}};
    EXPECT_EQ(Check(Signer("ES256").Sign(extra, Json(DefaultClaims()))),
              "Token-supplied key references are not accepted")
        << member;
  }
  bj::object x5c{{"typ", "at+jwt"}, {"x5c", bj::array{"MIIB"}}};
  EXPECT_EQ(Check(Signer("ES256").Sign(x5c, Json(DefaultClaims()))),
            "Token-supplied key references are not accepted");
}

// ---------------------------------------------------------------------------
// typ

TEST_F(JwsTest, TypIsExplicit) {
  EXPECT_EQ(Check(Token("ES256", DefaultClaims(), "JWT")), "Token type not allowed");
  EXPECT_EQ(Check(Token("ES256", DefaultClaims(), "dpop+jwt")), "Token type not allowed");
  EXPECT_EQ(Check(Token("ES256", DefaultClaims(), "")), "Missing typ header");
  // Case-insensitive, "application/" optional (RFC 7515 §4.1.9).
  EXPECT_EQ(Check(Token("ES256", DefaultClaims(), "AT+JWT")), "");
  EXPECT_EQ(Check(Token("ES256", DefaultClaims(), "application/at+jwt")), "");
  EXPECT_EQ(Check(Token("ES256", DefaultClaims(), "Application/AT+JWT")), "");
  EXPECT_EQ(Check(Token("ES256", DefaultClaims(), "text/at+jwt")), "Token type not allowed");
  EXPECT_EQ(Check(WithHeader("ES256", R"({"alg":"ES256","kid":"kid-ES256","typ":1})")),
            "typ must be a string");
}

TEST_F(JwsTest, ClientAssertionTypPolicy) {
  // SPEC §5: assertions without typ, with "JWT", or "client-authentication+jwt".
  JwtVerifyOptions opts = Options();
  opts.allowed_typs = {"", "JWT", "client-authentication+jwt"};
  EXPECT_EQ(Check(Token("ES256", DefaultClaims(), ""), opts), "");
  EXPECT_EQ(Check(Token("ES256", DefaultClaims(), "JWT"), opts), "");
  EXPECT_EQ(Check(Token("ES256", DefaultClaims(), "jwt"), opts), "");
  EXPECT_EQ(Check(Token("ES256", DefaultClaims(), "client-authentication+jwt"), opts), "");
  EXPECT_NE(Check(Token("ES256", DefaultClaims(), "at+jwt"), opts), "");
  EXPECT_NE(Check(Token("ES256", DefaultClaims(), "dpop+jwt"), opts), "");
}

TEST_F(JwsTest, EmptyTypListAcceptsNothing) {
  JwtVerifyOptions opts = Options();
  opts.allowed_typs.clear();
  EXPECT_NE(Check(Token("ES256"), opts), "");
  EXPECT_NE(Check(Token("ES256", DefaultClaims(), ""), opts), "");
}

// ---------------------------------------------------------------------------
// Claims

TEST_F(JwsTest, IssuerMustMatchExactly) {
  bj::object claims = DefaultClaims();
  claims["iss"] = "https://idp.example/";
  EXPECT_EQ(Check(Token("ES256", claims)), "Invalid issuer");
  claims["iss"] = "https://evil.example";
  EXPECT_EQ(Check(Token("ES256", claims)), "Invalid issuer");
  claims["iss"] = bj::array{kIssuer};
  EXPECT_EQ(Check(Token("ES256", claims)), "Invalid issuer");
  claims.erase("iss");
  EXPECT_EQ(Check(Token("ES256", claims)), "Invalid issuer");
  JwtVerifyOptions no_issuer = Options();
  no_issuer.issuer.reset();
  EXPECT_EQ(Check(Token("ES256", claims), no_issuer), "");
}

TEST_F(JwsTest, AudienceMustBeContained) {
  bj::object claims = DefaultClaims();
  claims["aud"] = "https://other.example";
  EXPECT_EQ(Check(Token("ES256", claims)), "Invalid audience");
  claims["aud"] = bj::array{"https://other.example", kAudience};
  EXPECT_EQ(Check(Token("ES256", claims)), "");
  claims["aud"] = bj::array{"https://other.example"};
  EXPECT_EQ(Check(Token("ES256", claims)), "Invalid audience");
  claims["aud"] = bj::array{};
  EXPECT_EQ(Check(Token("ES256", claims)), "Invalid audience");
  claims["aud"] = bj::array{kAudience, 5};
  EXPECT_EQ(Check(Token("ES256", claims)), "Invalid audience");
  claims["aud"] = 5;
  EXPECT_EQ(Check(Token("ES256", claims)), "Invalid audience");
  claims.erase("aud");
  EXPECT_EQ(Check(Token("ES256", claims)), "Invalid audience");
}

TEST_F(JwsTest, ExpiryWithLeeway) {
  bj::object claims = DefaultClaims();
  claims["exp"] = kNow - 30;  // within the 30 s leeway
  EXPECT_EQ(Check(Token("ES256", claims)), "");
  claims["exp"] = kNow - 31;
  EXPECT_EQ(Check(Token("ES256", claims)), "Token expired");
  claims["exp"] = static_cast<double>(kNow - 31) + 0.5;  // NumericDate may be fractional
  EXPECT_EQ(Check(Token("ES256", claims)), "Token expired");
  JwtVerifyOptions strict = Options();
  strict.leeway_s = 0;
  claims["exp"] = kNow;
  EXPECT_EQ(Check(Token("ES256", claims), strict), "");
  claims["exp"] = kNow - 1;
  EXPECT_EQ(Check(Token("ES256", claims), strict), "Token expired");
}

TEST_F(JwsTest, ExpMustBePresentAndNumeric) {
  bj::object claims = DefaultClaims();
  claims.erase("exp");
  EXPECT_EQ(Check(Token("ES256", claims)), "Missing exp claim");
  JwtVerifyOptions optional_exp = Options();
  optional_exp.require_exp = false;
  EXPECT_EQ(Check(Token("ES256", claims), optional_exp), "");
  claims["exp"] = std::to_string(kNow + 300);
  EXPECT_EQ(Check(Token("ES256", claims)), "exp must be a number");
  claims["exp"] = true;
  EXPECT_EQ(Check(Token("ES256", claims)), "exp must be a number");
  claims["exp"] = nullptr;
  EXPECT_EQ(Check(Token("ES256", claims), optional_exp), "exp must be a number");
}

TEST_F(JwsTest, NotBeforeWithLeeway) {
  bj::object claims = DefaultClaims();
  claims["nbf"] = kNow + 30;
  EXPECT_EQ(Check(Token("ES256", claims)), "");
  claims["nbf"] = kNow + 31;
  EXPECT_EQ(Check(Token("ES256", claims)), "Token not yet valid");
  claims["nbf"] = "soon";
  EXPECT_EQ(Check(Token("ES256", claims)), "nbf must be a number");
}

TEST_F(JwsTest, IssuedAtChecks) {
  bj::object claims = DefaultClaims();
  claims["iat"] = kNow + 31;
  EXPECT_EQ(Check(Token("ES256", claims)), "Token issued in the future");
  claims["iat"] = kNow + 30;
  EXPECT_EQ(Check(Token("ES256", claims)), "");
  claims["iat"] = "now";
  EXPECT_EQ(Check(Token("ES256", claims)), "iat must be a number");

  JwtVerifyOptions opts = Options();
  opts.require_iat = true;
  claims.erase("iat");
  EXPECT_EQ(Check(Token("ES256", claims), opts), "Missing iat claim");

  opts = Options();
  opts.max_age_s = 60;
  EXPECT_EQ(Check(Token("ES256", claims), opts), "Missing iat claim");
  claims["iat"] = kNow - 90;
  EXPECT_EQ(Check(Token("ES256", claims), opts), "");  // 60 + 30 leeway
  claims["iat"] = kNow - 91;
  EXPECT_EQ(Check(Token("ES256", claims), opts), "Token too old");
}

// ---------------------------------------------------------------------------
// Signature encodings

TEST_F(JwsTest, RefusesEcdsaSignatureOfWrongLength) {
  std::string token = Token("ES256");
  std::string sig = *Base64UrlDecode(Parts(token)[2]);
  ASSERT_EQ(sig.size(), 64u);
  EXPECT_EQ(Check(ReplaceSignature(token, sig.substr(0, 63))), "Invalid token signature");
  EXPECT_EQ(Check(ReplaceSignature(token, sig + '\0')), "Invalid token signature");
  EXPECT_EQ(Check(ReplaceSignature(token, std::string(1, '\0') + sig)), "Invalid token signature");
  EXPECT_EQ(Check(ReplaceSignature(token, "")), "Invalid token signature");
}

TEST_F(JwsTest, RefusesDerEncodedEcdsaSignature) {
  // What OpenSSL produces natively; JWS requires R||S.
  std::string token = Token("ES256");
  std::string raw = *Base64UrlDecode(Parts(token)[2]);
  std::string der = "\x30\x44\x02\x20" + raw.substr(0, 32) + "\x02\x20" + raw.substr(32);
  EXPECT_EQ(Check(ReplaceSignature(token, der)), "Invalid token signature");
}

TEST_F(JwsTest, RefusesEcdsaZeroOrOutOfRangeScalars) {
  std::string token = Token("ES256");
  std::string sig = *Base64UrlDecode(Parts(token)[2]);
  std::string zero(32, '\0');
  EXPECT_EQ(Check(ReplaceSignature(token, zero + sig.substr(32))), "Invalid token signature");
  EXPECT_EQ(Check(ReplaceSignature(token, sig.substr(0, 32) + zero)), "Invalid token signature");
  EXPECT_EQ(Check(ReplaceSignature(token, zero + zero)), "Invalid token signature");
  // r = n, and s replaced by s + n (same value mod n, the malleable form).
  auto order = *HexDecode("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");
  EXPECT_EQ(Check(ReplaceSignature(token, order + sig.substr(32))), "Invalid token signature");
  EXPECT_EQ(Check(ReplaceSignature(token, sig.substr(0, 32) + std::string(32, '\xFF'))),
            "Invalid token signature");
}

TEST_F(JwsTest, RefusesEd25519SignatureOfWrongLength) {
  std::string token = Token("EdDSA");
  std::string sig = *Base64UrlDecode(Parts(token)[2]);
  EXPECT_EQ(Check(ReplaceSignature(token, sig.substr(0, 63))), "Invalid token signature");
  EXPECT_EQ(Check(ReplaceSignature(token, sig + 'x')), "Invalid token signature");
}

TEST_F(JwsTest, RefusesRsaSignatureOfWrongLength) {
  std::string token = Token("RS256");
  std::string sig = *Base64UrlDecode(Parts(token)[2]);
  ASSERT_EQ(sig.size(), 256u);
  EXPECT_EQ(Check(ReplaceSignature(token, std::string(1, '\0') + sig)), "Invalid token signature");
  EXPECT_EQ(Check(ReplaceSignature(token, sig.substr(1))), "Invalid token signature");
}

// ---------------------------------------------------------------------------
// Embedded jwk (DPoP proofs)

TEST_F(JwsTest, EmbeddedJwkModeVerifiesWithHeaderKey) {
  auto proof_key = KeyPair::Generate("ES256").value();
  bj::object public_members = PublicKey::FromKeyPair(proof_key).value().Jwk();
  JwsSigner proof_signer(std::move(proof_key), "");
  bj::object claims{
      {"htm", "POST"}, {"htu", "https://idp.example/token"}, {"iat", kNow}, {"jti", "p-1"}};
  bj::object header{{"alg", "ES256"}, {"typ", "dpop+jwt"}, {"jwk", public_members}};
  std::string proof = proof_signer.SignCompact(Json(header), Json(claims));

  JwtVerifyOptions opts;
  opts.allowed_algs = {"ES256", "EdDSA", "RS256"};
  opts.allowed_typs = {"dpop+jwt"};
  opts.now_s = kNow;
  opts.require_exp = false;
  opts.require_iat = true;
  opts.max_age_s = 300;
  opts.use_embedded_jwk = true;
  auto r = VerifyJwt(proof, KeyLookup(), opts);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->jwk_thumbprint, JwkThumbprint(public_members));
  EXPECT_EQ(r->claims.at("htm").as_string(), "POST");

  // Without the mode, the same proof is refused.
  JwtVerifyOptions normal = opts;
  normal.use_embedded_jwk = false;
  EXPECT_FALSE(VerifyJwt(proof, Lookup(), normal).ok());

  // A private key in the header is refused.
  bj::object with_d = public_members;
  with_d["d"] = B64(std::string(32, 'x'));
  header["jwk"] = with_d;
  EXPECT_FALSE(
      VerifyJwt(proof_signer.SignCompact(Json(header), Json(claims)), KeyLookup(), opts).ok());

  // Missing jwk, or a different key than the signer's.
  header.erase("jwk");
  EXPECT_FALSE(
      VerifyJwt(proof_signer.SignCompact(Json(header), Json(claims)), KeyLookup(), opts).ok());
  header["jwk"] = Pub("ES256").Jwk();
  EXPECT_EQ(VerifyJwt(proof_signer.SignCompact(Json(header), Json(claims)), KeyLookup(), opts)
                .error()
                .message,
            "Invalid token signature");
}

TEST_F(JwsTest, Ed25519IsASynonymOfEdDsaOnlyWhereListed) {
  auto key = KeyPair::Generate("EdDSA").value();
  bj::object public_members = PublicKey::FromKeyPair(key).value().Jwk();
  JwsSigner signer(std::move(key), "");
  bj::object claims{
      {"htm", "POST"}, {"htu", "https://idp.example/token"}, {"iat", kNow}, {"jti", "p-2"}};
  bj::object header{{"alg", "Ed25519"}, {"typ", "dpop+jwt"}, {"jwk", public_members}};
  std::string proof = signer.SignCompact(Json(header), Json(claims));
  JwtVerifyOptions opts;
  opts.allowed_algs = {"ES256", "EdDSA", "Ed25519"};
  opts.allowed_typs = {"dpop+jwt"};
  opts.now_s = kNow;
  opts.require_exp = false;
  opts.use_embedded_jwk = true;
  auto r = VerifyJwt(proof, KeyLookup(), opts);
  ASSERT_TRUE(r.ok()) << r.error().message;
  // Not listed: refused, like any other algorithm.
  opts.allowed_algs = {"ES256", "EdDSA"};
  EXPECT_EQ(VerifyJwt(proof, KeyLookup(), opts).error().message, "Token algorithm not allowed");
  // The synonym is pinned to Ed25519 keys: an ES256 key under "Ed25519" fails.
  auto ec = KeyPair::Generate("ES256").value();
  bj::object ec_public = PublicKey::FromKeyPair(ec).value().Jwk();
  JwsSigner ec_signer(std::move(ec), "");
  header["jwk"] = ec_public;
  opts.allowed_algs = {"ES256", "EdDSA", "Ed25519"};
  EXPECT_FALSE(
      VerifyJwt(ec_signer.SignCompact(Json(header), Json(claims)), KeyLookup(), opts).ok());
}

// ---------------------------------------------------------------------------
// Unverified decoding

TEST_F(JwsTest, DecodeUnverifiedReadsButDoesNotTrust) {
  bj::object claims = DefaultClaims();
  claims["iss"] = "client-7";
  std::string token = Token("ES256", claims);
  auto p = Parts(token);
  auto r = DecodeJwtUnverified(p[0] + "." + p[1] + ".AAAA");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->claims.at("iss").as_string(), "client-7");
  EXPECT_EQ(r->header.at("kid").as_string(), "kid-ES256");
  EXPECT_FALSE(DecodeJwtUnverified(p[0] + "." + B64(R"({"a":1,"a":2})") + ".x").ok());
  EXPECT_FALSE(DecodeJwtUnverified(p[0] + "." + p[1]).ok());
}

}  // namespace
}  // namespace agentidp::crypto
