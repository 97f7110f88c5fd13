#include "domain/oauth/rate_limiter.hpp"

#include <gtest/gtest.h>

namespace agentidp::domain {
namespace {

TEST(RateLimiter, AllowsUpToTheLimitPerWindowThenRefuses) {
  core::ManualClock clock(1'800'000'000'000);  // aligned to a minute
  RateLimiter rl(clock, 3, 60);
  for (int i = 0; i < 3; ++i) {
    auto d = rl.Hit("a");
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.remaining, 2 - i);
    EXPECT_EQ(d.limit, 3);
  }
  clock.Advance(10'000);
  auto refused = rl.Hit("a");
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_s, 50);
  EXPECT_TRUE(rl.Hit("b").allowed) << "keys are independent";
  clock.Advance(50'000);
  EXPECT_TRUE(rl.Hit("a").allowed) << "a new window starts";
}

TEST(FailureThrottle, SlowsDownAfterFreeFailuresAndResetsOnSuccess) {
  core::ManualClock clock;
  FailureThrottle t(clock, 2, 300, 60);
  t.RecordFailure("k");
  EXPECT_EQ(t.RetryAfter("k"), 0);
  t.RecordFailure("k");
  EXPECT_EQ(t.RetryAfter("k"), 1) << "after 2 free failures the next attempt waits";
  t.RecordFailure("k");
  EXPECT_EQ(t.RetryAfter("k"), 2);
  for (int i = 0; i < 20; ++i) t.RecordFailure("k");
  EXPECT_EQ(t.RetryAfter("k"), 60) << "capped";
  EXPECT_EQ(t.RetryAfter("other"), 0);
  clock.Advance(61'000);
  EXPECT_EQ(t.RetryAfter("k"), 0);
  t.RecordSuccess("k");
  t.RecordFailure("k");
  EXPECT_EQ(t.RetryAfter("k"), 0) << "a success starts the count again";
}

}  // namespace
}  // namespace agentidp::domain
