#include "contract/backends.hpp"
#include "contract/fixtures.hpp"

#include <algorithm>
#include <functional>

namespace agentidp::contract {
namespace {

class AgentStoreContract : public StoreContract {
 protected:
  void SetUp() override {
    StoreContract::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_OK(store().orgs().Create(TestScope(), MakeOrg("org-1", "one")));
    ASSERT_OK(store().orgs().Create(TestScope(), MakeOrg("org-2", "two")));
  }

  std::vector<std::string> Ids(const domain::PageOf<domain::Agent>& page) {
    std::vector<std::string> ids;
    for (const auto& agent : page.data) ids.push_back(agent.agent_id);
    return ids;
  }
};
INSTANTIATE_TEST_SUITE_P(Backends, AgentStoreContract, ::testing::ValuesIn(AllBackends()),
                         BackendName);

TEST_P(AgentStoreContract, CreateGetRoundTripsEveryField) {
  auto agent = MakeAgent("a-1", "org-1", kT0);
  agent.capabilities = {"resumes:read", "quote\"and\\slash:ü", "x:y"};
  agent.role = "admin";
  agent.is_public = true;
  agent.updated_at = kT0 + 5;
  ASSERT_OK(store().agents().Create(TestScope(), agent));
  ASSERT_OK_AND_ASSIGN(auto got, store().agents().Get(TestScope(), "a-1"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(Tie(*got), Tie(agent));
}

TEST_P(AgentStoreContract, EmptyCapabilitiesRoundTrip) {
  auto agent = MakeAgent("a-1", "org-1", kT0);
  agent.capabilities.clear();
  ASSERT_OK(store().agents().Create(TestScope(), agent));
  ASSERT_OK_AND_ASSIGN(auto got, store().agents().Get(TestScope(), "a-1"));
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->capabilities.empty());
}

TEST_P(AgentStoreContract, MissingIsNullopt) {
  ASSERT_OK_AND_ASSIGN(auto got, store().agents().Get(TestScope(), "nope"));
  EXPECT_FALSE(got.has_value());
}

TEST_P(AgentStoreContract, DuplicateEmailIsConflictCaseInsensitively) {
  auto first = MakeAgent("a-1", "org-1", kT0);
  first.email = "Bot@Example.com";
  ASSERT_OK(store().agents().Create(TestScope(), first));
  auto second = MakeAgent("a-2", "org-2", kT0);
  second.email = "bot@EXAMPLE.COM";
  auto created = store().agents().Create(TestScope(), second);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().kind, core::Errc::kConflict);
  EXPECT_EQ(created.error().code, "CONFLICT");
  ASSERT_OK_AND_ASSIGN(auto got, store().agents().Get(TestScope(), "a-2"));
  EXPECT_FALSE(got.has_value());
}

TEST_P(AgentStoreContract, DuplicateIdIsConflict) {
  ASSERT_OK(store().agents().Create(TestScope(), MakeAgent("a-1", "org-1", kT0)));
  auto again = MakeAgent("a-1", "org-1", kT0);
  again.email = "other@example.com";
  auto created = store().agents().Create(TestScope(), again);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().kind, core::Errc::kConflict);
}

TEST_P(AgentStoreContract, UpdateReplacesMutableFields) {
  ASSERT_OK(store().agents().Create(TestScope(), MakeAgent("a-1", "org-1", kT0)));
  auto changed = MakeAgent("a-1", "org-2", kT0);
  changed.email = "renamed@example.com";
  changed.agent_type = "router";
  changed.version = "2.1.0";
  changed.capabilities = {"a:b"};
  changed.owner = "team-b";
  changed.deployment_env = "staging";
  changed.status = "suspended";
  changed.role = "admin";
  changed.is_public = true;
  changed.updated_at = kT0 + 1000;
  ASSERT_OK(store().agents().Update(TestScope(), changed));
  ASSERT_OK_AND_ASSIGN(auto got, store().agents().Get(TestScope(), "a-1"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(Tie(*got), Tie(changed));
}

TEST_P(AgentStoreContract, UpdateKeepsCreatedAt) {
  ASSERT_OK(store().agents().Create(TestScope(), MakeAgent("a-1", "org-1", kT0)));
  auto changed = MakeAgent("a-1", "org-1", kT0 + 999);
  ASSERT_OK(store().agents().Update(TestScope(), changed));
  ASSERT_OK_AND_ASSIGN(auto got, store().agents().Get(TestScope(), "a-1"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->created_at, kT0);
  EXPECT_EQ(got->updated_at, kT0 + 999);
}

TEST_P(AgentStoreContract, UpdateToTakenEmailIsConflict) {
  ASSERT_OK(store().agents().Create(TestScope(), MakeAgent("a-1", "org-1", kT0)));
  ASSERT_OK(store().agents().Create(TestScope(), MakeAgent("a-2", "org-1", kT0)));
  auto changed = MakeAgent("a-2", "org-1", kT0);
  changed.email = "A-1@AGENTS.example.com";
  auto updated = store().agents().Update(TestScope(), changed);
  ASSERT_FALSE(updated.ok());
  EXPECT_EQ(updated.error().kind, core::Errc::kConflict);
  ASSERT_OK_AND_ASSIGN(auto got, store().agents().Get(TestScope(), "a-2"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->email, "a-2@agents.example.com");
}

TEST_P(AgentStoreContract, UpdateOfOwnEmailInOtherCaseIsAllowed) {
  ASSERT_OK(store().agents().Create(TestScope(), MakeAgent("a-1", "org-1", kT0)));
  auto changed = MakeAgent("a-1", "org-1", kT0);
  changed.email = "A-1@agents.example.com";
  ASSERT_OK(store().agents().Update(TestScope(), changed));
}

TEST_P(AgentStoreContract, UpdateOfMissingAgentIsNotFound) {
  auto updated = store().agents().Update(TestScope(), MakeAgent("ghost", "org-1", kT0));
  ASSERT_FALSE(updated.ok());
  EXPECT_EQ(updated.error().kind, core::Errc::kNotFound);
}

TEST_P(AgentStoreContract, ListIsNewestFirstWithIdTieBreak) {
  ASSERT_OK(store().agents().Create(TestScope(), MakeAgent("a-old", "org-1", kT0)));
  ASSERT_OK(store().agents().Create(TestScope(), MakeAgent("a-new", "org-1", kT0 + 2000)));
  ASSERT_OK(store().agents().Create(TestScope(), MakeAgent("a-mid-1", "org-1", kT0 + 1000)));
  ASSERT_OK(store().agents().Create(TestScope(), MakeAgent("a-mid-2", "org-1", kT0 + 1000)));
  ASSERT_OK_AND_ASSIGN(auto page, store().agents().List(TestScope(), {}, {1, 20}));
  EXPECT_EQ(page.total, 4);
  EXPECT_EQ(Ids(page), (std::vector<std::string>{"a-new", "a-mid-2", "a-mid-1", "a-old"}));
}

TEST_P(AgentStoreContract, ListFiltersByEachField) {
  auto a1 = MakeAgent("a-1", "org-1", kT0 + 1);
  auto a2 = MakeAgent("a-2", "org-1", kT0 + 2);
  a2.status = "suspended";
  a2.agent_type = "router";
  auto a3 = MakeAgent("a-3", "org-2", kT0 + 3);
  a3.owner = "team-b";
  a3.agent_type = "router";
  auto a4 = MakeAgent("a-4", "org-2", kT0 + 4);
  a4.status = "decommissioned";
  a4.owner = "team-b";
  for (const auto& agent : {a1, a2, a3, a4}) ASSERT_OK(store().agents().Create(TestScope(), agent));

  auto list = [&](const std::function<void(domain::AgentFilter&)>& set_filter) {
    domain::AgentFilter filter;
    set_filter(filter);
    auto page = store().agents().List(TestScope(), filter, {1, 20});
    EXPECT_TRUE(page.ok());
    return page.ok() ? std::make_pair(Ids(*page), page->total)
                     : std::make_pair(std::vector<std::string>{}, int64_t{-1});
  };
  using Ids_ = std::vector<std::string>;
  EXPECT_EQ(list([](auto&) {}), std::make_pair(Ids_{"a-4", "a-3", "a-2", "a-1"}, int64_t{4}));
  EXPECT_EQ(list([](auto& f) { f.organization_id = "org-1"; }),
            std::make_pair(Ids_{"a-2", "a-1"}, int64_t{2}));
  EXPECT_EQ(list([](auto& f) { f.status = "suspended"; }), std::make_pair(Ids_{"a-2"}, int64_t{1}));
  EXPECT_EQ(list([](auto& f) { f.agent_type = "router"; }),
            std::make_pair(Ids_{"a-3", "a-2"}, int64_t{2}));
  EXPECT_EQ(list([](auto& f) { f.owner = "team-b"; }),
            std::make_pair(Ids_{"a-4", "a-3"}, int64_t{2}));
  EXPECT_EQ(list([](auto& f) {
              f.organization_id = "org-2";
              f.status = "active";
              f.agent_type = "router";
              f.owner = "team-b";
            }),
            std::make_pair(Ids_{"a-3"}, int64_t{1}));
  EXPECT_EQ(list([](auto& f) { f.organization_id = "org-3"; }), std::make_pair(Ids_{}, int64_t{0}));
}

TEST_P(AgentStoreContract, ListPaginatesWithTotals) {
  for (int i = 0; i < 25; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "a-%02d", i);
    ASSERT_OK(store().agents().Create(TestScope(),
                                      MakeAgent(id, i % 5 == 0 ? "org-2" : "org-1", kT0 + i)));
  }
  std::vector<std::string> seen;
  for (int page_number = 1; page_number <= 3; ++page_number) {
    ASSERT_OK_AND_ASSIGN(auto page, store().agents().List(TestScope(), {}, {page_number, 10}));
    EXPECT_EQ(page.total, 25);
    EXPECT_EQ(page.data.size(), page_number < 3 ? 10u : 5u);
    for (const auto& agent : page.data) seen.push_back(agent.agent_id);
  }
  ASSERT_EQ(seen.size(), 25u);
  EXPECT_EQ(seen.front(), "a-24");
  EXPECT_EQ(seen.back(), "a-00");
  EXPECT_TRUE(std::is_sorted(seen.rbegin(), seen.rend()));

  ASSERT_OK_AND_ASSIGN(auto beyond, store().agents().List(TestScope(), {}, {4, 10}));
  EXPECT_TRUE(beyond.data.empty());
  EXPECT_EQ(beyond.total, 25);

  domain::AgentFilter org_1;
  org_1.organization_id = "org-1";
  ASSERT_OK_AND_ASSIGN(auto filtered, store().agents().List(TestScope(), org_1, {2, 15}));
  EXPECT_EQ(filtered.total, 20);
  EXPECT_EQ(filtered.data.size(), 5u);
}

TEST_P(AgentStoreContract, CountLiveIgnoresDecommissionedAndOtherOrganizations) {
  auto active = MakeAgent("a-1", "org-1", kT0);
  auto suspended = MakeAgent("a-2", "org-1", kT0);
  suspended.status = "suspended";
  auto gone = MakeAgent("a-3", "org-1", kT0);
  gone.status = "decommissioned";
  auto elsewhere = MakeAgent("a-4", "org-2", kT0);
  for (const auto& agent : {active, suspended, gone, elsewhere}) {
    ASSERT_OK(store().agents().Create(TestScope(), agent));
  }
  ASSERT_OK_AND_ASSIGN(int64_t live, store().agents().CountLive(TestScope(), "org-1"));
  EXPECT_EQ(live, 2);
  ASSERT_OK_AND_ASSIGN(int64_t none, store().agents().CountLive(TestScope(), "org-3"));
  EXPECT_EQ(none, 0);

  auto decommission = active;
  decommission.status = "decommissioned";
  ASSERT_OK(store().agents().Update(TestScope(), decommission));
  ASSERT_OK_AND_ASSIGN(live, store().agents().CountLive(TestScope(), "org-1"));
  EXPECT_EQ(live, 1);
}

}  // namespace
}  // namespace agentidp::contract
