#include "contract/backends.hpp"
#include "contract/fixtures.hpp"

namespace agentidp::contract {
namespace {

AGENTIDP_CONTRACT_SUITE(OrgStoreContract);

TEST_P(OrgStoreContract, CreateThenGetByIdAndBySlug) {
  const auto org = MakeOrg("org-1", "acme");
  ASSERT_OK(store().orgs().Create(TestScope(), org));

  ASSERT_OK_AND_ASSIGN(auto by_id, store().orgs().Get(TestScope(), "org-1"));
  ASSERT_TRUE(by_id.has_value());
  EXPECT_EQ(Tie(*by_id), Tie(org));

  ASSERT_OK_AND_ASSIGN(auto by_slug, store().orgs().GetBySlug(TestScope(), "acme"));
  ASSERT_TRUE(by_slug.has_value());
  EXPECT_EQ(Tie(*by_slug), Tie(org));
}

TEST_P(OrgStoreContract, MissingIsNulloptNotError) {
  ASSERT_OK_AND_ASSIGN(auto by_id, store().orgs().Get(TestScope(), "nope"));
  EXPECT_FALSE(by_id.has_value());
  ASSERT_OK_AND_ASSIGN(auto by_slug, store().orgs().GetBySlug(TestScope(), "nope"));
  EXPECT_FALSE(by_slug.has_value());
}

TEST_P(OrgStoreContract, UnlimitedAgentsRoundTrips) {
  auto org = MakeOrg("org-1", "acme");
  org.max_agents = -1;
  org.plan_tier = "enterprise";
  ASSERT_OK(store().orgs().Create(TestScope(), org));
  ASSERT_OK_AND_ASSIGN(auto got, store().orgs().Get(TestScope(), "org-1"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->max_agents, -1);
}

TEST_P(OrgStoreContract, DuplicateSlugIsConflict) {
  ASSERT_OK(store().orgs().Create(TestScope(), MakeOrg("org-1", "acme")));
  auto second = store().orgs().Create(TestScope(), MakeOrg("org-2", "acme"));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().kind, core::Errc::kConflict);
  EXPECT_EQ(second.error().code, "CONFLICT");
  ASSERT_OK_AND_ASSIGN(auto missing, store().orgs().Get(TestScope(), "org-2"));
  EXPECT_FALSE(missing.has_value());
}

TEST_P(OrgStoreContract, DuplicateIdIsConflict) {
  ASSERT_OK(store().orgs().Create(TestScope(), MakeOrg("org-1", "acme")));
  auto second = store().orgs().Create(TestScope(), MakeOrg("org-1", "other"));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().kind, core::Errc::kConflict);
}

TEST_P(OrgStoreContract, UpdateReplacesMutableFields) {
  ASSERT_OK(store().orgs().Create(TestScope(), MakeOrg("org-1", "acme")));
  auto org = MakeOrg("org-1", "acme-renamed");
  org.name = "Acme Renamed";
  org.plan_tier = "enterprise";
  org.max_agents = -1;
  org.status = "suspended";
  org.updated_at = kT0 + 500;
  ASSERT_OK(store().orgs().Update(TestScope(), org));
  auto other = ConnectAnother();
  ASSERT_NE(other, nullptr);
  ASSERT_OK_AND_ASSIGN(auto got, other->orgs().Get(TestScope(), "org-1"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(Tie(*got), Tie(org));
  ASSERT_OK_AND_ASSIGN(auto old_slug, other->orgs().GetBySlug(TestScope(), "acme"));
  EXPECT_FALSE(old_slug.has_value());
}

TEST_P(OrgStoreContract, UpdateMissingIsNotFoundAndSlugClashIsConflict) {
  auto missing = store().orgs().Update(TestScope(), MakeOrg("org-9", "ghost"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, core::Errc::kNotFound);
  ASSERT_OK(store().orgs().Create(TestScope(), MakeOrg("org-1", "acme")));
  ASSERT_OK(store().orgs().Create(TestScope(), MakeOrg("org-2", "globex")));
  auto clash = store().orgs().Update(TestScope(), MakeOrg("org-2", "acme"));
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.error().kind, core::Errc::kConflict);
  ASSERT_OK_AND_ASSIGN(auto unchanged, store().orgs().Get(TestScope(), "org-2"));
  EXPECT_EQ(unchanged->slug, "globex");
}

TEST_P(OrgStoreContract, ListNewestFirstPagedAndFiltered) {
  for (int i = 0; i < 5; ++i) {
    auto org = MakeOrg("org-" + std::to_string(i), "slug-" + std::to_string(i));
    org.created_at = kT0 + i;
    if (i == 1) org.status = "suspended";
    if (i == 2) org.status = "deleted";
    ASSERT_OK(store().orgs().Create(TestScope(), org));
  }
  ASSERT_OK_AND_ASSIGN(auto page1, store().orgs().List(TestScope(), {}, {1, 2}));
  EXPECT_EQ(page1.total, 4) << "deleted organizations are not listed by default";
  ASSERT_EQ(page1.data.size(), 2u);
  EXPECT_EQ(page1.data[0].organization_id, "org-4");
  EXPECT_EQ(page1.data[1].organization_id, "org-3");
  ASSERT_OK_AND_ASSIGN(auto page2, store().orgs().List(TestScope(), {}, {2, 2}));
  ASSERT_EQ(page2.data.size(), 2u);
  EXPECT_EQ(page2.data[0].organization_id, "org-1");
  EXPECT_EQ(page2.data[1].organization_id, "org-0");
  domain::OrgFilter deleted;
  deleted.status = "deleted";
  ASSERT_OK_AND_ASSIGN(auto gone, store().orgs().List(TestScope(), deleted, {}));
  ASSERT_EQ(gone.total, 1);
  EXPECT_EQ(gone.data[0].organization_id, "org-2");
  domain::OrgFilter one;
  one.organization_id = "org-3";
  ASSERT_OK_AND_ASSIGN(auto only, store().orgs().List(TestScope(), one, {}));
  ASSERT_EQ(only.total, 1);
  EXPECT_EQ(only.data[0].slug, "slug-3");
  ASSERT_OK_AND_ASSIGN(auto past_end, store().orgs().List(TestScope(), {}, {9, 2}));
  EXPECT_EQ(past_end.total, 4);
  EXPECT_TRUE(past_end.data.empty());
}

TEST_P(OrgStoreContract, MarkDeletedOnlyWithoutLiveAgents) {
  ASSERT_OK(store().orgs().Create(TestScope(), MakeOrg("org-1", "acme")));
  auto live = MakeAgent("agent-1", "org-1", kT0);
  auto suspended = MakeAgent("agent-2", "org-1", kT0);
  suspended.status = "suspended";
  auto gone = MakeAgent("agent-3", "org-1", kT0);
  gone.status = "decommissioned";
  ASSERT_OK(store().agents().Create(TestScope(), live));
  ASSERT_OK(store().agents().Create(TestScope(), suspended));
  ASSERT_OK(store().agents().Create(TestScope(), gone));

  ASSERT_OK_AND_ASSIGN(bool refused,
                       store().orgs().MarkDeletedIfEmpty(TestScope(), "org-1", kT0 + 10));
  EXPECT_FALSE(refused);
  ASSERT_OK_AND_ASSIGN(auto still, store().orgs().Get(TestScope(), "org-1"));
  EXPECT_EQ(still->status, "active");

  live.status = "decommissioned";
  ASSERT_OK(store().agents().Update(TestScope(), live));
  ASSERT_OK_AND_ASSIGN(bool refused_again,
                       store().orgs().MarkDeletedIfEmpty(TestScope(), "org-1", kT0 + 11));
  EXPECT_FALSE(refused_again) << "a suspended agent is still live";

  suspended.status = "decommissioned";
  ASSERT_OK(store().agents().Update(TestScope(), suspended));
  ASSERT_OK_AND_ASSIGN(bool deleted,
                       store().orgs().MarkDeletedIfEmpty(TestScope(), "org-1", kT0 + 12));
  EXPECT_TRUE(deleted);
  ASSERT_OK_AND_ASSIGN(auto after, store().orgs().Get(TestScope(), "org-1"));
  ASSERT_TRUE(after.has_value()) << "soft delete keeps the row";
  EXPECT_EQ(after->status, "deleted");
  EXPECT_EQ(after->updated_at, kT0 + 12);

  auto missing = store().orgs().MarkDeletedIfEmpty(TestScope(), "org-9", kT0);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, core::Errc::kNotFound);
}

TEST_P(OrgStoreContract, EmptyOrganizationIsDeletedAndAgentsElsewhereDoNotCount) {
  ASSERT_OK(store().orgs().Create(TestScope(), MakeOrg("org-1", "acme")));
  ASSERT_OK(store().orgs().Create(TestScope(), MakeOrg("org-2", "globex")));
  ASSERT_OK(store().agents().Create(TestScope(), MakeAgent("agent-1", "org-2", kT0)));
  ASSERT_OK_AND_ASSIGN(bool deleted,
                       store().orgs().MarkDeletedIfEmpty(TestScope(), "org-1", kT0 + 1));
  EXPECT_TRUE(deleted);
}

}  // namespace
}  // namespace agentidp::contract
