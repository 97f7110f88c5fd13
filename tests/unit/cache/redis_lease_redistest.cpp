// Leased shared rate limits against a real Redis (AGENTIDP_TEST_REDIS_URL, set by
// scripts/with-services.sh; docs/decisions.md "Shared rate limits: exact near the limit, leased
// far from it"): small limits and finite quotas stay exact (one script call per hit, nothing
// counted ahead); large limits take grants of hits from Redis and answer from the node's
// credit without a round trip, never admitting more than the limit across nodes; unlimited
// daily counts are counted in memory and added to Redis by the next script call or Flush().
//
// Script calls are counted with INFO commandstats. Other tests share the server and can only
// add to that count, so an upper bound is checked over a few attempts, each with a fresh key.

#include "cache/redis/redis_rate_limiter.hpp"
#include "contract/pg_support.hpp"  // TcpProxy
#include "domain/would_block.hpp"
#include "unit/cache/redis_support.hpp"

#include <atomic>
#include <cstring>
#include <sstream>
#include <thread>

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RedisLeaseTest);

namespace agentidp::cache::redis {
namespace {

using contract::TcpProxy;

// 2100-01-01T00:00:00Z (day counters expire at an absolute time that must lie ahead), plus
// one hour: windows of 60 s start on the minute.
constexpr int64_t kMidnightS = 4'102'444'800;
constexpr int64_t kStartMs = (kMidnightS + 3'600) * 1000;
const std::string kDay = "2100-01-01";

class RedisLeaseTest : public RedisTest {
 protected:
  // EVALSHA + EVAL calls the server has run so far (every client, every test).
  int64_t ScriptCalls() {
    Reply info = Raw({"INFO", "commandstats"});
    int64_t total = 0;
    std::istringstream lines(info.text);
    std::string line;
    while (std::getline(lines, line)) {
      for (const char* name : {"cmdstat_evalsha:calls=", "cmdstat_eval:calls="}) {
        if (line.rfind(name, 0) == 0) total += std::stoll(line.substr(std::strlen(name)));
      }
    }
    return total;
  }
  int64_t Counter(const std::string& key) {
    Reply r = Raw({"GET", prefix_ + key});
    return r.kind == Reply::Kind::kString ? std::stoll(r.text) : 0;
  }
  std::string WindowKey(const std::string& name, const std::string& client, int64_t now_ms) {
    const int64_t s = now_ms / 1000;
    return "rl:" + name + ":" + std::to_string(s - s % 60) + ":" + client;
  }
};

TEST_P(RedisLeaseTest, SmallLimitsStayExactOneScriptCallPerHit) {
  core::ManualClock clock(kStartMs);
  Client node(Options());
  RedisRateLimiter limiter(node, clock, "token", 100, 60, "tokens");
  const domain::DailyQuota unlimited{"org-e", domain::kUnlimited};
  const int64_t calls_before = ScriptCalls();
  for (int i = 0; i < 100; ++i) {
    auto d = limiter.Hit("client-1", &unlimited, true);
    ASSERT_TRUE(d.ok());
    ASSERT_TRUE(d->allowed) << "hit " << i + 1;
    EXPECT_EQ(d->remaining, 99 - i);
    // Nothing counted ahead: an I/O thread still needs Redis for the next hit.
    auto io = limiter.Hit("client-1", &unlimited, false);
    ASSERT_FALSE(io.ok());
    EXPECT_TRUE(domain::IsWouldBlock(io.error()));
  }
  auto refused = limiter.Hit("client-1", &unlimited, true);
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused->allowed);
  EXPECT_EQ(refused->remaining, 0);
  EXPECT_GE(ScriptCalls() - calls_before, 101) << "one script call per hit";
  EXPECT_EQ(Counter(WindowKey("token", "client-1", kStartMs)), 100);
  EXPECT_EQ(Counter("quota:tokens:" + kDay + ":org-e"), 100) << "counted per hit, exactly";
}

TEST_P(RedisLeaseTest, AFiniteQuotaKeepsLargeLimitsExact) {
  core::ManualClock clock(kStartMs);
  Client node(Options());
  RedisRateLimiter limiter(node, clock, "api", 10'000, 60, "api");
  const domain::DailyQuota quota{"org-pro", 50'000};
  const int64_t calls_before = ScriptCalls();
  for (int i = 0; i < 50; ++i) {
    auto d = limiter.Hit("agent-1", &quota, true);
    ASSERT_TRUE(d.ok());
    ASSERT_TRUE(d->allowed);
    EXPECT_EQ(d->quota_used, i + 1);
    EXPECT_EQ(d->remaining, 10'000 - (i + 1));
  }
  EXPECT_GE(ScriptCalls() - calls_before, 50) << "one script call per hit";
  EXPECT_EQ(Counter(WindowKey("api", "agent-1", kStartMs)), 50) << "nothing leased";
  EXPECT_EQ(Counter("quota:api:" + kDay + ":org-pro"), 50);
}

TEST_P(RedisLeaseTest, LargeLimitsAreAnsweredFromLeasedCredit) {
  const int64_t lease = 100;  // min(256, 10,000 / 100)
  core::ManualClock clock(kStartMs);
  Client node(Options());
  RedisRateLimiter limiter(node, clock, "api", 10'000, 60, "api");
  ASSERT_EQ(limiter.LeaseSize(), lease);
  const domain::DailyQuota unlimited{"org-ent", domain::kUnlimited};
  const int64_t calls_before = ScriptCalls();
  int64_t last_remaining = 10'000, blocking = 0;
  for (int i = 0; i < 2'000; ++i) {
    // Each hit is tried as on an I/O thread first, where the limiter never calls Redis
    // (WouldBlock instead): the blocking retries are this limiter's only script calls (no
    // Flush runs here).
    auto d = limiter.Hit("agent-1", &unlimited, false);
    if (!d.ok()) {
      ASSERT_TRUE(domain::IsWouldBlock(d.error()));
      ++blocking;
      d = limiter.Hit("agent-1", &unlimited, true);
    }
    ASSERT_TRUE(d.ok());
    ASSERT_TRUE(d->allowed) << "hit " << i + 1;
    EXPECT_EQ(d->limit, 10'000);
    EXPECT_EQ(d->remaining, 10'000 - (i + 1)) << "one node alone: exact remaining";
    EXPECT_LT(d->remaining, last_remaining);
    last_remaining = d->remaining;
    EXPECT_EQ(d->reset_epoch_s, (kStartMs / 1000) - (kStartMs / 1000) % 60 + 60);
  }
  EXPECT_EQ(blocking, 2'000 / lease) << "one script call per grant of L hits";
  // Redis ran at least those (its count is server-wide: tests running beside this one add
  // theirs, so it bounds nothing from above).
  EXPECT_GE(ScriptCalls() - calls_before, blocking);
  const int64_t window = Counter(WindowKey("api", "agent-1", kStartMs));
  EXPECT_GE(window, 2'000);
  EXPECT_LE(window, 2'000 + lease);
}

TEST_P(RedisLeaseTest, TwoNodesNeverAdmitMoreThanTheLimit) {
  core::ManualClock clock(kStartMs);
  Client node_a(Options()), node_b(Options());
  RedisRateLimiter a(node_a, clock, "token", 1'000, 60, "tokens");
  RedisRateLimiter b(node_b, clock, "token", 1'000, 60, "tokens");
  const int64_t lease = a.LeaseSize();
  ASSERT_EQ(lease, 10);
  const domain::DailyQuota unlimited{"org-ent", domain::kUnlimited};
  int64_t allowed = 0;
  bool a_refuses = false, b_refuses = false;
  for (int i = 0; i < 5'000 && !(a_refuses && b_refuses); ++i) {
    RedisRateLimiter& node = i % 2 == 0 ? a : b;
    auto d = node.Hit("client-1", &unlimited, true);
    ASSERT_TRUE(d.ok());
    EXPECT_GE(d->remaining, 0);
    if (d->allowed) {
      ++allowed;
      (i % 2 == 0 ? a_refuses : b_refuses) = false;
    } else {
      (i % 2 == 0 ? a_refuses : b_refuses) = true;
    }
  }
  EXPECT_TRUE(a_refuses && b_refuses);
  EXPECT_LE(allowed, 1'000);
  EXPECT_GE(allowed, 1'000 - 2 * lease);
  EXPECT_LE(Counter(WindowKey("token", "client-1", kStartMs)), 1'000);
  a.Flush();
  b.Flush();
  EXPECT_EQ(Counter("quota:tokens:" + kDay + ":org-ent"), allowed)
      << "every admitted hit counted once in the day";
}

TEST_P(RedisLeaseTest, ConcurrentHitsOnOneNodeAdmitEachGrantedHitOnce) {
  core::ManualClock clock(kStartMs);
  Client node(Options());
  RedisRateLimiter limiter(node, clock, "api", 10'000, 60, "api");
  const domain::DailyQuota unlimited{"org-ent", domain::kUnlimited};
  std::atomic<int> allowed{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1'000; ++i) {
        // The I/O-thread call and the blocking one race with the other threads.
        auto d = limiter.Hit("agent-1", &unlimited, (i + t) % 3 == 0);
        if (!d.ok() && domain::IsWouldBlock(d.error()))
          d = limiter.Hit("agent-1", &unlimited, true);
        if (!d.ok())
          ++failed;
        else if (d->allowed)
          ++allowed;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(allowed.load(), 4'000);
  const int64_t window = Counter(WindowKey("api", "agent-1", kStartMs));
  EXPECT_GE(window, 4'000);
  EXPECT_LE(window, 4'000 + 4 * limiter.LeaseSize());
  limiter.Flush();
  EXPECT_EQ(Counter("quota:api:" + kDay + ":org-ent"), 4'000);
  EXPECT_EQ(*limiter.UsageToday("org-ent"), 4'000);
}

TEST_P(RedisLeaseTest, UnlimitedDailyCountsAreFlushedExactly) {
  core::ManualClock clock(kStartMs);
  Client node_a(Options()), node_b(Options());
  RedisRateLimiter a(node_a, clock, "api", 10'000, 60, "api");
  RedisRateLimiter b(node_b, clock, "api", 10'000, 60, "api");
  const domain::DailyQuota unlimited{"org-ent", domain::kUnlimited};
  const domain::DailyQuota other{"org-other", domain::kUnlimited};
  constexpr int kHits = 250;
  for (int i = 0; i < kHits; ++i) {
    ASSERT_TRUE(a.Hit("agent-" + std::to_string(i % 3), &unlimited, true)->allowed);
  }
  // A quota without a window (federated grants) is counted the same way, without Redis.
  for (int i = 0; i < 5; ++i) {
    auto d = a.Hit("", &other, false);
    ASSERT_TRUE(d.ok());
    EXPECT_TRUE(d->allowed);
  }
  const std::string day_key = "quota:api:" + kDay + ":org-ent";
  EXPECT_LE(Counter(day_key), kHits) << "some counts may have gone with script calls";
  EXPECT_EQ(*a.UsageToday("org-ent"), kHits) << "Redis's count plus this node's pending";
  EXPECT_EQ(*a.UsageToday("org-other"), 5);
  a.Flush();
  EXPECT_EQ(Counter(day_key), kHits);
  EXPECT_EQ(Counter("quota:api:" + kDay + ":org-other"), 5);
  EXPECT_EQ(Raw({"EXPIRETIME", prefix_ + day_key}).integer, kMidnightS + 86'400 + 300);
  EXPECT_EQ(*a.UsageToday("org-ent"), kHits);
  EXPECT_EQ(*b.UsageToday("org-ent"), kHits) << "the other node sees it after the flush";
  a.Flush();
  EXPECT_EQ(Counter(day_key), kHits) << "nothing is sent twice";

  // Counts of the other node and of a later flush add up.
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(b.Hit("agent-b", &unlimited, true)->allowed);
  b.Flush();
  EXPECT_EQ(Counter(day_key), kHits + 7);
  EXPECT_EQ(*a.UsageToday("org-ent"), kHits + 7);
}

TEST_P(RedisLeaseTest, CreditNeverReportsNegativeRemainingAndDiesWithItsWindow) {
  core::ManualClock clock(kStartMs);
  Client node_a(Options()), node_b(Options());
  RedisRateLimiter a(node_a, clock, "token", 1'000, 60, "tokens");
  RedisRateLimiter b(node_b, clock, "token", 1'000, 60, "tokens");
  const domain::DailyQuota unlimited{"org-ent", domain::kUnlimited};
  auto first = a.Hit("client-1", &unlimited, true);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->remaining, 999) << "1,000 - 10 granted + 9 credit";
  // Node B takes everything else of the window.
  int64_t b_allowed = 0;
  for (int i = 0; i < 1'100; ++i) b_allowed += b.Hit("client-1", &unlimited, true)->allowed;
  EXPECT_EQ(b_allowed, 990);
  // A's credit still answers, on an I/O thread, never with a negative remaining.
  for (int i = 0; i < 9; ++i) {
    auto d = a.Hit("client-1", &unlimited, false);
    ASSERT_TRUE(d.ok()) << "credit hit " << i + 1;
    EXPECT_TRUE(d->allowed);
    EXPECT_GE(d->remaining, 0);
    // limit - Redis's count with the grant (10) + credit left: B's later hits are not seen
    // without a round trip, so it over-states what is left, never below zero.
    EXPECT_EQ(d->remaining, 990 + 8 - i);
  }
  auto refused = a.Hit("client-1", &unlimited, true);
  EXPECT_FALSE(refused->allowed) << "never beyond the limit";
  EXPECT_EQ(refused->remaining, 0);
  EXPECT_EQ(refused->retry_after_s, 60 - (kStartMs / 1000) % 60);

  // A credit left in one window is not used in the next.
  clock.Advance(30'000);
  ASSERT_TRUE(a.Hit("client-2", &unlimited, true)->allowed);  // 9 credit left
  ASSERT_TRUE(a.Hit("client-2", &unlimited, false).ok());
  clock.Advance(60'000);
  auto next = a.Hit("client-2", &unlimited, false);
  ASSERT_FALSE(next.ok()) << "the new window needs Redis";
  EXPECT_TRUE(domain::IsWouldBlock(next.error()));
  auto granted = a.Hit("client-2", &unlimited, true);
  ASSERT_TRUE(granted.ok());
  EXPECT_TRUE(granted->allowed);
  EXPECT_EQ(granted->remaining, 999);
  EXPECT_EQ(Counter(WindowKey("token", "client-2", clock.NowMs())), 10);
  a.Flush();  // forgets the old window's credit
  EXPECT_TRUE(a.Hit("client-2", &unlimited, false).ok()) << "the current window's credit stays";
}

TEST_P(RedisLeaseTest, CreditsOutliveAnOutageAndCountsReachRedisAfterIt) {
  TcpProxy proxy(ServerPort());
  ASSERT_TRUE(proxy.Start());
  core::ManualClock clock(kStartMs);
  Client node(Options(proxy.port()));
  RedisRateLimiter limiter(node, clock, "api", 1'000, 60, "api");
  const domain::DailyQuota unlimited{"org-ent", domain::kUnlimited};
  ASSERT_TRUE(limiter.Hit("agent-1", &unlimited, true)->allowed);  // grant of 10
  proxy.Stop();
  for (int i = 0; i < 9; ++i) {
    auto d = limiter.Hit("agent-1", &unlimited, false);
    ASSERT_TRUE(d.ok());
    EXPECT_TRUE(d->allowed);
  }
  // Credit gone, Redis unreachable: the local fallback decides, as without leases.
  auto local = limiter.Hit("agent-1", &unlimited, true);
  ASSERT_TRUE(local.ok()) << "a Redis failure never fails the request";
  EXPECT_TRUE(local->allowed);
  limiter.Flush();  // cannot reach Redis: the counts stay pending
  EXPECT_GE(*limiter.UsageToday("org-ent"), 10);
  ASSERT_TRUE(proxy.Start());
  ASSERT_TRUE(WaitFor([&] {
    limiter.Flush();
    return Counter("quota:api:" + kDay + ":org-ent") >= 10;
  })) << "the credit hits counted during the outage reach Redis once it is back";
  // The day counter did not exist in Redis yet: it is created from this node's last known
  // count (the hit it admitted alone during the outage) plus the 10 counted ahead.
  EXPECT_EQ(Counter("quota:api:" + kDay + ":org-ent"), 11);
  EXPECT_EQ(*limiter.UsageToday("org-ent"), 11);
}

INSTANTIATE_TEST_SUITE_P(Redis, RedisLeaseTest, ::testing::ValuesIn(RedisUrls()));

}  // namespace
}  // namespace agentidp::cache::redis
