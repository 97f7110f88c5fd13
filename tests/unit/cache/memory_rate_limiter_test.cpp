#include "cache/memory/memory_rate_limiter.hpp"

#include "domain/would_block.hpp"

#include <gtest/gtest.h>

namespace agentidp::cache {
namespace {

TEST(MemoryRateLimiter, AllowsUpToTheLimitPerWindowThenRefuses) {
  core::ManualClock clock(1'800'000'000'000);  // aligned to a minute
  MemoryRateLimiter rl(clock, 3, 60);
  for (int i = 0; i < 3; ++i) {
    auto d = rl.Hit("a", false);
    ASSERT_TRUE(d.ok()) << "never blocks, not even on an I/O thread";
    EXPECT_TRUE(d->allowed);
    EXPECT_EQ(d->remaining, 2 - i);
    EXPECT_EQ(d->limit, 3);
    EXPECT_EQ(d->reset_epoch_s, 1'800'000'060);
  }
  clock.Advance(10'000);
  auto refused = rl.Count("a");
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 0);
  EXPECT_EQ(refused.retry_after_s, 50);
  EXPECT_TRUE(rl.Count("b").allowed) << "keys are independent";
  clock.Advance(50'000);
  EXPECT_TRUE(rl.Count("a").allowed) << "a new window starts";
  EXPECT_EQ(rl.limit(), 3);
}

// The per-client window and the organization's daily quota are one decision: a request
// refused by one consumes neither (SPEC §8).
TEST(MemoryRateLimiter, WindowAndDailyQuotaAreOneDecision) {
  constexpr int64_t kMidnightS = 1'795'824'000;                // 2026-11-28T00:00:00Z
  core::ManualClock clock((kMidnightS + 86'400 - 90) * 1000);  // 23:58:30 UTC
  domain::DailyCounters daily(clock);
  MemoryRateLimiter rl(clock, 2, 60, &daily);
  const domain::DailyQuota quota{"org-a", 3};
  auto first = rl.Hit("client-1", &quota, false);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->allowed);
  EXPECT_EQ(first->quota_used, 1);
  EXPECT_EQ(first->quota_limit, 3);
  EXPECT_TRUE(rl.Hit("client-1", &quota, false)->allowed);
  auto window_full = rl.Hit("client-1", &quota, false);
  EXPECT_FALSE(window_full->allowed);
  EXPECT_FALSE(window_full->quota_exceeded);
  EXPECT_EQ(window_full->retry_after_s, 30) << "the end of the minute";
  EXPECT_EQ(daily.Peek("org-a"), 2) << "refused by the window: the quota is not consumed";

  EXPECT_TRUE(rl.Hit("client-2", &quota, false)->allowed);  // the organization's 3rd
  auto day_full = rl.Hit("client-2", &quota, false);
  ASSERT_TRUE(day_full.ok());
  EXPECT_FALSE(day_full->allowed);
  EXPECT_TRUE(day_full->quota_exceeded);
  EXPECT_EQ(day_full->quota_used, 3);
  EXPECT_EQ(day_full->retry_after_s, 90) << "seconds to the next 00:00 UTC";
  EXPECT_EQ(day_full->remaining, 1) << "refused by the quota: the window is not consumed";
  EXPECT_EQ(day_full->limit, 2) << "X-RateLimit-* stay the window's";

  // Quota only (no client window), e.g. federated grants.
  auto only = rl.Hit("", &quota, false);
  EXPECT_FALSE(only->allowed);
  EXPECT_TRUE(only->quota_exceeded);

  clock.Advance(90'000);  // 00:00:00 the next day
  auto next_day = rl.Hit("client-2", &quota, false);
  EXPECT_TRUE(next_day->allowed);
  EXPECT_EQ(next_day->quota_used, 1);
  EXPECT_TRUE(rl.Hit("client-3", nullptr, false)->allowed) << "a hit without a quota";
  EXPECT_EQ(daily.Peek("org-a"), 1);
}

TEST(MemoryRateLimiter, SeedingADailyCountMovesTheRequestToAWorker) {
  core::ManualClock clock(1'795'824'000'000);
  domain::DailyCounters daily(
      clock, [](const std::string&, int64_t) -> core::Result<int64_t> { return int64_t{5}; });
  MemoryRateLimiter rl(clock, 100, 60, &daily);
  const domain::DailyQuota quota{"org-a", 6};
  auto io = rl.Hit("c", &quota, false);
  ASSERT_FALSE(io.ok());
  EXPECT_TRUE(domain::IsWouldBlock(io.error()));
  EXPECT_EQ(rl.Hit("c", &quota, true)->remaining, 99) << "the WouldBlock answer counted nothing";
  EXPECT_EQ(*rl.UsageToday("org-a"), 6) << "seeded 5, plus this one";
  auto refused = rl.Hit("c", &quota, false);
  ASSERT_TRUE(refused.ok()) << "in memory now";
  EXPECT_TRUE(refused->quota_exceeded);
  MemoryRateLimiter plain(clock, 100);
  EXPECT_EQ(*plain.UsageToday("org-a"), 0) << "a limiter without daily counters";
  EXPECT_TRUE(plain.Hit("c", &quota, false)->allowed) << "ignores quotas";
}

TEST(MemoryRateLimiter, AnswersInPlaceNeverAsynchronously) {
  core::ManualClock clock(1'800'000'000'000);
  MemoryRateLimiter rl(clock, 3, 60);
  EXPECT_FALSE(rl.CanHitAsync()) << "the token endpoint prepares no continuation for it";
  EXPECT_FALSE(
      rl.HitAsync("a", nullptr, [](core::Result<domain::RateDecision>) { ADD_FAILURE(); }));
  EXPECT_EQ(rl.Hit("a", false)->remaining, 2) << "the refused asynchronous call counted nothing";
}

}  // namespace
}  // namespace agentidp::cache
