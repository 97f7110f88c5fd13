#include "domain/policy/policy.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace agentidp::domain {
namespace {

const std::vector<std::string> kRoutes = {"agents.create", "agents.list"};

TEST(ScopeString, ParsesKnownScopes) {
  auto s = ParseScopeString("agents:read tokens:read");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, (std::set<std::string>{"agents:read", "tokens:read"}));
  EXPECT_EQ(JoinScopes(*s), "agents:read tokens:read");
}

TEST(ScopeString, RefusesMalformedAndUnknown) {
  for (const char* bad : {"agents:read  tokens:read", " agents:read", "agents:read ", "nope",
                          "agents:read\"", "agents:read\\x", "agents:read\ttokens:read"}) {
    auto s = ParseScopeString(bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.error().code, "invalid_scope") << bad;
  }
}

TEST(Policy, RequiresEveryRouteAndRefusesUnknownOnes) {
  EXPECT_FALSE(
      Policy::Parse(
          R"({"roles":{"member":[],"admin":[]},"routes":{"agents.create":["agents:write"]}})",
          kRoutes)
          .ok());
  auto unknown = Policy::Parse(
      R"({"roles":{"member":[],"admin":[]},"routes":{"agents.create":[],"agents.list":[],"agents.typo":[]}})",
      kRoutes);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("agents.typo"), std::string::npos);
  EXPECT_FALSE(
      Policy::Parse(
          R"({"roles":{"member":[],"admin":[]},"routes":{"agents.create":["agents:fly"],"agents.list":[]}})",
          kRoutes)
          .ok());
  EXPECT_FALSE(
      Policy::Parse(
          R"({"roles":{"member":[],"admin":[]},"routes":{"agents.create":[],"agents.list":[]},"extra":1})",
          kRoutes)
          .ok());
}

TEST(Policy, EvaluatesScopesAndRoles) {
  auto p = Policy::Parse(
      R"({"crossTenantScope":"admin:orgs","roles":{"member":["agents:read"],"admin":["agents:read","agents:write"]},
    "routes":{"agents.create":["agents:write"],"agents.list":["agents:read"]}})",
      kRoutes);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_TRUE(p->Allows("agents.create", {"agents:write"}));
  EXPECT_FALSE(p->Allows("agents.create", {"agents:read"}));
  EXPECT_FALSE(p->Allows("not.a.route", {"agents:read", "agents:write", "admin:orgs"}));
  EXPECT_EQ(p->GrantableScopes("member", false), (std::set<std::string>{"agents:read"}));
  EXPECT_EQ(p->GrantableScopes("admin", true).size(), AllScopes().size());
  EXPECT_TRUE(p->GrantableScopes("ghost", false).empty());
  EXPECT_TRUE(p->IsCrossTenant({"admin:orgs"}));
  EXPECT_FALSE(p->IsCrossTenant({"agents:write"}));
}

TEST(Policy, ShippedFileMatchesBuiltInDefault) {
  std::ifstream in(std::string(AGENTIDP_SOURCE_DIR) + "/config/policy.json");
  ASSERT_TRUE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), std::string(Policy::DefaultDocument()));
}

}  // namespace
}  // namespace agentidp::domain
