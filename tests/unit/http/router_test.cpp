#include "http/router.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace agentidp::http {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

Router<std::string> MakeRouter() {
  Router<std::string> r;
  r.Add("GET", "/health", "health");
  r.Add("GET", "/api/v1/agents", "list");
  r.Add("POST", "/api/v1/agents", "create");
  r.Add("GET", "/api/v1/agents/{agentId}", "get");
  r.Add("PATCH", "/api/v1/agents/{agentId}", "update");
  r.Add("DELETE", "/api/v1/agents/{agentId}", "delete");
  r.Add("GET", "/api/v1/agents/search", "search");
  r.Add("POST", "/api/v1/agents/{agentId}/credentials/{credentialId}/rotate", "rotate");
  r.Add("GET", "/api/v1/agents/{agentId}/credentials", "creds");
  r.Add("GET", "/agents/{id}/did.json", "did");
  r.Add("GET", "/portal/{path*}", "portal");
  r.Add("GET", "/", "root");
  return r;
}

TEST(RouterTest, MatchesLiteralRoutes) {
  auto r = MakeRouter();
  auto m = r.Find("GET", "/health");
  ASSERT_TRUE(m);
  EXPECT_EQ(*m.value, "health");
  EXPECT_EQ(m.pattern, "/health");
  EXPECT_TRUE(m.params.empty());
  EXPECT_FALSE(m.method_mismatch);
  EXPECT_EQ(*r.Find("GET", "/").value, "root");
}

TEST(RouterTest, ChoosesTheHandlerByMethod) {
  auto r = MakeRouter();
  EXPECT_EQ(*r.Find("GET", "/api/v1/agents").value, "list");
  EXPECT_EQ(*r.Find("POST", "/api/v1/agents").value, "create");
  EXPECT_EQ(*r.Find("DELETE", "/api/v1/agents/a1").value, "delete");
}

TEST(RouterTest, ExtractsNamedParameters) {
  auto r = MakeRouter();
  auto m = r.Find("POST", "/api/v1/agents/a-1/credentials/c-2/rotate");
  ASSERT_TRUE(m);
  EXPECT_EQ(*m.value, "rotate");
  EXPECT_EQ(m.pattern, "/api/v1/agents/{agentId}/credentials/{credentialId}/rotate");
  EXPECT_THAT(m.params, ElementsAre(Pair("agentId", "a-1"), Pair("credentialId", "c-2")));
}

TEST(RouterTest, LiteralSegmentsBeatParameters) {
  auto r = MakeRouter();
  auto m = r.Find("GET", "/api/v1/agents/search");
  ASSERT_TRUE(m);
  EXPECT_EQ(*m.value, "search");
  EXPECT_TRUE(m.params.empty());
}

TEST(RouterTest, BacktracksFromALiteralToAParameter) {
  auto r = MakeRouter();
  // "search" is a literal child of /agents, but only {agentId} continues to /credentials.
  auto m = r.Find("GET", "/api/v1/agents/search/credentials");
  ASSERT_TRUE(m);
  EXPECT_EQ(*m.value, "creds");
  EXPECT_THAT(m.params, ElementsAre(Pair("agentId", "search")));
  // And a method only the parameter route has.
  auto d = r.Find("DELETE", "/api/v1/agents/search");
  ASSERT_TRUE(d);
  EXPECT_EQ(*d.value, "delete");
}

TEST(RouterTest, ReportsMethodMismatchWithAllowedMethods) {
  auto r = MakeRouter();
  auto m = r.Find("PUT", "/api/v1/agents/a1");
  EXPECT_FALSE(m);
  EXPECT_TRUE(m.method_mismatch);
  EXPECT_THAT(m.allowed_methods, ElementsAre("DELETE", "GET", "HEAD", "PATCH"));

  auto list = r.Find("DELETE", "/api/v1/agents");
  EXPECT_TRUE(list.method_mismatch);
  EXPECT_THAT(list.allowed_methods, ElementsAre("GET", "HEAD", "POST"));
}

TEST(RouterTest, UnknownPathIsNotAMethodMismatch) {
  auto r = MakeRouter();
  auto m = r.Find("GET", "/api/v1/nothing");
  EXPECT_FALSE(m);
  EXPECT_FALSE(m.method_mismatch);
  EXPECT_TRUE(m.allowed_methods.empty());
}

TEST(RouterTest, HeadFallsBackToGet) {
  auto r = MakeRouter();
  auto m = r.Find("HEAD", "/api/v1/agents/a1");
  ASSERT_TRUE(m);
  EXPECT_EQ(*m.value, "get");
  Router<int> explicit_head;
  explicit_head.Add("GET", "/x", 1);
  explicit_head.Add("HEAD", "/x", 2);
  EXPECT_EQ(*explicit_head.Find("HEAD", "/x").value, 2);
}

TEST(RouterTest, TrailingSlashAndEmptySegmentsDoNotMatch) {
  auto r = MakeRouter();
  EXPECT_FALSE(r.Find("GET", "/health/"));
  EXPECT_FALSE(r.Find("GET", "/api/v1/agents/"));  // {agentId} must not be empty
  EXPECT_FALSE(r.Find("GET", "/api/v1//agents"));
  EXPECT_FALSE(r.Find("GET", "/api/v1/agents/a1/"));
  EXPECT_FALSE(r.Find("GET", "api/v1/agents"));
  EXPECT_FALSE(r.Find("GET", ""));
  EXPECT_FALSE(r.Find("GET", "/api/v1/agents/a1/").method_mismatch);
}

TEST(RouterTest, PercentDecodesParameters) {
  auto r = MakeRouter();
  auto m = r.Find("GET", "/api/v1/agents/a%20b%C3%A9");
  ASSERT_TRUE(m);
  EXPECT_THAT(m.params, ElementsAre(Pair("agentId", "a b\xC3\xA9")));
  // '+' is literal in paths.
  EXPECT_THAT(r.Find("GET", "/api/v1/agents/a+b").params, ElementsAre(Pair("agentId", "a+b")));
}

TEST(RouterTest, RefusesEncodedSlashesBadEscapesAndBadUtf8) {
  auto r = MakeRouter();
  EXPECT_FALSE(r.Find("GET", "/api/v1/agents/a%2Fb"));
  EXPECT_FALSE(r.Find("GET", "/api/v1/agents/a%2fb"));
  EXPECT_FALSE(r.Find("GET", "/api/v1/agents/a%zz"));
  EXPECT_FALSE(r.Find("GET", "/api/v1/agents/a%4"));
  EXPECT_FALSE(r.Find("GET", "/api/v1/agents/%"));
  EXPECT_FALSE(r.Find("GET", "/api/v1/agents/%FF"));
  EXPECT_FALSE(r.Find("GET", "/api/v1/agents/%00"));
  // The refusal is a plain "no route", not a 405.
  EXPECT_FALSE(r.Find("GET", "/api/v1/agents/a%2Fb").method_mismatch);
}

TEST(RouterTest, LiteralSegmentsAreComparedAsReceived) {
  auto r = MakeRouter();
  EXPECT_FALSE(r.Find("GET", "/%68ealth"));
  EXPECT_FALSE(r.Find("GET", "/HEALTH"));
}

TEST(RouterTest, CatchAllTakesTheRestOfThePath) {
  auto r = MakeRouter();
  auto m = r.Find("GET", "/portal/assets/app%20v1.js");
  ASSERT_TRUE(m);
  EXPECT_EQ(*m.value, "portal");
  EXPECT_THAT(m.params, ElementsAre(Pair("path", "assets/app v1.js")));
  auto index = r.Find("GET", "/portal/");
  ASSERT_TRUE(index);
  EXPECT_THAT(index.params, ElementsAre(Pair("path", "")));
  EXPECT_FALSE(r.Find("GET", "/portal"));
}

TEST(RouterTest, CatchAllRefusesDotSegmentsAndEncodedSlashes) {
  auto r = MakeRouter();
  EXPECT_FALSE(r.Find("GET", "/portal/../secret"));
  EXPECT_FALSE(r.Find("GET", "/portal/a/%2e%2e/b"));
  EXPECT_FALSE(r.Find("GET", "/portal/./a"));
  EXPECT_FALSE(r.Find("GET", "/portal/a%2Fb"));
  EXPECT_FALSE(r.Find("GET", "/portal/a//b"));
  EXPECT_FALSE(r.Find("GET", "/portal/a/"));
}

TEST(RouterTest, ListsRoutesInRegistrationOrder) {
  Router<int> r;
  r.Add("GET", "/b", 1);
  r.Add("POST", "/a/{x}", 2);
  EXPECT_THAT(r.Routes(), ElementsAre(Pair("GET", "/b"), Pair("POST", "/a/{x}")));
  EXPECT_EQ(r.Size(), 2u);
}

TEST(RouterTest, RejectsBadPatternsAndDuplicates) {
  Router<int> r;
  r.Add("GET", "/a/{id}", 1);
  EXPECT_THROW(r.Add("GET", "/a/{id}", 2), std::invalid_argument);
  EXPECT_THROW(r.Add("GET", "/a/{other}", 2), std::invalid_argument);  // same shape
  EXPECT_NO_THROW(r.Add("PUT", "/a/{other}", 3));
  EXPECT_THROW(r.Add("GET", "a/b", 1), std::invalid_argument);
  EXPECT_THROW(r.Add("GET", "/a/", 1), std::invalid_argument);
  EXPECT_THROW(r.Add("GET", "/a//b", 1), std::invalid_argument);
  EXPECT_THROW(r.Add("GET", "/a/{}", 1), std::invalid_argument);
  EXPECT_THROW(r.Add("GET", "/a/{x-y}", 1), std::invalid_argument);
  EXPECT_THROW(r.Add("GET", "/a/x{y}", 1), std::invalid_argument);
  EXPECT_THROW(r.Add("GET", "/b/{x}/{x}", 1), std::invalid_argument);
  EXPECT_THROW(r.Add("GET", "/c/{rest*}/more", 1), std::invalid_argument);
  EXPECT_THROW(r.Add("", "/d", 1), std::invalid_argument);
  // The router is unchanged by rejected routes.
  EXPECT_EQ(r.Size(), 2u);
  EXPECT_EQ(*r.Find("PUT", "/a/7").value, 3);
}

TEST(RouterTest, ScalesToAFullTable) {
  Router<int> r;
  for (int i = 0; i < 60; ++i)
    r.Add(i % 2 ? "POST" : "GET", "/api/v1/r" + std::to_string(i) + "/{id}/x", i);
  for (int i = 0; i < 60; ++i) {
    auto m = r.Find(i % 2 ? "POST" : "GET", "/api/v1/r" + std::to_string(i) + "/7/x");
    ASSERT_TRUE(m);
    EXPECT_EQ(*m.value, i);
  }
}

}  // namespace
}  // namespace agentidp::http
