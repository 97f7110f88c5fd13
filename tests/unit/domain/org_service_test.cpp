#include "domain/orgs/org_service.hpp"

#include "memory_store.hpp"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

namespace agentidp::domain {
namespace {

using testing::MemoryStore;

constexpr const char* kSystemOrg = "00000000-0000-4000-8000-000000000001";
constexpr const char* kOrgA = "00000000-0000-4000-8000-00000000000a";
constexpr const char* kOrgB = "00000000-0000-4000-8000-00000000000b";

boost::json::object Obj(const char* json) {
  return boost::json::parse(json).as_object();
}

std::string Uuid(int n) {
  char buf[37];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-9000-%012d", n);
  return buf;
}

Principal SystemAdmin() {
  Principal p;
  p.agent_id = Uuid(999);
  p.organization_id = kSystemOrg;
  p.cross_tenant = true;
  for (const char* s : {"agents:read", "agents:write", "tokens:read", "audit:read", "admin:orgs",
                        "webhooks:read", "webhooks:write", "openid"})
    p.scopes.insert(s);
  return p;
}

Principal OrgAdmin(const std::string& org) {
  Principal p;
  p.agent_id = Uuid(998);
  p.organization_id = org;
  for (const char* s : {"agents:read", "agents:write", "tokens:read", "audit:read"})
    p.scopes.insert(s);
  return p;
}

std::set<std::string> NoScopes(const std::string&, const std::string&) {
  return {};
}

class OrgServiceTest : public ::testing::Test {
 protected:
  OrgServiceTest()
      : audit_(store_.audit_, clock_, random_),
        clients_(store_, clock_),
        service_(store_, audit_, clients_, clock_, random_, kSystemOrg) {
    AddOrg(kSystemOrg, "system", -1);
    AddOrg(kOrgA, "org-a", 2);
    AddOrg(kOrgB, "org-b", 10);
  }
  ~OrgServiceTest() override { audit_.Shutdown(); }

  void AddOrg(const std::string& id, const std::string& slug, int max_agents) {
    Organization o;
    o.organization_id = id;
    o.name = "Org " + slug;
    o.slug = slug;
    o.max_agents = max_agents;
    o.created_at = o.updated_at = clock_.NowMs();
    store_.orgs_.orgs[id] = o;
  }
  Agent& AddAgent(int n, const std::string& org, const std::string& status = "active") {
    Agent a;
    a.agent_id = Uuid(n);
    a.organization_id = org;
    a.email = "a" + std::to_string(n) + "@example.com";
    a.status = status;
    store_.agent_rows[a.agent_id] = a;
    return store_.agent_rows[a.agent_id];
  }
  std::vector<std::string> Actions() {
    std::vector<std::string> out;
    for (const auto& e : store_.audit_.Events()) out.push_back(e.action);
    return out;
  }

  core::ManualClock clock_;
  core::SecureRandom random_;
  MemoryStore store_;
  AuditWriter audit_;
  ClientDirectory clients_;
  OrgService service_;
};

TEST(OrgInput, SlugRules) {
  for (const std::string& ok : {std::string("ab"), std::string("acme"), std::string("acme-corp-2"),
                                std::string("0-9"), std::string(50, 'a')})
    EXPECT_TRUE(IsValidSlug(ok)) << ok;
  for (const std::string& bad :
       {std::string("a"), std::string(""), std::string(51, 'a'), std::string("Acme"),
        std::string("acme_corp"), std::string("acme corp"), std::string("acme.corp"),
        std::string("acmé")})
    EXPECT_FALSE(IsValidSlug(bad)) << bad;
}

TEST(OrgInput, ParsesAndRefusesWithTheField) {
  auto ok =
      ParseOrgInput(Obj(R"({"name":"Acme","slug":"acme","planTier":"pro","maxAgents":5})"), false);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(*ok->plan_tier, "pro");
  EXPECT_EQ(*ok->max_agents, 5);
  auto unlimited = ParseOrgInput(Obj(R"({"name":"Acme","slug":"acme","maxAgents":null})"), false);
  ASSERT_TRUE(unlimited.ok());
  EXPECT_EQ(*unlimited->max_agents, -1);
  struct Case {
    const char* body;
    const char* field;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"slug":"acme"})", "name"},
           {R"({"name":"Acme"})", "slug"},
           {R"({"name":"A","slug":"acme"})", "name"},
           {R"({"name":"   ","slug":"acme"})", "name"},
           {R"({"name":"Acme","slug":"Acme"})", "slug"},
           {R"({"name":"Acme","slug":"a"})", "slug"},
           {R"({"name":"Acme","slug":7})", "slug"},
           {R"({"name":"Acme","slug":"acme","planTier":"gold"})", "planTier"},
           {R"({"name":"Acme","slug":"acme","maxAgents":0})", "maxAgents"},
           {R"({"name":"Acme","slug":"acme","maxAgents":-1})", "maxAgents"},
           {R"({"name":"Acme","slug":"acme","maxAgents":"10"})", "maxAgents"},
           {R"({"name":"Acme","slug":"acme","maxAgents":1.5})", "maxAgents"},
           {R"({"name":"Acme","slug":"acme","status":"active"})", "status"},
           {R"({"name":"Acme","slug":"acme","organizationId":"x"})", "organizationId"},
       }) {
    auto r = ParseOrgInput(Obj(c.body), false);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.error().code, "VALIDATION_ERROR");
    EXPECT_EQ(r.error().details.at("field").as_string(), c.field) << c.body;
  }
  EXPECT_FALSE(ParseOrgInput(Obj(R"({})"), true).ok());
  EXPECT_FALSE(ParseOrgInput(Obj(R"({"status":"deleted"})"), true).ok());
  EXPECT_TRUE(ParseOrgInput(Obj(R"({"status":"suspended"})"), true).ok());
}

TEST(OrgInput, MemberBody) {
  auto ok = ParseMemberInput(Obj(R"({"agentId":"00000000-0000-4000-9000-000000000001"})"));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->role, "member");
  EXPECT_FALSE(ParseMemberInput(Obj(R"({"role":"admin"})")).ok());
  EXPECT_FALSE(ParseMemberInput(Obj(R"({"agentId":"nope"})")).ok());
  EXPECT_FALSE(
      ParseMemberInput(Obj(R"({"agentId":"00000000-0000-4000-9000-000000000001","role":"owner"})"))
          .ok());
  EXPECT_FALSE(
      ParseMemberInput(Obj(R"({"agentId":"00000000-0000-4000-9000-000000000001","x":1})")).ok());
}

TEST(OrgJson, UnlimitedIsNull) {
  Organization o;
  o.max_agents = -1;
  EXPECT_TRUE(OrgToJson(o).at("maxAgents").is_null());
  o.max_agents = 7;
  EXPECT_EQ(OrgToJson(o).at("maxAgents").as_int64(), 7);
}

TEST_F(OrgServiceTest, CreateTakesTierDefaultsAndIsAudited) {
  auto in = ParseOrgInput(Obj(R"({"name":"Acme","slug":"acme"})"), false);
  auto org = service_.Create(SystemAdmin(), *in);
  ASSERT_TRUE(org.ok()) << org.error().message;
  EXPECT_EQ(org->plan_tier, "free");
  EXPECT_EQ(org->max_agents, 10);
  EXPECT_EQ(org->status, "active");
  auto ent = service_.Create(
      SystemAdmin(),
      *ParseOrgInput(Obj(R"({"name":"Big","slug":"big","planTier":"enterprise"})"), false));
  ASSERT_TRUE(ent.ok());
  EXPECT_EQ(ent->max_agents, -1);
  EXPECT_EQ(Actions(), (std::vector<std::string>{"org.created", "org.created"}));
  EXPECT_EQ(store_.audit_.Events()[0].organization_id, org->organization_id);
}

TEST_F(OrgServiceTest, DuplicateSlugIsConflict) {
  auto in = ParseOrgInput(Obj(R"({"name":"Again","slug":"org-a"})"), false);
  auto org = service_.Create(SystemAdmin(), *in);
  ASSERT_FALSE(org.ok());
  EXPECT_EQ(org.error().kind, core::Errc::kConflict);
  EXPECT_EQ(org.error().code, "ORG_ALREADY_EXISTS");
  auto patch =
      service_.Update(SystemAdmin(), kOrgB, *ParseOrgInput(Obj(R"({"slug":"org-a"})"), true));
  ASSERT_FALSE(patch.ok());
  EXPECT_EQ(patch.error().code, "ORG_ALREADY_EXISTS");
  EXPECT_TRUE(Actions().empty());
}

TEST_F(OrgServiceTest, ConfinedCallersSeeOnlyTheirOwnOrganization) {
  auto admin_a = OrgAdmin(kOrgA);
  EXPECT_EQ(service_.Create(admin_a, *ParseOrgInput(Obj(R"({"name":"Xx","slug":"xx"})"), false))
                .error()
                .code,
            "FORBIDDEN");
  EXPECT_TRUE(service_.Get(admin_a, kOrgA).ok());
  auto foreign = service_.Get(admin_a, kOrgB);
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().code, "ORG_NOT_FOUND");
  auto list = service_.List(admin_a, {}, {});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->total, 1);
  EXPECT_EQ(list->data[0].organization_id, kOrgA);
  EXPECT_EQ(service_.List(SystemAdmin(), {}, {})->total, 3);
  // Renaming its own organization is fine; raising its own limits is not.
  EXPECT_TRUE(service_.Update(admin_a, kOrgA, *ParseOrgInput(Obj(R"({"name":"A2"})"), true)).ok());
  auto raise = service_.Update(admin_a, kOrgA, *ParseOrgInput(Obj(R"({"maxAgents":500})"), true));
  ASSERT_FALSE(raise.ok());
  EXPECT_EQ(raise.error().kind, core::Errc::kForbidden);
  EXPECT_EQ(store_.orgs_.orgs[kOrgA].max_agents, 2);
  EXPECT_EQ(service_.Delete(admin_a, kOrgA).error().kind, core::Errc::kForbidden);
  EXPECT_EQ(service_.Delete(admin_a, kOrgB).error().code, "ORG_NOT_FOUND");
}

TEST_F(OrgServiceTest, TierChangeBringsItsLimitUnlessOneIsGiven) {
  auto pro =
      service_.Update(SystemAdmin(), kOrgA, *ParseOrgInput(Obj(R"({"planTier":"pro"})"), true));
  ASSERT_TRUE(pro.ok());
  EXPECT_EQ(pro->max_agents, 100);
  auto ent =
      service_.Update(SystemAdmin(), kOrgA,
                      *ParseOrgInput(Obj(R"({"planTier":"enterprise","maxAgents":7})"), true));
  ASSERT_TRUE(ent.ok());
  EXPECT_EQ(ent->max_agents, 7);
  EXPECT_EQ(Actions(), (std::vector<std::string>{"org.updated", "org.updated"}));
}

TEST_F(OrgServiceTest, SystemOrganizationCannotBeSuspendedOrDeleted) {
  auto s = service_.Update(SystemAdmin(), kSystemOrg,
                           *ParseOrgInput(Obj(R"({"status":"suspended"})"), true));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, core::Errc::kForbidden);
  auto d = service_.Delete(SystemAdmin(), kSystemOrg);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().kind, core::Errc::kForbidden);
}

TEST_F(OrgServiceTest, SuspensionStopsTheCachedAgentsAndReactivationRestoresThem) {
  AddAgent(1, kOrgA);
  AddAgent(2, kOrgB);
  std::vector<std::string> published;
  clients_.SetOrganizationListener([&](const std::string& org) { published.push_back(org); });
  // Both cached while their organizations are active.
  ASSERT_TRUE((*clients_.Find(Uuid(1)))->Usable());
  ASSERT_TRUE((*clients_.Find(Uuid(2)))->Usable());

  ASSERT_TRUE(
      service_.Update(SystemAdmin(), kOrgA, *ParseOrgInput(Obj(R"({"status":"suspended"})"), true))
          .ok());
  EXPECT_EQ(published, std::vector<std::string>{kOrgA});
  // The cache answers without the store (may_load false): org A's agent was dropped, so its
  // state must be reloaded; org B's is still cached and usable.
  EXPECT_FALSE(clients_.Find(Uuid(1), false).ok());
  ASSERT_TRUE(clients_.Find(Uuid(2), false).ok());
  EXPECT_TRUE((*clients_.Find(Uuid(2), false))->Usable());
  auto suspended = *clients_.Find(Uuid(1));
  EXPECT_EQ(suspended->agent.status, "active");
  EXPECT_FALSE(suspended->organization_active);
  EXPECT_FALSE(suspended->Usable());

  // A name change publishes nothing (the status did not change).
  ASSERT_TRUE(
      service_.Update(SystemAdmin(), kOrgA, *ParseOrgInput(Obj(R"({"name":"Renamed"})"), true))
          .ok());
  EXPECT_EQ(published.size(), 1u);

  ASSERT_TRUE(
      service_.Update(SystemAdmin(), kOrgA, *ParseOrgInput(Obj(R"({"status":"active"})"), true))
          .ok());
  EXPECT_EQ(published.size(), 2u);
  EXPECT_TRUE((*clients_.Find(Uuid(1)))->Usable());

  // Another node's message drops the entries the same way, without publishing.
  store_.orgs_.orgs[kOrgB].status = "suspended";
  EXPECT_TRUE((*clients_.Find(Uuid(2)))->Usable()) << "still the cached record";
  clients_.ForgetOrganization(kOrgB);
  EXPECT_FALSE((*clients_.Find(Uuid(2)))->Usable());
  EXPECT_EQ(published.size(), 2u);
}

TEST_F(OrgServiceTest, AgentsOfADeletedOrganizationAreNotUsable) {
  AddAgent(3, kOrgB, "decommissioned");
  ASSERT_FALSE((*clients_.Find(Uuid(3)))->Usable());
  ASSERT_TRUE(service_.Delete(SystemAdmin(), kOrgB).ok());
  auto record = *clients_.Find(Uuid(3));
  EXPECT_FALSE(record->organization_active);
}

TEST_F(OrgServiceTest, DeleteIsRefusedWhileAgentsAreLiveThenSoft) {
  AddAgent(1, kOrgA);
  AddAgent(2, kOrgA, "suspended");
  AddAgent(3, kOrgA, "decommissioned");
  auto refused = service_.Delete(SystemAdmin(), kOrgA);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, core::Errc::kConflict);
  EXPECT_EQ(refused.error().code, "ORG_HAS_ACTIVE_AGENTS");
  EXPECT_EQ(refused.error().details.at("activeAgents").as_int64(), 2);
  EXPECT_EQ(store_.orgs_.orgs[kOrgA].status, "active");
  store_.agent_rows[Uuid(1)].status = "decommissioned";
  store_.agent_rows[Uuid(2)].status = "decommissioned";
  ASSERT_TRUE(service_.Delete(SystemAdmin(), kOrgA).ok());
  EXPECT_EQ(store_.orgs_.orgs[kOrgA].status, "deleted") << "soft delete keeps the row";
  EXPECT_EQ(service_.Get(SystemAdmin(), kOrgA).error().code, "ORG_NOT_FOUND");
  EXPECT_EQ(service_.Delete(SystemAdmin(), kOrgA).error().code, "ORG_NOT_FOUND");
  OrgFilter deleted;
  deleted.status = "deleted";
  EXPECT_EQ(service_.List(SystemAdmin(), deleted, {})->total, 1);
  EXPECT_EQ(Actions(), (std::vector<std::string>{"org.deleted"}));
}

TEST_F(OrgServiceTest, AddMemberMovesTheAgentAndSetsItsRole) {
  AddAgent(1, kOrgB);
  auto m = service_.AddMember(SystemAdmin(), kOrgA, Uuid(1), "admin", NoScopes);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->previous_organization_id, kOrgB);
  EXPECT_EQ(store_.agent_rows[Uuid(1)].organization_id, kOrgA);
  EXPECT_EQ(store_.agent_rows[Uuid(1)].role, "admin");
  auto events = store_.audit_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].action, "org.member_added");
  EXPECT_EQ(events[0].organization_id, kOrgA);
  EXPECT_EQ(events[0].agent_id, Uuid(1));
  auto again = service_.AddMember(SystemAdmin(), kOrgA, Uuid(1), "member", NoScopes);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, "ALREADY_MEMBER");
}

TEST_F(OrgServiceTest, AddMemberRefusals) {
  AddAgent(1, kOrgB);
  AddAgent(2, kOrgB, "decommissioned");
  AddAgent(3, kOrgA);
  AddAgent(4, kOrgA);
  EXPECT_EQ(service_.AddMember(SystemAdmin(), kOrgA, Uuid(2), "member", NoScopes).error().code,
            "AGENT_ALREADY_DECOMMISSIONED");
  // org-a allows 2 agents and has 2.
  auto full = service_.AddMember(SystemAdmin(), kOrgA, Uuid(1), "member", NoScopes);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, "FREE_TIER_LIMIT_EXCEEDED");
  EXPECT_EQ(full.error().details.at("limit").as_int64(), 2);
  EXPECT_EQ(service_.AddMember(SystemAdmin(), kOrgA, Uuid(77), "member", NoScopes).error().code,
            "AGENT_NOT_FOUND");
  EXPECT_EQ(service_.AddMember(SystemAdmin(), Uuid(55), Uuid(1), "member", NoScopes).error().code,
            "ORG_NOT_FOUND");
  // A caller cannot hand out a role that grants more than it holds.
  auto escalate = service_.AddMember(
      OrgAdmin(kOrgB), kOrgB, Uuid(1), "admin",
      [](const std::string&, const std::string&) { return std::set<std::string>{"admin:orgs"}; });
  ASSERT_FALSE(escalate.ok());
  // Confined callers cannot pull in foreign agents nor reach foreign organizations.
  EXPECT_EQ(service_.AddMember(OrgAdmin(kOrgB), kOrgB, Uuid(3), "member", NoScopes).error().code,
            "AGENT_NOT_FOUND");
  EXPECT_EQ(service_.AddMember(OrgAdmin(kOrgB), kOrgA, Uuid(1), "member", NoScopes).error().code,
            "ORG_NOT_FOUND");
  // An agent never moves itself.
  Principal self = SystemAdmin();
  self.agent_id = Uuid(1);
  EXPECT_EQ(service_.AddMember(self, kSystemOrg, Uuid(1), "member", NoScopes).error().code,
            "VALIDATION_ERROR");
  store_.orgs_.orgs[kOrgB].status = "suspended";
  EXPECT_EQ(service_.AddMember(SystemAdmin(), kOrgB, Uuid(3), "member", NoScopes).error().code,
            "ORG_SUSPENDED");
  EXPECT_EQ(store_.agent_rows[Uuid(1)].organization_id, kOrgB) << "nothing moved";
  EXPECT_TRUE(Actions().empty());
}

}  // namespace
}  // namespace agentidp::domain
