#include "contract/backends.hpp"
#include "contract/fixtures.hpp"

namespace agentidp::contract {
namespace {

AGENTIDP_CONTRACT_SUITE(AgentKeyStoreContract);

domain::AgentKey MakeKey(const std::string& kid, const std::string& agent_id, int64_t created_at,
                         const std::string& status = "active") {
  domain::AgentKey key;
  key.kid = kid;
  key.agent_id = agent_id;
  key.alg = "EdDSA";
  key.public_jwk_json = R"({"kty":"OKP","crv":"Ed25519","x":")" + kid + R"("})";
  key.sealed_private_key = "sealed-" + kid;
  key.status = status;
  key.created_at = created_at;
  return key;
}

auto TieKey(const domain::AgentKey& k) {
  return std::tie(k.kid, k.agent_id, k.alg, k.public_jwk_json, k.sealed_private_key, k.status,
                  k.created_at);
}

TEST_P(AgentKeyStoreContract, InsertThenGetActiveFromAnotherHandle) {
  ASSERT_OK(store().orgs().Create(TestScope(), MakeOrg("org-1", "acme")));
  ASSERT_OK(store().agents().Create(TestScope(), MakeAgent("agent-1", "org-1", kT0)));
  const auto key = MakeKey("kid-1", "agent-1", kT0);
  ASSERT_OK(store().agent_keys().Insert(TestScope(), key));
  auto other = ConnectAnother();
  ASSERT_NE(other, nullptr);
  ASSERT_OK_AND_ASSIGN(auto got, other->agent_keys().GetActive(TestScope(), "agent-1"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(TieKey(*got), TieKey(key));
  ASSERT_OK_AND_ASSIGN(auto none, other->agent_keys().GetActive(TestScope(), "agent-2"));
  EXPECT_FALSE(none.has_value());
}

TEST_P(AgentKeyStoreContract, OneActiveKeyPerAgent) {
  ASSERT_OK(store().orgs().Create(TestScope(), MakeOrg("org-1", "acme")));
  ASSERT_OK(store().agents().Create(TestScope(), MakeAgent("agent-1", "org-1", kT0)));
  ASSERT_OK(store().agents().Create(TestScope(), MakeAgent("agent-2", "org-1", kT0)));
  ASSERT_OK(store().agent_keys().Insert(TestScope(), MakeKey("kid-1", "agent-1", kT0)));
  // A second node creating the same agent's first key at once loses with Conflict.
  auto other = ConnectAnother();
  ASSERT_NE(other, nullptr);
  auto second = other->agent_keys().Insert(TestScope(), MakeKey("kid-2", "agent-1", kT0 + 1));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().kind, core::Errc::kConflict);
  ASSERT_OK_AND_ASSIGN(auto active, store().agent_keys().GetActive(TestScope(), "agent-1"));
  EXPECT_EQ(active->kid, "kid-1");
  // Retired keys do not count; another agent is independent; a kid is unique.
  ASSERT_OK(
      store().agent_keys().Insert(TestScope(), MakeKey("kid-0", "agent-1", kT0 - 5, "retired")));
  ASSERT_OK(store().agent_keys().Insert(TestScope(), MakeKey("kid-3", "agent-2", kT0)));
  auto same_kid =
      store().agent_keys().Insert(TestScope(), MakeKey("kid-3", "agent-1", kT0, "retired"));
  ASSERT_FALSE(same_kid.ok());
  EXPECT_EQ(same_kid.error().kind, core::Errc::kConflict);
  ASSERT_OK_AND_ASSIGN(auto listed, store().agent_keys().ListByAgent(TestScope(), "agent-1"));
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].kid, "kid-0") << "oldest first";
  EXPECT_EQ(listed[1].kid, "kid-1");
}

TEST_P(AgentKeyStoreContract, RotateRetiresTheActiveKeyAndActivatesTheNewOne) {
  ASSERT_OK(store().orgs().Create(TestScope(), MakeOrg("org-1", "acme")));
  ASSERT_OK(store().agents().Create(TestScope(), MakeAgent("agent-1", "org-1", kT0)));
  ASSERT_OK(store().agents().Create(TestScope(), MakeAgent("agent-2", "org-1", kT0)));
  // A first rotation without any key just creates one.
  ASSERT_OK(store().agent_keys().Rotate(TestScope(), MakeKey("kid-1", "agent-1", kT0)));
  ASSERT_OK(store().agent_keys().Insert(TestScope(), MakeKey("kid-9", "agent-2", kT0)));
  ASSERT_OK(store().agent_keys().Rotate(TestScope(), MakeKey("kid-2", "agent-1", kT0 + 1)));
  auto other = ConnectAnother();
  ASSERT_NE(other, nullptr);
  ASSERT_OK_AND_ASSIGN(auto active, other->agent_keys().GetActive(TestScope(), "agent-1"));
  ASSERT_TRUE(active.has_value());
  EXPECT_EQ(active->kid, "kid-2");
  ASSERT_OK_AND_ASSIGN(auto listed, other->agent_keys().ListByAgent(TestScope(), "agent-1"));
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].kid, "kid-1");
  EXPECT_EQ(listed[0].status, "retired");
  EXPECT_EQ(listed[1].status, "active");
  // Another agent's key is untouched.
  ASSERT_OK_AND_ASSIGN(auto untouched, other->agent_keys().GetActive(TestScope(), "agent-2"));
  EXPECT_EQ(untouched->kid, "kid-9");
  // A taken kid fails the whole rotation: the active key stays active.
  auto taken = store().agent_keys().Rotate(TestScope(), MakeKey("kid-9", "agent-1", kT0 + 2));
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.error().kind, core::Errc::kConflict);
  ASSERT_OK_AND_ASSIGN(auto still, store().agent_keys().GetActive(TestScope(), "agent-1"));
  ASSERT_TRUE(still.has_value());
  EXPECT_EQ(still->kid, "kid-2");
}

TEST_P(AgentKeyStoreContract, KeyOfAnUnknownAgentIsRefused) {
  auto orphan = store().agent_keys().Insert(TestScope(), MakeKey("kid-1", "no-such-agent", kT0));
  EXPECT_FALSE(orphan.ok());
  ASSERT_OK_AND_ASSIGN(auto listed, store().agent_keys().ListByAgent(TestScope(), "no-such-agent"));
  EXPECT_TRUE(listed.empty());
}

}  // namespace
}  // namespace agentidp::contract
