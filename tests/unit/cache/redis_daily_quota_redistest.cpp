// The organizations' daily counters in Redis (SPEC §8) against a real Redis
// (AGENTIDP_TEST_REDIS_URL, set by scripts/with-services.sh): decided with the per-client
// window in one script call, exact under concurrency across nodes (each node its own Client
// and connections), keys namespaced by UTC day with an expiry at the next midnight, and
// counting continues locally from the last shared value while Redis is unreachable. (A
// script Redis forgot, NOSCRIPT, is not provoked here: SCRIPT FLUSH would disturb the tests
// running in parallel on the same server; the multi-node fault tests restart Redis.)

#include "cache/redis/redis_rate_limiter.hpp"
#include "contract/pg_support.hpp"  // TcpProxy
#include "unit/cache/redis_support.hpp"

#include <atomic>
#include <thread>

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RedisQuotaTest);

namespace agentidp::cache::redis {
namespace {

using contract::TcpProxy;

// 2100-01-01T00:00:00Z: day counters expire at an absolute time (EXPIREAT), which must lie in
// the future whenever the test runs.
constexpr int64_t kMidnightS = 4'102'444'800;

class RedisQuotaTest : public RedisTest {};

TEST_P(RedisQuotaTest, DailyQuotaAndWindowAreOneDecisionSharedByEveryNode) {
  core::ManualClock clock((kMidnightS + 86'400 - 90) * 1000);  // 23:58:30 UTC
  Client node_a(Options()), node_b(Options());
  RedisRateLimiter a(node_a, clock, "token", 2, 60, "tokens");
  RedisRateLimiter b(node_b, clock, "token", 2, 60, "tokens");
  const domain::DailyQuota quota{"org-a", 3};
  auto first = a.Hit("client-1", &quota, true);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->allowed);
  EXPECT_EQ(first->quota_used, 1);
  EXPECT_EQ(first->remaining, 1);
  EXPECT_TRUE(b.Hit("client-1", &quota, true)->allowed) << "the organization's 2nd";
  auto window_full = a.Hit("client-1", &quota, true);
  EXPECT_FALSE(window_full->allowed);
  EXPECT_FALSE(window_full->quota_exceeded);
  EXPECT_EQ(window_full->retry_after_s, 30);
  EXPECT_EQ(window_full->quota_used, 2) << "refused by the window: the quota is not consumed";

  EXPECT_TRUE(b.Hit("client-2", &quota, true)->allowed);  // the organization's 3rd
  auto day_full = a.Hit("client-2", &quota, true);
  ASSERT_TRUE(day_full.ok());
  EXPECT_FALSE(day_full->allowed);
  EXPECT_TRUE(day_full->quota_exceeded);
  EXPECT_EQ(day_full->quota_used, 3);
  EXPECT_EQ(day_full->retry_after_s, 90) << "seconds to the next 00:00 UTC";
  EXPECT_EQ(day_full->remaining, 1) << "refused by the quota: the window is not consumed";
  EXPECT_EQ(*b.UsageToday("org-a"), 3);

  // The day counter: namespaced by day, expires shortly after the next midnight.
  const std::string day_key = prefix_ + "quota:tokens:2100-01-01:org-a";
  EXPECT_EQ(a.DailyKey("org-a", kMidnightS / 86'400), day_key);
  EXPECT_EQ(Raw({"GET", day_key}).text, "3");
  Reply expires_at = Raw({"EXPIRETIME", day_key});
  EXPECT_EQ(expires_at.integer, kMidnightS + 86'400 + 300);
  const std::string window_key =
      prefix_ + "rl:token:" + std::to_string(kMidnightS + 86'400 - 120) + ":client-2";
  EXPECT_EQ(Raw({"GET", window_key}).text, "1");

  // Quota only (federated grants have no client window).
  EXPECT_TRUE(b.Hit("", &quota, true)->quota_exceeded);

  clock.Advance(90'000);  // the next day
  auto next_day = a.Hit("client-2", &quota, true);
  EXPECT_TRUE(next_day->allowed);
  EXPECT_EQ(next_day->quota_used, 1);
  EXPECT_EQ(Raw({"GET", prefix_ + "quota:tokens:2100-01-02:org-a"}).text, "1");

  RedisRateLimiter api(node_a, clock, "api", 1'000, 60, "api");
  const domain::DailyQuota unlimited{"system", domain::kUnlimited};
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(api.Hit("c", &unlimited, true)->allowed);
  EXPECT_EQ(*api.UsageToday("system"), 20) << "unlimited still counts";
}

// Eight threads on two nodes race for an organization's last 50 units: exactly 50 are
// granted, never more, and the counter ends at exactly 50.
TEST_P(RedisQuotaTest, DailyQuotaIsExactUnderConcurrencyAcrossNodes) {
  core::SystemClock clock;
  Client node_a(Options()), node_b(Options());
  RedisRateLimiter a(node_a, clock, "token", 1'000'000, 60, "tokens");
  RedisRateLimiter b(node_b, clock, "token", 1'000'000, 60, "tokens");
  const domain::DailyQuota quota{"org-race", 50};
  std::atomic<int> granted{0}, refused{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      RedisRateLimiter& node = t % 2 == 0 ? a : b;
      for (int i = 0; i < 25; ++i) {
        auto d = node.Hit("client-" + std::to_string(t), &quota, true);
        if (!d.ok())
          ++failed;
        else if (d->allowed)
          ++granted;
        else
          ++refused;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(granted.load(), 50);
  EXPECT_EQ(refused.load(), 150);
  const std::string key = a.DailyKey("org-race", domain::UtcDay(clock.NowSeconds()));
  EXPECT_EQ(Raw({"GET", key}).text, "50") << "refused requests did not count";
  EXPECT_TRUE(node_a.Up());
  EXPECT_TRUE(node_b.Up());
}

TEST_P(RedisQuotaTest, WhileRedisIsDownTheDayCountContinuesFromTheLastSharedValue) {
  TcpProxy proxy(ServerPort());
  ASSERT_TRUE(proxy.Start());
  core::ManualClock clock(kMidnightS * 1000 + 3'600'000);
  Client node(Options(proxy.port()));
  RedisRateLimiter limiter(node, clock, "token", 100, 60, "tokens");
  const domain::DailyQuota quota{"org-a", 5};
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(limiter.Hit("c", &quota, true)->allowed);
  proxy.Stop();
  auto local = limiter.Hit("c", &quota, true);
  ASSERT_TRUE(local.ok()) << "a Redis failure never fails the request";
  EXPECT_TRUE(local->allowed);
  EXPECT_EQ(local->quota_used, 4) << "continues from Redis's 3";
  EXPECT_TRUE(limiter.Hit("c", &quota, false)->allowed) << "the 5th, locally, on an I/O thread";
  auto refused = limiter.Hit("c", &quota, false);
  EXPECT_FALSE(refused->allowed);
  EXPECT_TRUE(refused->quota_exceeded);
  EXPECT_EQ(*limiter.UsageToday("org-a"), 5);
}

// Redis restarted without persistence: the day's counter is gone. The next node to count
// restores it to the last count it knew (a lower bound) instead of starting the day over.
TEST_P(RedisQuotaTest, ADayCounterRedisLostIsRestoredFromTheNodesLastKnownCount) {
  core::ManualClock clock(kMidnightS * 1000 + 7'200'000);
  Client node_a(Options()), node_b(Options());
  RedisRateLimiter a(node_a, clock, "token", 100, 60, "tokens");
  RedisRateLimiter b(node_b, clock, "token", 100, 60, "tokens");
  const domain::DailyQuota quota{"org-a", 10};
  for (int i = 0; i < 6; ++i) ASSERT_TRUE((i < 4 ? a : b).Hit("c", &quota, true)->allowed);
  const std::string key = a.DailyKey("org-a", kMidnightS / 86'400);
  ASSERT_EQ(Raw({"DEL", key}).integer, 1);  // lost
  auto restored = a.Hit("c", &quota, true);
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(restored->quota_used, 5) << "node A knew 4; this is the 5th it knows of";
  EXPECT_EQ(Raw({"EXPIRETIME", key}).integer, kMidnightS + 86'400 + 300);
  EXPECT_EQ(b.Hit("c", &quota, true)->quota_used, 6)
      << "the counter exists again: B's own last count (6) is not used";

  // An operator who lowers a counter (SET, keeping the TTL) is obeyed.
  Raw({"SET", key, "1", "KEEPTTL"});
  EXPECT_EQ(a.Hit("c", &quota, true)->quota_used, 2);
}

INSTANTIATE_TEST_SUITE_P(Redis, RedisQuotaTest, ::testing::ValuesIn(RedisUrls()));

}  // namespace
}  // namespace agentidp::cache::redis
