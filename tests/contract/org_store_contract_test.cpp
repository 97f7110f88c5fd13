#include "contract/backends.hpp"
#include "contract/fixtures.hpp"

namespace agentidp::contract {
namespace {

AGENTIDP_CONTRACT_SUITE(OrgStoreContract);

TEST_P(OrgStoreContract, CreateThenGetByIdAndBySlug) {
  const auto org = MakeOrg("org-1", "acme");
  ASSERT_OK(store().orgs().Create(org));

  ASSERT_OK_AND_ASSIGN(auto by_id, store().orgs().Get("org-1"));
  ASSERT_TRUE(by_id.has_value());
  EXPECT_EQ(Tie(*by_id), Tie(org));

  ASSERT_OK_AND_ASSIGN(auto by_slug, store().orgs().GetBySlug("acme"));
  ASSERT_TRUE(by_slug.has_value());
  EXPECT_EQ(Tie(*by_slug), Tie(org));
}

TEST_P(OrgStoreContract, MissingIsNulloptNotError) {
  ASSERT_OK_AND_ASSIGN(auto by_id, store().orgs().Get("nope"));
  EXPECT_FALSE(by_id.has_value());
  ASSERT_OK_AND_ASSIGN(auto by_slug, store().orgs().GetBySlug("nope"));
  EXPECT_FALSE(by_slug.has_value());
}

TEST_P(OrgStoreContract, UnlimitedAgentsRoundTrips) {
  auto org = MakeOrg("org-1", "acme");
  org.max_agents = -1;
  org.plan_tier = "enterprise";
  ASSERT_OK(store().orgs().Create(org));
  ASSERT_OK_AND_ASSIGN(auto got, store().orgs().Get("org-1"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->max_agents, -1);
}

TEST_P(OrgStoreContract, DuplicateSlugIsConflict) {
  ASSERT_OK(store().orgs().Create(MakeOrg("org-1", "acme")));
  auto second = store().orgs().Create(MakeOrg("org-2", "acme"));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().kind, core::Errc::kConflict);
  EXPECT_EQ(second.error().code, "CONFLICT");
  ASSERT_OK_AND_ASSIGN(auto missing, store().orgs().Get("org-2"));
  EXPECT_FALSE(missing.has_value());
}

TEST_P(OrgStoreContract, DuplicateIdIsConflict) {
  ASSERT_OK(store().orgs().Create(MakeOrg("org-1", "acme")));
  auto second = store().orgs().Create(MakeOrg("org-1", "other"));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().kind, core::Errc::kConflict);
}

}  // namespace
}  // namespace agentidp::contract
