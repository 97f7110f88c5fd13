#include "crypto/keys.hpp"

#include "crypto/encoding.hpp"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <boost/json/parse.hpp>

#include <cstring>
#include <string>

namespace agentidp::crypto {
namespace {

namespace bj = boost::json;

// RFC 7638 §3.1 example key and its published thumbprint.
constexpr char kRfc7638N[] =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
    "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
    "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
    "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
constexpr char kRfc7638Thumbprint[] = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

// RFC 8037 Appendix A.2/A.3: Ed25519 public key and its thumbprint.
constexpr char kRfc8037X[] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
constexpr char kRfc8037Thumbprint[] = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";

bj::object Rfc7638Jwk() {
  return bj::object{
      {"kty", "RSA"}, {"n", kRfc7638N}, {"e", "AQAB"}, {"alg", "RS256"}, {"kid", "2011-04-29"}};
}

std::string PemOf(EVP_PKEY* pkey, const EVP_CIPHER* cipher = nullptr, const char* pass = nullptr) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PKCS8PrivateKey(bio, pkey, cipher, pass, pass ? static_cast<int>(strlen(pass)) : 0,
                                nullptr, nullptr);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

size_t DecodedSize(const bj::value& v) {
  auto d = Base64UrlDecode(v.as_string());
  return d ? d->size() : 0;
}

class KeyPairTest : public ::testing::TestWithParam<std::string> {};

TEST_P(KeyPairTest, GeneratesKeyWithPublicOnlyJwk) {
  auto key = KeyPair::Generate(GetParam());
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ(key->alg(), GetParam());
  bj::object jwk = key->PublicJwk("key-1");
  EXPECT_EQ(jwk.at("kid").as_string(), "key-1");
  EXPECT_EQ(jwk.at("alg").as_string(), GetParam());
  EXPECT_EQ(jwk.at("use").as_string(), "sig");
  for (const char* secret : {"d", "p", "q", "dp", "dq", "qi", "k"}) {
    EXPECT_FALSE(jwk.contains(secret)) << secret;
  }
  if (GetParam() == "RS256") {
    EXPECT_EQ(jwk.at("kty").as_string(), "RSA");
    EXPECT_EQ(DecodedSize(jwk.at("n")), 256u);
    EXPECT_EQ(jwk.at("e").as_string(), "AQAB");
  } else if (GetParam() == "ES256") {
    EXPECT_EQ(jwk.at("kty").as_string(), "EC");
    EXPECT_EQ(jwk.at("crv").as_string(), "P-256");
    EXPECT_EQ(DecodedSize(jwk.at("x")), 32u);
    EXPECT_EQ(DecodedSize(jwk.at("y")), 32u);
  } else {
    EXPECT_EQ(jwk.at("kty").as_string(), "OKP");
    EXPECT_EQ(jwk.at("crv").as_string(), "Ed25519");
    EXPECT_EQ(DecodedSize(jwk.at("x")), 32u);
  }
  EXPECT_EQ(key->Thumbprint(), JwkThumbprint(jwk));
  EXPECT_EQ(key->Thumbprint().size(), 43u);
}

TEST_P(KeyPairTest, PemRoundTripKeepsKey) {
  auto key = KeyPair::Generate(GetParam());
  ASSERT_TRUE(key.ok());
  std::string pem = key->PrivatePem();
  EXPECT_EQ(pem.rfind("-----BEGIN PRIVATE KEY-----", 0), 0u);
  auto loaded = KeyPair::FromPrivatePem(pem, GetParam());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->Thumbprint(), key->Thumbprint());
  EXPECT_EQ(loaded->alg(), GetParam());
}

TEST_P(KeyPairTest, PublicKeyFromKeyPairMatches) {
  auto key = KeyPair::Generate(GetParam());
  ASSERT_TRUE(key.ok());
  auto pub = PublicKey::FromKeyPair(*key);
  ASSERT_TRUE(pub.ok()) << pub.error().message;
  EXPECT_EQ(pub->alg(), GetParam());
  EXPECT_EQ(pub->Thumbprint(), key->Thumbprint());
  // And through the published JWK, as a relying party would see it.
  auto from_jwk = PublicKey::FromJwk(key->PublicJwk("k"));
  ASSERT_TRUE(from_jwk.ok()) << from_jwk.error().message;
  EXPECT_EQ(from_jwk->Thumbprint(), key->Thumbprint());
  EXPECT_EQ(JwkThumbprint(from_jwk->Jwk()), key->Thumbprint());
}

INSTANTIATE_TEST_SUITE_P(Algs, KeyPairTest, ::testing::Values("RS256", "ES256", "EdDSA"));

TEST(KeyPair, RefusesUnsupportedAlgorithms) {
  for (const char* alg : {"HS256", "none", "RS384", "ES384", "PS256", "", "rs256"}) {
    EXPECT_FALSE(KeyPair::Generate(alg).ok()) << alg;
  }
}

TEST(KeyPair, MoveKeepsKey) {
  auto key = KeyPair::Generate("ES256");
  ASSERT_TRUE(key.ok());
  std::string thumbprint = key->Thumbprint();
  KeyPair moved = std::move(key).value();
  EXPECT_EQ(moved.Thumbprint(), thumbprint);
  KeyPair other = KeyPair::Generate("EdDSA").value();
  other = std::move(moved);
  EXPECT_EQ(other.Thumbprint(), thumbprint);
  EXPECT_EQ(other.alg(), "ES256");
}

TEST(KeyPair, FromPemRefusesMismatchedAlgorithm) {
  auto ec = KeyPair::Generate("ES256");
  ASSERT_TRUE(ec.ok());
  EXPECT_FALSE(KeyPair::FromPrivatePem(ec->PrivatePem(), "RS256").ok());
  EXPECT_FALSE(KeyPair::FromPrivatePem(ec->PrivatePem(), "EdDSA").ok());
  EXPECT_FALSE(KeyPair::FromPrivatePem(ec->PrivatePem(), "HS256").ok());
}

TEST(KeyPair, FromPemRefusesGarbage) {
  EXPECT_FALSE(KeyPair::FromPrivatePem("", "ES256").ok());
  EXPECT_FALSE(KeyPair::FromPrivatePem(
                   "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "ES256")
                   .ok());
}

TEST(KeyPair, FromPemRefusesWeakRsaAndOtherCurves) {
  EVP_PKEY* rsa1024 = EVP_RSA_gen(1024);
  ASSERT_NE(rsa1024, nullptr);
  EXPECT_FALSE(KeyPair::FromPrivatePem(PemOf(rsa1024), "RS256").ok());
  EVP_PKEY_free(rsa1024);

  EVP_PKEY* p384 = EVP_EC_gen("secp384r1");
  ASSERT_NE(p384, nullptr);
  EXPECT_FALSE(KeyPair::FromPrivatePem(PemOf(p384), "ES256").ok());
  EVP_PKEY_free(p384);
}

TEST(KeyPair, FromPemRefusesEncryptedPemWithoutPrompting) {
  EVP_PKEY* ec = EVP_EC_gen("prime256v1");
  ASSERT_NE(ec, nullptr);
  std::string pem = PemOf(ec, EVP_aes_256_cbc(), "passphrase");
  EVP_PKEY_free(ec);
  EXPECT_NE(pem.find("ENCRYPTED"), std::string::npos);
  EXPECT_FALSE(KeyPair::FromPrivatePem(pem, "ES256").ok());
}

TEST(JwkThumbprint, MatchesRfc7638Example) {
  EXPECT_EQ(JwkThumbprint(Rfc7638Jwk()), kRfc7638Thumbprint);
  auto key = PublicKey::FromJwk(Rfc7638Jwk());
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ(key->Thumbprint(), kRfc7638Thumbprint);
  EXPECT_EQ(key->alg(), "RS256");
}

TEST(JwkThumbprint, MatchesRfc8037Example) {
  bj::object jwk{{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", kRfc8037X}};
  EXPECT_EQ(JwkThumbprint(jwk), kRfc8037Thumbprint);
  auto key = PublicKey::FromJwk(jwk);
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ(key->Thumbprint(), kRfc8037Thumbprint);
  EXPECT_EQ(key->alg(), "EdDSA");
}

TEST(JwkThumbprint, IgnoresOptionalMembersAndOrder) {
  bj::object reordered{{"e", "AQAB"}, {"use", "sig"}, {"n", kRfc7638N}, {"kty", "RSA"}};
  EXPECT_EQ(JwkThumbprint(reordered), kRfc7638Thumbprint);
}

TEST(JwkThumbprint, EmptyForIncompleteJwk) {
  EXPECT_EQ(JwkThumbprint(bj::object{{"kty", "RSA"}, {"n", kRfc7638N}}), "");
  EXPECT_EQ(JwkThumbprint(bj::object{{"kty", "EC"}, {"crv", "P-256"}, {"x", "AA"}}), "");
  EXPECT_EQ(JwkThumbprint(bj::object{{"n", kRfc7638N}, {"e", "AQAB"}}), "");
  EXPECT_EQ(JwkThumbprint(bj::object{{"kty", "XYZ"}}), "");
  EXPECT_EQ(JwkThumbprint(bj::object{{"kty", "RSA"}, {"n", 5}, {"e", "AQAB"}}), "");
}

class PublicKeyFromJwk : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ec_jwk_ = new bj::object(KeyPair::Generate("ES256").value().PublicJwk("ec"));
  }
  static void TearDownTestSuite() { delete ec_jwk_; }
  static std::string ErrorOf(const bj::object& jwk) {
    auto r = PublicKey::FromJwk(jwk);
    return r.ok() ? "<ok>" : r.error().message;
  }
  static bj::object* ec_jwk_;
};
bj::object* PublicKeyFromJwk::ec_jwk_ = nullptr;

TEST_F(PublicKeyFromJwk, AcceptsPublicEcKeyAndInfersAlg) {
  bj::object jwk = *ec_jwk_;
  jwk.erase("alg");
  auto key = PublicKey::FromJwk(jwk);
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ(key->alg(), "ES256");
  bj::object rsa = Rfc7638Jwk();
  rsa.erase("alg");
  auto rsa_key = PublicKey::FromJwk(rsa);
  ASSERT_TRUE(rsa_key.ok());
  EXPECT_EQ(rsa_key->alg(), "RS256");
}

TEST_F(PublicKeyFromJwk, RefusesPrivateMembers) {
  for (const char* member : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}) {
    bj::object jwk = *ec_jwk_;
    jwk[member] = "AAAA";
    EXPECT_NE(ErrorOf(jwk), "<ok>") << member;
  }
}

TEST_F(PublicKeyFromJwk, RefusesSymmetricAndUnknownKeyTypes) {
  EXPECT_NE(ErrorOf(bj::object{{"kty", "oct"}, {"alg", "HS256"}}), "<ok>");
  EXPECT_NE(ErrorOf(bj::object{{"kty", "oct"}, {"k", "c2VjcmV0"}}), "<ok>");
  EXPECT_NE(ErrorOf(bj::object{{"kty", "DSA"}}), "<ok>");
  EXPECT_NE(ErrorOf(bj::object{{"n", kRfc7638N}, {"e", "AQAB"}}), "<ok>");
  EXPECT_NE(ErrorOf(bj::object{{"kty", 1}}), "<ok>");
}

TEST_F(PublicKeyFromJwk, RefusesInconsistentAlgAndUse) {
  bj::object jwk = *ec_jwk_;
  jwk["alg"] = "RS256";
  EXPECT_NE(ErrorOf(jwk), "<ok>");
  jwk["alg"] = "HS256";
  EXPECT_NE(ErrorOf(jwk), "<ok>");
  jwk["alg"] = "none";
  EXPECT_NE(ErrorOf(jwk), "<ok>");
  jwk["alg"] = 256;
  EXPECT_NE(ErrorOf(jwk), "<ok>");
  jwk["alg"] = "ES256";
  jwk["use"] = "enc";
  EXPECT_NE(ErrorOf(jwk), "<ok>");
  bj::object rsa = Rfc7638Jwk();
  rsa["alg"] = "ES256";
  EXPECT_NE(ErrorOf(rsa), "<ok>");
}

TEST_F(PublicKeyFromJwk, RefusesPointNotOnCurve) {
  bj::object jwk = *ec_jwk_;
  std::string y = *Base64UrlDecode(jwk.at("y").as_string());
  y[31] = static_cast<char>(y[31] ^ 0x01);
  jwk["y"] = Base64UrlEncode(y);
  EXPECT_NE(ErrorOf(jwk), "<ok>");
  // The identity / all-zero point.
  jwk["x"] = Base64UrlEncode(std::string(32, '\0'));
  jwk["y"] = Base64UrlEncode(std::string(32, '\0'));
  EXPECT_NE(ErrorOf(jwk), "<ok>");
}

TEST_F(PublicKeyFromJwk, RefusesMalformedEcMembers) {
  bj::object jwk = *ec_jwk_;
  std::string x = *Base64UrlDecode(jwk.at("x").as_string());
  jwk["x"] = Base64UrlEncode(x.substr(1));  // shortened coordinate
  EXPECT_NE(ErrorOf(jwk), "<ok>");
  jwk = *ec_jwk_;
  jwk["crv"] = "P-384";
  EXPECT_NE(ErrorOf(jwk), "<ok>");
  jwk = *ec_jwk_;
  jwk["x"] = std::string(jwk.at("x").as_string()) + "=";
  EXPECT_NE(ErrorOf(jwk), "<ok>");
  jwk = *ec_jwk_;
  jwk.erase("y");
  EXPECT_NE(ErrorOf(jwk), "<ok>");
}

TEST_F(PublicKeyFromJwk, RefusesWeakRsa) {
  EVP_PKEY* rsa1024 = EVP_RSA_gen(1024);
  ASSERT_NE(rsa1024, nullptr);
  auto weak = KeyPair::FromPrivatePem(PemOf(rsa1024), "RS256");
  EXPECT_FALSE(weak.ok());
  EVP_PKEY_free(rsa1024);
  // A 1024-bit modulus built from the RFC key's first 128 bytes.
  std::string n = *Base64UrlDecode(kRfc7638N);
  bj::object jwk{{"kty", "RSA"}, {"n", Base64UrlEncode(n.substr(0, 127) + "\x01")}, {"e", "AQAB"}};
  EXPECT_NE(ErrorOf(jwk), "<ok>");
}

TEST_F(PublicKeyFromJwk, RefusesBadEd25519Members) {
  EXPECT_NE(ErrorOf(bj::object{{"kty", "OKP"}, {"crv", "X25519"}, {"x", kRfc8037X}}), "<ok>");
  EXPECT_NE(ErrorOf(bj::object{{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", "AAAA"}}), "<ok>");
  EXPECT_NE(
      ErrorOf(bj::object{{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", kRfc8037X}, {"alg", "ES256"}}),
      "<ok>");
}

}  // namespace
}  // namespace agentidp::crypto
