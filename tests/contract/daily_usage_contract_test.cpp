// The store side of the in-process daily counters (SPEC §8, docs/decisions.md "Daily
// counters on one node survive restarts"), against every backend: today's token issuances of
// an organization counted from the audit log, and API-call counts persisted in the meta table.

#include "contract/backends.hpp"
#include "contract/fixtures.hpp"
#include "domain/tiers/daily_counters.hpp"

namespace agentidp::contract {
namespace {

AGENTIDP_CONTRACT_SUITE(DailyUsageContract);

constexpr int64_t kDayMs = 86'400'000;
constexpr int64_t kDay = kT0 / kDayMs;  // 2026-03-28
constexpr int64_t kMidnight = kDay * kDayMs;

TEST_P(DailyUsageContract, TokenEventsOfOneOrganizationAndUtcDay) {
  std::vector<domain::AuditEvent> events = {
      MakeEvent("e1", kMidnight - 1, "token.issued"),  // the day before
      MakeEvent("e2", kMidnight, "token.issued"),
      MakeEvent("e3", kMidnight + 5, "token.issued", "agent-2", "org-2"),
      MakeEvent("e4", kMidnight + 10, "token.exchanged"),
      MakeEvent("e5", kMidnight + 20, "auth.failed", "agent-1", "org-1", "failure"),
      MakeEvent("e6", kMidnight + 30, "token.revoked"),
      MakeEvent("e7", kMidnight + kDayMs - 1, "token.issued"),  // 23:59:59.999
      MakeEvent("e8", kMidnight + kDayMs, "token.issued"),      // the next day
  };
  ASSERT_OK(store().audit().AppendBatch(events, kTestHasher));
  ASSERT_OK_AND_ASSIGN(int64_t org1, domain::CountTokenEventsOfDay(store().audit(), "org-1", kDay));
  EXPECT_EQ(org1, 3) << "issued and exchanged tokens of that day only";
  ASSERT_OK_AND_ASSIGN(int64_t org2, domain::CountTokenEventsOfDay(store().audit(), "org-2", kDay));
  EXPECT_EQ(org2, 1);
  ASSERT_OK_AND_ASSIGN(int64_t next,
                       domain::CountTokenEventsOfDay(store().audit(), "org-1", kDay + 1));
  EXPECT_EQ(next, 1);
  ASSERT_OK_AND_ASSIGN(int64_t none, domain::CountTokenEventsOfDay(store().audit(), "org-3", kDay));
  EXPECT_EQ(none, 0);
}

TEST_P(DailyUsageContract, PersistedApiCallCountsRoundTrip) {
  ASSERT_OK_AND_ASSIGN(int64_t fresh, domain::LoadDailyCount(store().meta(), "api", "org-1", kDay));
  EXPECT_EQ(fresh, 0);
  ASSERT_OK(
      domain::SaveDailyCounts(store().meta(), "api", {{"org-1", kDay, 41}, {"org-2", kDay, 7}}));
  ASSERT_OK(domain::SaveDailyCounts(store().meta(), "api", {{"org-1", kDay, 42}}));
  ASSERT_OK_AND_ASSIGN(int64_t org1, domain::LoadDailyCount(store().meta(), "api", "org-1", kDay));
  EXPECT_EQ(org1, 42) << "overwritten, one row per organization";
  ASSERT_OK_AND_ASSIGN(int64_t org2, domain::LoadDailyCount(store().meta(), "api", "org-2", kDay));
  EXPECT_EQ(org2, 7);
  ASSERT_OK_AND_ASSIGN(int64_t tomorrow,
                       domain::LoadDailyCount(store().meta(), "api", "org-1", kDay + 1));
  EXPECT_EQ(tomorrow, 0) << "yesterday's count is not today's";
}

}  // namespace
}  // namespace agentidp::contract
