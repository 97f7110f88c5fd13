#include "core/json.hpp"
#include "domain/agents/agent_service.hpp"
#include "domain/audit/audit_log.hpp"

#include <gtest/gtest.h>

namespace agentidp::domain {
namespace {

boost::json::object Obj(std::string_view json) {
  return core::ParseJsonObjectStrict(json).value();
}

const char* kValid = R"({"email":"Bot@Example.com","agentType":"custom","version":"1.2.3-rc.1+b5",
  "capabilities":["files:read","files:read","mail:send"],"owner":"team","deploymentEnv":"staging"})";

TEST(AgentValidation, AcceptsAValidAgentAndNormalizes) {
  auto in = ParseAgentInput(Obj(kValid), false);
  ASSERT_TRUE(in.ok()) << in.error().message;
  EXPECT_EQ(*in->email, "bot@example.com");
  EXPECT_EQ(in->capabilities->size(), 2u) << "duplicates collapse";
}

TEST(AgentValidation, RefusesEachInvalidField) {
  struct Case {
    const char* field;
    const char* value;
  };
  for (auto c :
       {Case{"email", R"("not-an-email")"}, Case{"email", R"("a@b")"},
        Case{"agentType", R"("wizard")"}, Case{"version", R"("1.2")"},
        Case{"version", R"("01.2.3")"}, Case{"capabilities", "[]"},
        Case{"capabilities", R"(["noaction"])"}, Case{"capabilities", R"([":x"])"},
        Case{"owner", R"("")"}, Case{"deploymentEnv", R"("prod")"}, Case{"isPublic", R"("yes")"},
        Case{"status", R"("active")"}, Case{"agentId", R"("x")"}}) {
    auto body = Obj(kValid);
    body[c.field] = core::ParseJsonStrict(c.value).value();
    auto in = ParseAgentInput(body, false);
    ASSERT_FALSE(in.ok()) << c.field << "=" << c.value;
    EXPECT_EQ(in.error().code, "VALIDATION_ERROR");
    EXPECT_EQ(in.error().details.at("field").as_string(), c.field);
  }
}

TEST(AgentValidation, RequiresAllFieldsOnCreateButNotOnPatch) {
  auto missing = ParseAgentInput(Obj(R"({"email":"a@b.co"})"), false);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().details.at("field").as_string(), "agentType");
  auto patch = ParseAgentInput(Obj(R"({"status":"suspended"})"), true);
  ASSERT_TRUE(patch.ok());
  EXPECT_EQ(*patch->status, "suspended");
  EXPECT_FALSE(ParseAgentInput(Obj("{}"), true).ok());
  EXPECT_FALSE(ParseAgentInput(Obj(R"({"status":"asleep"})"), true).ok());
}

TEST(AgentValidation, Semver) {
  for (const char* ok :
       {"0.0.0", "1.2.3", "10.20.30-alpha.1", "1.0.0+build.7", "1.0.0-0A.is.legal"})
    EXPECT_TRUE(IsValidSemver(ok)) << ok;
  for (const char* bad :
       {"", "1", "1.2", "1.2.3.4", "v1.2.3", "1.2.3-", "1.2.3-01", "1..3", "1.2.3+"})
    EXPECT_FALSE(IsValidSemver(bad)) << bad;
}

TEST(AuditHash, IsSha256OfThePipeJoinedFields) {
  AuditEvent ev;
  ev.event_id = "e";
  ev.timestamp = 0;
  ev.action = "agent.created";
  ev.outcome = "success";
  ev.agent_id = "a";
  ev.organization_id = "o";
  ev.previous_hash = "";
  // sha256("e|1970-01-01T00:00:00.000Z|agent.created|success|a|o|")
  EXPECT_EQ(AuditEventHash(ev), "821b2b33ea8a002f48c37a5bc6f4033941ee9b2a7ad6486bdd69ba6566c413b9");
  ev.previous_hash = "x";
  EXPECT_NE(AuditEventHash(ev), "821b2b33ea8a002f48c37a5bc6f4033941ee9b2a7ad6486bdd69ba6566c413b9");
}

}  // namespace
}  // namespace agentidp::domain
