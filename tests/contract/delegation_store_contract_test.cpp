#include "contract/backends.hpp"
#include "contract/fixtures.hpp"

namespace agentidp::contract {
namespace {

domain::Delegation MakeDelegation(const std::string& chain_id, const std::string& parent = "") {
  domain::Delegation d;
  d.chain_id = chain_id;
  d.parent_chain_id = parent;
  d.organization_id = "org-1";
  d.delegator_agent_id = "a-1";
  d.delegatee_agent_id = "a-2";
  d.scopes = "agents:read tokens:read";
  d.depth = parent.empty() ? 1 : 2;
  d.token_jti = "jti-" + chain_id;
  d.created_at = kT0;
  d.expires_at = kT0 + 600'000;
  return d;
}

auto Tie(const domain::Delegation& d) {
  return std::tie(d.chain_id, d.parent_chain_id, d.organization_id, d.delegator_agent_id,
                  d.delegatee_agent_id, d.scopes, d.depth, d.token_jti, d.created_at, d.expires_at,
                  d.revoked_at);
}

AGENTIDP_CONTRACT_SUITE(DelegationStoreContract);

TEST_P(DelegationStoreContract, CreateGetRoundTrips) {
  auto root = MakeDelegation("c-1");
  auto child = MakeDelegation("c-2", "c-1");
  ASSERT_OK(store().delegations().Create(TestScope(), root));
  ASSERT_OK(store().delegations().Create(TestScope(), child));
  ASSERT_OK_AND_ASSIGN(auto got, store().delegations().Get(TestScope(), "c-2"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(Tie(*got), Tie(child));
  ASSERT_OK_AND_ASSIGN(auto missing, store().delegations().Get(TestScope(), "nope"));
  EXPECT_FALSE(missing.has_value());
}

TEST_P(DelegationStoreContract, DuplicateChainIsConflict) {
  ASSERT_OK(store().delegations().Create(TestScope(), MakeDelegation("c-1")));
  auto again = store().delegations().Create(TestScope(), MakeDelegation("c-1"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, core::Errc::kConflict);
}

TEST_P(DelegationStoreContract, MarkRevokedOnceKeepsTheFirstTime) {
  ASSERT_OK(store().delegations().Create(TestScope(), MakeDelegation("c-1")));
  ASSERT_OK_AND_ASSIGN(bool first, store().delegations().MarkRevoked(TestScope(), "c-1", kT0 + 5));
  EXPECT_TRUE(first);
  ASSERT_OK_AND_ASSIGN(bool second, store().delegations().MarkRevoked(TestScope(), "c-1", kT0 + 9));
  EXPECT_FALSE(second);
  ASSERT_OK_AND_ASSIGN(bool unknown, store().delegations().MarkRevoked(TestScope(), "nope", kT0));
  EXPECT_FALSE(unknown);
  ASSERT_OK_AND_ASSIGN(auto got, store().delegations().Get(TestScope(), "c-1"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->revoked_at, kT0 + 5);
}

}  // namespace
}  // namespace agentidp::contract
