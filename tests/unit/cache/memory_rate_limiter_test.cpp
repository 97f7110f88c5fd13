#include "cache/memory/memory_rate_limiter.hpp"

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

TEST(MemoryRateLimiter, AnswersInPlaceNeverAsynchronously) {
  core::ManualClock clock(1'800'000'000'000);
  MemoryRateLimiter rl(clock, 3, 60);
  EXPECT_FALSE(rl.CanHitAsync()) << "the token endpoint prepares no continuation for it";
  EXPECT_FALSE(rl.HitAsync("a", [](domain::RateDecision) { ADD_FAILURE(); }));
  EXPECT_EQ(rl.Count("a").remaining, 2) << "the refused asynchronous call counted nothing";
}

}  // namespace
}  // namespace agentidp::cache
