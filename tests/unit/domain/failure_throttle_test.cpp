#include "domain/oauth/rate_limiter.hpp"

#include <gtest/gtest.h>

namespace agentidp::domain {
namespace {

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
