#include "domain/keys/keyring.hpp"
#include "crypto/encoding.hpp"
#include "crypto/jws.hpp"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

namespace agentidp::domain {
namespace {

// In-memory KeyStore: the keyring's rules are tested here; the real stores have their own
// contract tests.
class MemoryKeyStore final : public KeyStore {
 public:
  core::Status Insert(const SigningKey& key) override {
    keys.push_back(key);
    return core::Ok();
  }
  core::Status Update(const SigningKey& key) override {
    for (auto& k : keys)
      if (k.kid == key.kid) k = key;
    return core::Ok();
  }
  core::Result<std::vector<SigningKey>> List() override { return keys; }
  std::vector<SigningKey> keys;
};

const std::string kMaster(32, 'k');

std::string KidOfToken(const std::string& jwt) {
  auto header = crypto::Base64UrlDecode(jwt.substr(0, jwt.find('.')));
  return std::string(boost::json::parse(*header).as_object().at("kid").as_string());
}

size_t JwksSize(const KeySnapshot& s) {
  return boost::json::parse(s.jwks_json).as_object().at("keys").as_array().size();
}

TEST(Keyring, FirstStartCreatesOneSealedSigningKey) {
  core::ManualClock clock;
  MemoryKeyStore store;
  Keyring ring(store, clock, kMaster, {"ES256", 300, 3600});
  ASSERT_TRUE(ring.Initialize().ok());
  ASSERT_EQ(store.keys.size(), 1u);
  EXPECT_EQ(store.keys[0].alg, "ES256");
  EXPECT_EQ(store.keys[0].sealed_private_key.find("PRIVATE"), std::string::npos)
      << "private key is stored sealed, never as PEM";
  auto snap = ring.Snapshot();
  ASSERT_NE(snap->current, nullptr);
  EXPECT_EQ(JwksSize(*snap), 1u);
  EXPECT_EQ(snap->jwks_json.find("\"d\""), std::string::npos) << "public members only";
}

TEST(Keyring, WrongMasterKeyIsAClearStartupError) {
  core::ManualClock clock;
  MemoryKeyStore store;
  Keyring first(store, clock, kMaster, {});
  ASSERT_TRUE(first.Initialize().ok());
  Keyring other(store, clock, std::string(32, 'x'), {});
  auto st = other.Initialize();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("master key"), std::string::npos);
}

TEST(Keyring, RotationIsStagedThenSwitchesThenRetires) {
  core::ManualClock clock;
  MemoryKeyStore store;
  Keyring ring(store, clock, kMaster, {"ES256", 300, 3600});
  ASSERT_TRUE(ring.Initialize().ok());
  const std::string k1 = ring.Snapshot()->current->record.kid;
  auto k2 = ring.Rotate();
  ASSERT_TRUE(k2.ok());
  ASSERT_NE(*k2, k1);

  // Published at once, not yet signing.
  auto snap = ring.Snapshot();
  EXPECT_EQ(JwksSize(*snap), 2u);
  EXPECT_EQ(snap->current->record.kid, k1);
  EXPECT_EQ(KidOfToken(snap->current->signer->SignJwt("at+jwt", "{}")), k1);

  // After the staging delay the new key signs; the old one stays published.
  clock.Advance(301'000);
  ASSERT_TRUE(ring.Refresh().ok());
  snap = ring.Snapshot();
  EXPECT_EQ(snap->current->record.kid, *k2);
  EXPECT_EQ(JwksSize(*snap), 2u);
  EXPECT_NE(snap->FindPublic(k1), nullptr);

  // Once every token the old key signed has expired it leaves the JWKS.
  clock.Advance(3600'000 + 61'000);
  ASSERT_TRUE(ring.Refresh().ok());
  snap = ring.Snapshot();
  EXPECT_EQ(JwksSize(*snap), 1u);
  EXPECT_EQ(snap->FindPublic(k1), nullptr);
  EXPECT_EQ(snap->current->record.kid, *k2);
}

TEST(Keyring, AnotherProcessRotationIsPickedUpOnRefresh) {
  core::ManualClock clock;
  MemoryKeyStore store;
  Keyring server(store, clock, kMaster, {"RS256", 0, 3600});
  ASSERT_TRUE(server.Initialize().ok());
  Keyring cli(store, clock, kMaster, {"RS256", 0, 3600});
  ASSERT_TRUE(cli.Initialize().ok());
  auto k2 = cli.Rotate("EdDSA");
  ASSERT_TRUE(k2.ok());
  clock.Advance(1000);
  ASSERT_TRUE(server.Refresh().ok());
  EXPECT_EQ(server.Snapshot()->current->record.kid, *k2);
  EXPECT_EQ(server.Snapshot()->current->record.alg, "EdDSA");
}

TEST(MasterKey, DecodesHexAndBase64UrlOnly) {
  EXPECT_TRUE(DecodeMasterKey(std::string(64, 'a')).ok());
  EXPECT_TRUE(DecodeMasterKey(crypto::Base64UrlEncode(std::string(32, 'z'))).ok());
  EXPECT_FALSE(DecodeMasterKey("short").ok());
  EXPECT_FALSE(DecodeMasterKey(std::string(63, 'a')).ok());
}

}  // namespace
}  // namespace agentidp::domain
