// Usage tiers (SPEC §8): limits per tier and their overrides, the UTC day arithmetic, the
// in-process daily counters (day rollover on a fake clock, seeding after a restart,
// persistence of changed counts) and the organizations' tiers as the hot path sees them.

#include "domain/tiers/tiers.hpp"
#include "domain/tiers/daily_counters.hpp"
#include "domain/would_block.hpp"
#include "unit/domain/memory_store.hpp"

#include <gtest/gtest.h>

namespace agentidp::domain {
namespace {

using testing::MemoryMetaStore;
using testing::MemoryStore;

// 2026-11-28T00:00:00Z
constexpr int64_t kMidnightS = 1'795'824'000;
constexpr int64_t kDay = kMidnightS / 86'400;

TEST(TierTable, SpecLimitsPerTier) {
  TierTable t;
  EXPECT_EQ(t.For("free").agents, 10);
  EXPECT_EQ(t.For("free").api_calls_per_day, 1'000);
  EXPECT_EQ(t.For("free").tokens_per_day, 1'000);
  EXPECT_EQ(t.For("pro").agents, 100);
  EXPECT_EQ(t.For("pro").api_calls_per_day, 50'000);
  EXPECT_EQ(t.For("pro").tokens_per_day, 50'000);
  EXPECT_EQ(t.For("enterprise").api_calls_per_day, kUnlimited);
  EXPECT_EQ(t.For("enterprise").tokens_per_day, kUnlimited);
  EXPECT_EQ(t.For("enterprise").agents, kUnlimited);
  EXPECT_EQ(t.For("gold").tokens_per_day, 1'000) << "an unknown tier gets the free limits";
}

TEST(TierTable, OverridesFromConfiguration) {
  auto t = TierTable::Parse("free.tokensPerDay=3,free.apiCallsPerDay=50,enterprise.tokensPerDay=7");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->For("free").tokens_per_day, 3);
  EXPECT_EQ(t->For("free").api_calls_per_day, 50);
  EXPECT_EQ(t->For("free").agents, 10) << "not overridable here (maxAgents is per organization)";
  EXPECT_EQ(t->For("pro").tokens_per_day, 50'000) << "untouched";
  EXPECT_EQ(t->For("enterprise").tokens_per_day, 7);
  auto unlimited = TierTable::Parse("pro.apiCallsPerDay=unlimited");
  ASSERT_TRUE(unlimited.ok());
  EXPECT_EQ(unlimited->For("pro").api_calls_per_day, kUnlimited);
  EXPECT_TRUE(TierTable::Parse("").ok());
  for (const char* bad : {"free.tokensPerDay", "free=3", "gold.tokensPerDay=3", "free.agents=3",
                          "free.tokensPerDay=-1", "free.tokensPerDay=3x", "free.tokensPerDay=3,",
                          ",free.tokensPerDay=3"}) {
    auto r = TierTable::Parse(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.error().message.find("tier_limits"), std::string::npos);
    }
  }
}

TEST(UtcDays, MidnightArithmetic) {
  EXPECT_EQ(UtcDay(kMidnightS), kDay);
  EXPECT_EQ(UtcDay(kMidnightS - 1), kDay - 1);
  EXPECT_EQ(NextUtcMidnight(kMidnightS), kMidnightS + 86'400);
  EXPECT_EQ(NextUtcMidnight(kMidnightS - 1), kMidnightS);
  EXPECT_EQ(UtcDayLabel(kDay), "2026-11-28");
}

TEST(DailyCounters, CountsUpToTheLimitThenRefusesWithoutCounting) {
  core::ManualClock clock(kMidnightS * 1000 + 3'600'000);
  DailyCounters counters(clock);
  const DailyQuota free{"org-a", 3};
  ASSERT_TRUE(counters.Prepare("org-a", false).ok()) << "no seed: never blocks";
  for (int i = 1; i <= 3; ++i) {
    auto out = counters.Consume(free);
    EXPECT_TRUE(out.allowed) << i;
    EXPECT_EQ(out.used, i);
    EXPECT_EQ(out.day, kDay);
  }
  auto refused = counters.Consume(free);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.used, 3) << "a refused unit is not counted";
  EXPECT_EQ(counters.Peek("org-a"), 3);
  EXPECT_TRUE(counters.Consume({"org-b", 3}).allowed) << "organizations are independent";
  EXPECT_EQ(counters.Peek("org-b"), 1);
}

TEST(DailyCounters, UnlimitedCountsButNeverRefuses) {
  core::ManualClock clock(kMidnightS * 1000);
  DailyCounters counters(clock);
  for (int i = 0; i < 5'000; ++i) ASSERT_TRUE(counters.Consume({"system", kUnlimited}).allowed);
  EXPECT_EQ(counters.Peek("system"), 5'000) << "usage is still reported";
}

TEST(DailyCounters, ResetAtMidnightUtc) {
  core::ManualClock clock((kMidnightS + 86'400) * 1000 - 1'000);  // 23:59:59 UTC
  DailyCounters counters(clock);
  const DailyQuota quota{"org-a", 2};
  EXPECT_TRUE(counters.Consume(quota).allowed);
  EXPECT_TRUE(counters.Consume(quota).allowed);
  EXPECT_FALSE(counters.Consume(quota).allowed);
  clock.Advance(999);  // 23:59:59.999
  EXPECT_FALSE(counters.Consume(quota).allowed) << "still the same day";
  clock.Advance(1);  // 00:00:00.000 the next day
  EXPECT_EQ(counters.Peek("org-a"), 0);
  auto out = counters.Consume(quota);
  EXPECT_TRUE(out.allowed) << "a new day";
  EXPECT_EQ(out.used, 1);
  EXPECT_EQ(out.day, kDay + 1);
}

TEST(DailyCounters, SeededOncePerDayAndOnlyWhereItMayBlock) {
  core::ManualClock clock(kMidnightS * 1000 + 60'000);
  int seeds = 0;
  DailyCounters counters(clock, [&](const std::string& org, int64_t day) -> core::Result<int64_t> {
    ++seeds;
    EXPECT_EQ(org, "org-a");
    return day == kDay ? int64_t{998} : int64_t{0};
  });
  auto io = counters.Prepare("org-a", false);
  ASSERT_FALSE(io.ok());
  EXPECT_TRUE(IsWouldBlock(io.error())) << "a seed reads the store: not on an I/O thread";
  EXPECT_EQ(seeds, 0);
  ASSERT_TRUE(counters.Prepare("org-a", true).ok());
  ASSERT_TRUE(counters.Prepare("org-a", false).ok()) << "in memory now";
  EXPECT_EQ(seeds, 1);
  const DailyQuota free{"org-a", 1'000};
  EXPECT_TRUE(counters.Consume(free).allowed);   // 999
  EXPECT_TRUE(counters.Consume(free).allowed);   // 1,000
  EXPECT_FALSE(counters.Consume(free).allowed);  // the 1,001st of the day, across a restart
  clock.Advance(86'400'000);
  ASSERT_TRUE(counters.Prepare("org-a", true).ok());
  EXPECT_EQ(seeds, 2) << "seeded again on the next day";
  EXPECT_EQ(counters.Peek("org-a"), 0);
}

TEST(DailyCounters, SeedFailureIsReported) {
  core::ManualClock clock(kMidnightS * 1000);
  DailyCounters counters(clock, [](const std::string&, int64_t) -> core::Result<int64_t> {
    return core::Error::Unavailable("store down");
  });
  auto st = counters.Prepare("org-a", true);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind, core::Errc::kUnavailable);
}

TEST(DailyCounters, ObserveRaisesTheLocalCountToASharedValue) {
  core::ManualClock clock(kMidnightS * 1000);
  DailyCounters counters(clock);
  counters.Observe("org-a", kDay, 40);
  counters.Observe("org-a", kDay, 12);
  EXPECT_EQ(counters.Peek("org-a"), 40) << "never lowered";
  counters.Observe("org-a", kDay - 1, 90);
  EXPECT_EQ(counters.Peek("org-a"), 40) << "another day's value is ignored";
  EXPECT_EQ(counters.Consume({"org-a", 100}).used, 41);
}

TEST(DailyCounters, ChangedCountsArePersistedAndSeedTheNextProcess) {
  core::ManualClock clock(kMidnightS * 1000 + 5'000);
  MemoryMetaStore meta;
  {
    DailyCounters counters(clock);
    for (int i = 0; i < 7; ++i) counters.Consume({"org-a", 1'000});
    counters.Consume({"org-b", 1'000});
    auto changed = counters.DrainChanged();
    ASSERT_EQ(changed.size(), 2u);
    ASSERT_TRUE(SaveDailyCounts(meta, "api", changed).ok());
    EXPECT_TRUE(counters.DrainChanged().empty()) << "nothing changed since";
    counters.Consume({"org-a", 1'000});
    ASSERT_TRUE(SaveDailyCounts(meta, "api", counters.DrainChanged()).ok());
  }
  EXPECT_EQ(meta.values["usage:api:org-a"], std::to_string(kDay) + " 8");
  // A restarted process.
  DailyCounters restarted(clock, [&](const std::string& org, int64_t day) {
    return LoadDailyCount(meta, "api", org, day);
  });
  ASSERT_TRUE(restarted.Prepare("org-a", true).ok());
  EXPECT_EQ(restarted.Peek("org-a"), 8);
  EXPECT_EQ(*LoadDailyCount(meta, "api", "org-a", kDay + 1), 0) << "yesterday's count";
  EXPECT_EQ(*LoadDailyCount(meta, "api", "org-c", kDay), 0) << "never counted";
  meta.values["usage:api:org-d"] = "garbage";
  EXPECT_EQ(*LoadDailyCount(meta, "api", "org-d", kDay), 0);
}

TEST(OrgTiers, LoadsOnceKeepsInMemoryAndSystemOrgIsEnterprise) {
  core::ManualClock clock(kMidnightS * 1000);
  MemoryStore store;
  Organization org;
  org.organization_id = "org-a";
  org.slug = "org-a";
  org.plan_tier = "pro";
  ASSERT_TRUE(store.orgs().Create(TenantScope::Org(org.organization_id), org).ok());
  Organization system = org;
  system.organization_id = "system";
  system.slug = "system";
  system.plan_tier = "free";  // whatever it stores
  ASSERT_TRUE(store.orgs().Create(TenantScope::Org(system.organization_id), system).ok());
  OrgTiers tiers(store.orgs(), clock, "system", 30'000);

  EXPECT_EQ(*tiers.TierOf("system", false), "enterprise") << "never throttles the admin";
  auto io = tiers.TierOf("org-a", false);
  ASSERT_FALSE(io.ok());
  EXPECT_TRUE(IsWouldBlock(io.error()));
  EXPECT_EQ(*tiers.TierOf("org-a", true), "pro");
  EXPECT_EQ(*tiers.TierOf("org-a", false), "pro") << "in memory now";

  org.plan_tier = "enterprise";
  ASSERT_TRUE(store.orgs().Update(TenantScope::Org(org.organization_id), org).ok());
  EXPECT_EQ(*tiers.TierOf("org-a", false), "pro") << "a change elsewhere: within the TTL";
  tiers.Invalidate("org-a");
  EXPECT_EQ(*tiers.TierOf("org-a", true), "enterprise") << "a change here: at once";
  org.plan_tier = "free";
  ASSERT_TRUE(store.orgs().Update(TenantScope::Org(org.organization_id), org).ok());
  clock.Advance(30'000);
  EXPECT_FALSE(tiers.TierOf("org-a", false).ok()) << "expired";
  EXPECT_EQ(*tiers.TierOf("org-a", true), "free");
  EXPECT_EQ(*tiers.TierOf("unknown-org", true), "free");
}

}  // namespace
}  // namespace agentidp::domain
