#include "domain/did/did_service.hpp"

#include "crypto/encoding.hpp"
#include "crypto/jws.hpp"
#include "memory_store.hpp"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace agentidp::domain {
namespace {

using testing::MemoryAgentKeyStore;
using testing::MemoryKeyStore;

const std::string kMaster(32, 'k');
constexpr const char* kIssuer = "https://idp.example.com:8443";

Agent MakeAgent(const std::string& id = "0b7f1a52-6a3c-4c1e-9d55-3f0e2d1c4b10") {
  Agent a;
  a.agent_id = id;
  a.organization_id = "00000000-0000-4000-8000-000000000001";
  a.email = "screener@example.com";
  a.agent_type = "screener";
  a.version = "1.2.3";
  a.capabilities = {"resumes:read"};
  a.deployment_env = "production";
  a.created_at = 1'774'688'400'000;
  a.updated_at = a.created_at + 1000;
  return a;
}

DidService MakeService(MemoryAgentKeyStore& keys, const core::Clock& clock,
                       const std::string& alg = "EdDSA") {
  DidSettings s;
  s.issuer = kIssuer;
  s.did_base = DidWebFromUrl(kIssuer);
  s.agent_key_alg = alg;
  return DidService(keys, clock, kMaster, s);
}

// No private JWK member anywhere in a document, however deeply nested.
void ExpectNoPrivateMembers(const boost::json::value& v) {
  if (v.is_object()) {
    for (const auto& [k, child] : v.as_object()) {
      for (const char* priv : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
        EXPECT_NE(std::string(k), priv) << boost::json::serialize(v);
      ExpectNoPrivateMembers(child);
    }
  } else if (v.is_array()) {
    for (const auto& child : v.as_array()) ExpectNoPrivateMembers(child);
  }
}

TEST(DidWeb, EncodesThePortAndPath) {
  EXPECT_EQ(DidWebFromUrl("https://idp.example.com"), "did:web:idp.example.com");
  EXPECT_EQ(DidWebFromUrl("http://127.0.0.1:3000"), "did:web:127.0.0.1%3A3000");
  EXPECT_EQ(DidWebFromUrl("https://example.com:8443/idp/"), "did:web:example.com%3A8443:idp");
  EXPECT_EQ(AgentDid("did:web:127.0.0.1%3A3000", "abc"), "did:web:127.0.0.1%3A3000:agents:abc");
  EXPECT_EQ(DidTimestamp(1'774'688'400'123), "2026-03-28T09:00:00Z");
}

TEST(DidService, AgentKeyIsCreatedOnceSealedAndPublishedPublicOnly) {
  core::ManualClock clock;
  MemoryAgentKeyStore keys;
  auto dids = MakeService(keys, clock);
  const Agent agent = MakeAgent();
  auto key = dids.KeyFor(agent);
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ(key->alg, "EdDSA");
  EXPECT_EQ(key->sealed_private_key.find("PRIVATE"), std::string::npos);
  auto again = dids.KeyFor(agent);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->kid, key->kid) << "one key per agent, reused";
  EXPECT_EQ(keys.keys.size(), 1u);

  auto doc = dids.AgentDocument(agent, *key);
  const std::string did = "did:web:idp.example.com%3A8443:agents:" + agent.agent_id;
  EXPECT_EQ(doc.at("id").as_string(), did);
  const auto& vm = doc.at("verificationMethod").as_array().at(0).as_object();
  EXPECT_EQ(vm.at("id").as_string(), did + "#" + key->kid);
  EXPECT_EQ(vm.at("type").as_string(), "JsonWebKey2020");
  EXPECT_EQ(vm.at("controller").as_string(), did);
  EXPECT_EQ(doc.at("assertionMethod").as_array().at(0).as_string(), did + "#" + key->kid);
  EXPECT_EQ(doc.at("authentication").as_array().at(0).as_string(), did + "#" + key->kid);
  ExpectNoPrivateMembers(doc);
  ExpectNoPrivateMembers(dids.Card(agent, *key));
  ExpectNoPrivateMembers(dids.Resolution(agent, &*key));
  // The published key is the agent key: its thumbprint is the kid.
  EXPECT_EQ(crypto::JwkThumbprint(vm.at("publicKeyJwk").as_object()), key->kid);
}

// Another node inserted the agent's first key between this node's read and its insert.
class RacingKeyStore final : public AgentKeyStore {
 public:
  explicit RacingKeyStore(MemoryAgentKeyStore& inner) : inner_(inner) {}
  core::Status Insert(const TenantScope& scope, const AgentKey& key) override {
    return inner_.Insert(scope, key);
  }
  core::Result<std::optional<AgentKey>> GetActive(const TenantScope& scope,
                                                  const std::string& agent_id) override {
    if (first_read_) {
      first_read_ = false;
      return std::optional<AgentKey>();  // read before the other node's insert
    }
    return inner_.GetActive(scope, agent_id);
  }
  core::Result<std::vector<AgentKey>> ListByAgent(const TenantScope& scope,
                                                  const std::string& agent_id) override {
    return inner_.ListByAgent(scope, agent_id);
  }
  core::Status Rotate(const TenantScope& scope, const AgentKey& key) override {
    return inner_.Rotate(scope, key);
  }

 private:
  MemoryAgentKeyStore& inner_;
  bool first_read_ = true;
};

TEST(DidService, ALostRaceUsesTheWinnersKey) {
  core::ManualClock clock;
  MemoryAgentKeyStore keys;
  auto first = MakeService(keys, clock);
  const Agent agent = MakeAgent();
  auto winner = first.KeyFor(agent);
  ASSERT_TRUE(winner.ok());
  RacingKeyStore racing(keys);
  DidSettings s = first.settings();
  DidService second(racing, clock, kMaster, s);
  auto loser = second.KeyFor(agent);
  ASSERT_TRUE(loser.ok()) << loser.error().message;
  EXPECT_EQ(loser->kid, winner->kid);
  EXPECT_EQ(keys.keys.size(), 1u);
}

TEST(DidService, RotationRetiresTheKeyAndTheDocumentAndCardsFollow) {
  core::ManualClock clock;
  MemoryAgentKeyStore keys;
  auto dids = MakeService(keys, clock);
  const Agent agent = MakeAgent();
  // Without a key yet: the rotation creates the first one.
  auto first = dids.RotateKey(agent);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->previous_kid, "");
  clock.Advance(1000);
  auto second = dids.RotateKey(agent);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->previous_kid, first->key.kid);
  EXPECT_NE(second->key.kid, first->key.kid);
  auto active = dids.KeyFor(agent);
  ASSERT_TRUE(active.ok());
  EXPECT_EQ(active->kid, second->key.kid);
  ASSERT_EQ(keys.keys.size(), 2u);
  EXPECT_EQ(keys.keys[0].status, "retired");
  EXPECT_EQ(keys.keys[1].status, "active");
  auto doc = dids.AgentDocument(agent, *active);
  const auto& methods = doc.at("verificationMethod").as_array();
  ASSERT_EQ(methods.size(), 1u);
  EXPECT_EQ(crypto::JwkThumbprint(methods[0].as_object().at("publicKeyJwk").as_object()),
            second->key.kid);
  auto card = dids.SignedCard(agent, *active);
  ASSERT_TRUE(card.ok()) << card.error().message;
  auto header = crypto::DecodeJwtUnverified(*card);
  ASSERT_TRUE(header.ok());
  const std::string kid(header->header.at("kid").as_string());
  EXPECT_EQ(kid.substr(kid.find('#') + 1), second->key.kid);
}

TEST(DidService, SignedCardVerifiesWithThePublishedKey) {
  for (const char* alg : {"EdDSA", "ES256"}) {
    core::ManualClock clock;
    MemoryAgentKeyStore keys;
    auto dids = MakeService(keys, clock, alg);
    const Agent agent = MakeAgent();
    auto key = dids.KeyFor(agent);
    ASSERT_TRUE(key.ok());
    auto jwt = dids.SignedCard(agent, *key);
    ASSERT_TRUE(jwt.ok()) << jwt.error().message;
    auto doc = dids.AgentDocument(agent, *key);
    const auto& vm = doc.at("verificationMethod").as_array().at(0).as_object();
    auto pub = crypto::PublicKey::FromJwk(vm.at("publicKeyJwk").as_object());
    ASSERT_TRUE(pub.ok()) << pub.error().message;
    crypto::JwtVerifyOptions opts;
    opts.allowed_algs = {alg};
    opts.allowed_typs = {"JWT"};
    opts.issuer = std::string(doc.at("id").as_string());
    opts.now_s = clock.NowSeconds();
    opts.require_exp = false;
    auto verified = crypto::VerifyJwt(
        *jwt,
        [&](std::string_view kid, std::string_view) -> const crypto::PublicKey* {
          return kid == vm.at("id").as_string() ? &*pub : nullptr;
        },
        opts);
    ASSERT_TRUE(verified.ok()) << alg << ": " << verified.error().message;
    EXPECT_EQ(verified->claims.at("card").as_object().at("id").as_string(), agent.agent_id);
    // A different agent's key does not verify it.
    auto other = dids.KeyFor(MakeAgent("9f0e2d1c-4b10-4c1e-9d55-0b7f1a526a3c"));
    ASSERT_TRUE(other.ok());
    auto other_pub =
        crypto::PublicKey::FromJwk(boost::json::parse(other->public_jwk_json).as_object());
    ASSERT_TRUE(other_pub.ok());
    auto wrong = crypto::VerifyJwt(
        *jwt, [&](std::string_view, std::string_view) { return &*other_pub; }, opts);
    EXPECT_FALSE(wrong.ok());
  }
}

TEST(DidService, CardNamesOnlyPublicAgentsByEmail) {
  core::ManualClock clock;
  MemoryAgentKeyStore keys;
  auto dids = MakeService(keys, clock);
  Agent agent = MakeAgent();
  auto key = dids.KeyFor(agent);
  ASSERT_TRUE(key.ok());
  auto hidden = boost::json::serialize(dids.Card(agent, *key));
  EXPECT_EQ(hidden.find(agent.email), std::string::npos) << hidden;
  EXPECT_EQ(dids.Card(agent, *key).at("name").as_string(), agent.agent_id);
  agent.is_public = true;
  EXPECT_EQ(dids.Card(agent, *key).at("name").as_string(), agent.email);
}

TEST(DidService, SealedKeyIsBoundToItsAgent) {
  core::ManualClock clock;
  MemoryAgentKeyStore keys;
  auto dids = MakeService(keys, clock);
  const Agent agent = MakeAgent();
  auto key = dids.KeyFor(agent);
  ASSERT_TRUE(key.ok());
  // The same sealed key presented for another agent does not open.
  Agent other = MakeAgent("9f0e2d1c-4b10-4c1e-9d55-0b7f1a526a3c");
  EXPECT_FALSE(dids.SignedCard(other, *key).ok());
}

TEST(DidService, ResolutionOfADecommissionedAgentIsDeactivated) {
  core::ManualClock clock;
  MemoryAgentKeyStore keys;
  auto dids = MakeService(keys, clock);
  Agent agent = MakeAgent();
  auto key = dids.KeyFor(agent);
  ASSERT_TRUE(key.ok());
  auto live = dids.Resolution(agent, &*key);
  EXPECT_FALSE(live.at("didDocumentMetadata").as_object().at("deactivated").as_bool());
  EXPECT_EQ(live.at("didDocumentMetadata").as_object().at("created").as_string(),
            "2026-03-28T09:00:00Z");
  EXPECT_EQ(live.at("didResolutionMetadata").as_object().at("contentType").as_string(),
            kDidContentType);
  agent.status = "decommissioned";
  auto dead = dids.Resolution(agent, nullptr);
  EXPECT_TRUE(dead.at("didDocumentMetadata").as_object().at("deactivated").as_bool());
  EXPECT_FALSE(dead.at("didDocument").as_object().contains("verificationMethod"));
}

TEST(DidService, InstanceDocumentListsEveryPublishedSigningKey) {
  core::ManualClock clock;
  MemoryKeyStore store;
  Keyring ring(store, clock, kMaster, {"ES256", 300, 3600});
  ASSERT_TRUE(ring.Initialize().ok());
  ASSERT_TRUE(ring.Rotate("EdDSA").ok());
  MemoryAgentKeyStore keys;
  auto dids = MakeService(keys, clock);
  auto doc = dids.InstanceDocument(*ring.Snapshot());
  EXPECT_EQ(doc.at("id").as_string(), "did:web:idp.example.com%3A8443");
  const auto& vms = doc.at("verificationMethod").as_array();
  ASSERT_EQ(vms.size(), 2u);
  for (const auto& vm : vms) {
    const auto& jwk = vm.at("publicKeyJwk").as_object();
    EXPECT_EQ(vm.at("id").as_string(),
              "did:web:idp.example.com%3A8443#" + std::string(jwk.at("kid").as_string()));
    EXPECT_EQ(crypto::JwkThumbprint(jwk), jwk.at("kid").as_string());
  }
  ExpectNoPrivateMembers(doc);
  // The key that signs tokens is among them.
  const std::string signing = ring.Snapshot()->current->record.kid;
  bool found = false;
  for (const auto& vm : vms)
    found = found || vm.at("publicKeyJwk").at("kid").as_string() == signing;
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace agentidp::domain
