// The Redis shared state against a real Redis (AGENTIDP_TEST_REDIS_URL, set by
// scripts/with-services.sh): limits and single-use keys shared by several nodes (each node is
// its own Client, with its own connections), the cluster bus between nodes, degradation to
// local state while Redis is unreachable and recovery without a restart. "Unreachable" is a
// loopback proxy in front of the server that a test can stop, so the other tests, which share
// the server, are not disturbed.

#include "cache/redis/redis_cluster_bus.hpp"
#include "cache/redis/redis_rate_limiter.hpp"
#include "cache/redis/redis_replay_cache.hpp"
#include "contract/pg_support.hpp"  // TcpProxy
#include "domain/would_block.hpp"
#include "unit/cache/redis_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <mutex>

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RedisTest);

namespace agentidp::cache::redis {
namespace {

using contract::TcpProxy;
using std::chrono::milliseconds;

constexpr int64_t kMinute = 1'800'000'000'000;  // aligned to a minute

TEST_P(RedisTest, RateLimitIsSharedByEveryNode) {
  core::ManualClock clock(kMinute + 1'000);
  Client node_a(Options()), node_b(Options());
  RedisRateLimiter a(node_a, clock, "token", 5), b(node_b, clock, "token", 5);
  for (int i = 0; i < 5; ++i) {
    auto d = (i % 2 == 0 ? a : b).Hit("client-1", true);
    ASSERT_TRUE(d.ok());
    EXPECT_TRUE(d->allowed) << i;
    EXPECT_EQ(d->limit, 5);
    EXPECT_EQ(d->remaining, 4 - i) << "one count for the whole deployment";
    EXPECT_EQ(d->reset_epoch_s, kMinute / 1000 + 60);
  }
  auto refused = b.Hit("client-1", true);
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused->allowed) << "the 6th request, whichever node it reaches";
  EXPECT_EQ(refused->remaining, 0);
  EXPECT_EQ(refused->retry_after_s, 59);
  EXPECT_TRUE(a.Hit("client-2", true)->allowed) << "keys are independent";
  RedisRateLimiter api(node_a, clock, "api", 5);
  EXPECT_TRUE(api.Hit("client-1", true)->allowed) << "limiters are independent";

  // The counter expires shortly after its window.
  const std::string counter = prefix_ + "rl:token:" + std::to_string(kMinute / 1000) + ":client-1";
  Reply ttl = Raw({"PTTL", counter});
  EXPECT_GT(ttl.integer, 0);
  EXPECT_LE(ttl.integer, 65'000);

  clock.Advance(60'000);
  auto next = a.Hit("client-1", true);
  EXPECT_TRUE(next->allowed) << "a new window";
  EXPECT_EQ(next->remaining, 4);
}

TEST_P(RedisTest, RateLimitOnAnIoThreadWouldBlockWithoutCounting) {
  core::ManualClock clock(kMinute);
  Client node(Options());
  RedisRateLimiter limiter(node, clock, "token", 3);
  auto io = limiter.Hit("c", false);
  ASSERT_FALSE(io.ok());
  EXPECT_TRUE(domain::IsWouldBlock(io.error()));
  EXPECT_EQ(limiter.Hit("c", true)->remaining, 2) << "the WouldBlock answer counted nothing";
}

TEST_P(RedisTest, RateLimitFallsBackToLocalCountsWhileRedisIsDownAndRecovers) {
  TcpProxy proxy(ServerPort());
  ASSERT_TRUE(proxy.Start());
  core::ManualClock clock(kMinute);
  std::vector<std::pair<bool, std::string>> logged;
  std::mutex log_mu;
  auto options = Options(proxy.port());
  options.log = [&](bool warning, const std::string& m) {
    std::lock_guard lock(log_mu);
    logged.emplace_back(warning, m);
  };
  Client node(options);
  RedisRateLimiter limiter(node, clock, "token", 100);
  EXPECT_EQ(limiter.Hit("c", true)->remaining, 99);

  proxy.Stop();
  auto degraded = limiter.Hit("c", true);
  ASSERT_TRUE(degraded.ok()) << "a Redis failure never fails the request";
  EXPECT_TRUE(degraded->allowed);
  EXPECT_EQ(degraded->remaining, 99) << "counted locally from zero";
  EXPECT_FALSE(node.Available());
  auto io = limiter.Hit("c", false);
  ASSERT_TRUE(io.ok()) << "local counting needs no worker thread";
  EXPECT_EQ(io->remaining, 98);
  {
    std::lock_guard lock(log_mu);
    ASSERT_EQ(logged.size(), 1u) << "one warning per outage";
    EXPECT_TRUE(logged[0].first);
    EXPECT_NE(logged[0].second.find("unreachable"), std::string::npos);
  }

  ASSERT_TRUE(proxy.Start());
  ASSERT_TRUE(WaitFor([&] {
    auto d = limiter.Hit("c", true);
    return d.ok() && d->remaining == 98;  // Redis's counter again (1 before the outage)
  })) << "reconnects by itself";
  EXPECT_TRUE(node.Up());
  std::lock_guard lock(log_mu);
  ASSERT_EQ(logged.size(), 2u);
  EXPECT_FALSE(logged[1].first);
  EXPECT_NE(logged[1].second.find("reachable again"), std::string::npos);
}

TEST_P(RedisTest, ReplayCacheAcceptsAKeyOnceAcrossNodes) {
  core::SystemClock clock;
  Client node_a(Options()), node_b(Options());
  RedisReplayCache a(node_a, clock), b(node_b, clock);
  EXPECT_TRUE(a.Blocking());
  const int64_t expires = clock.NowMs() + 60'000;
  EXPECT_TRUE(*a.Consume("assertion", "jti-1", expires));
  EXPECT_FALSE(*b.Consume("assertion", "jti-1", expires)) << "a replay through another node";
  EXPECT_FALSE(*a.Consume("assertion", "jti-1", expires));
  EXPECT_TRUE(*b.Consume("dpop", "jti-1", expires)) << "namespaces are separate";
  Reply ttl = Raw({"PTTL", prefix_ + "replay:assertion:jti-1"});
  EXPECT_GT(ttl.integer, 0);
  EXPECT_LE(ttl.integer, 60'000) << "kept until the key's own expiry";

  const std::string long_key(500, 'k');
  EXPECT_TRUE(*a.Consume("assertion", long_key, expires));
  EXPECT_FALSE(*b.Consume("assertion", long_key, expires));
  EXPECT_EQ(Raw({"EXISTS", prefix_ + "replay:assertion:" + long_key}).integer, 0)
      << "long client-chosen keys are stored hashed";

  // Sixteen threads on two nodes race for one key: exactly one wins.
  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      auto r = (i % 2 == 0 ? a : b).Consume("assertion", "race", expires);
      if (r.ok() && *r) ++winners;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(winners.load(), 1);
}

TEST_P(RedisTest, ReplayCacheRecordsLocallyWhileRedisIsDown) {
  TcpProxy proxy(ServerPort());
  ASSERT_TRUE(proxy.Start());
  core::SystemClock clock;
  Client node(Options(proxy.port()));
  RedisReplayCache cache(node, clock);
  const int64_t expires = clock.NowMs() + 60'000;
  proxy.Stop();
  auto first = cache.Consume("assertion", "offline", expires);
  ASSERT_TRUE(first.ok()) << "recorded in this node's memory";
  EXPECT_TRUE(*first);
  EXPECT_FALSE(*cache.Consume("assertion", "offline", expires)) << "still refused on this node";
}

// Collects what a bus hands to its handlers.
struct Inbox {
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> messages;
  std::atomic<int> resyncs{0};
  std::atomic<int> disconnects{0};

  domain::ClusterBus::Handlers Handlers() {
    domain::ClusterBus::Handlers h;
    h.message = [this](std::string_view topic, std::string_view payload) {
      std::lock_guard lock(mu);
      messages.emplace_back(std::string(topic), std::string(payload));
    };
    h.resync = [this] { ++resyncs; };
    h.disconnected = [this] { ++disconnects; };
    return h;
  }
  bool Has(const std::string& topic, const std::string& payload) {
    std::lock_guard lock(mu);
    for (const auto& m : messages)
      if (m.first == topic && m.second == payload) return true;
    return false;
  }
  size_t Count() {
    std::lock_guard lock(mu);
    return messages.size();
  }
};

// A node's side of the cluster bus: its own client and bus, and what it received. The inbox
// is declared first so that it outlives the bus that delivers into it.
struct BusNode {
  explicit BusNode(const RedisOptions& options, const std::string& id)
      : client(options), bus(client, id) {
    bus.Start(inbox.Handlers());
  }
  Inbox inbox;
  Client client;
  RedisClusterBus bus;
};

// Two nodes on the test server.
struct TwoBuses {
  explicit TwoBuses(const RedisOptions& options)
      : a(options, "node-a"),
        b(options, "node-b"),
        first{a.client, a.bus, a.inbox},
        second{b.client, b.bus, b.inbox} {}
  bool Subscribed() {
    return WaitFor([&] { return a.bus.Connected() && b.bus.Connected(); });
  }
  BusNode a, b;
  struct Refs {
    Client& client;
    RedisClusterBus& bus;
    Inbox& inbox;
  };
  Refs first, second;
};

TEST_P(RedisTest, BusCarriesMessagesToTheOtherNodesOnly) {
  TwoBuses nodes(Options());
  ASSERT_TRUE(nodes.Subscribed());
  auto& [client_a, a, inbox_a] = nodes.first;
  auto& [client_b, b, inbox_b] = nodes.second;
  EXPECT_EQ(inbox_a.resyncs.load(), 1) << "the first subscription resynchronizes too";
  EXPECT_EQ(a.BackendName(), "redis");

  a.Publish(domain::topics::kAgent, "agent-1");
  ASSERT_TRUE(WaitFor([&] { return inbox_b.Has("agent", "agent-1"); }));
  const int64_t expires = core::SystemClock().NowMs() + 30'000;
  a.PublishRevocation("jti-9", expires);
  ASSERT_TRUE(WaitFor([&] { return inbox_b.Has("revoked", "jti-9 " + std::to_string(expires)); }));
  b.Publish(domain::topics::kKeys, "");
  ASSERT_TRUE(WaitFor([&] { return inbox_a.Has("keys", ""); }));
  EXPECT_EQ(inbox_a.Count(), 1u) << "a node never receives its own messages";
  EXPECT_EQ(inbox_b.Count(), 2u);

  // The revoked set in Redis, kept until the token expires.
  const std::string revoked = RedisClusterBus::RevokedKey(*raw_, "jti-9");
  EXPECT_EQ(Raw({"EXISTS", revoked}).integer, 1);
  Reply ttl = Raw({"PTTL", revoked});
  EXPECT_GT(ttl.integer, 0);
  EXPECT_LE(ttl.integer, 30'000);

  // A command-line tool publishes synchronously.
  ASSERT_TRUE(RedisClusterBus::PublishNow(*raw_, "cli", domain::topics::kPolicy, "").ok());
  ASSERT_TRUE(WaitFor([&] { return inbox_a.Has("policy", "") && inbox_b.Has("policy", ""); }));
  a.Stop();
  b.Stop();
  EXPECT_FALSE(a.Connected());
}

TEST_P(RedisTest, BusHoldsAMessageThroughTheClientsBackOff) {
  TwoBuses nodes(Options());
  ASSERT_TRUE(nodes.Subscribed());
  auto& [client_a, a, inbox_a] = nodes.first;
  auto& [client_b, b, inbox_b] = nodes.second;
  // A failure that raced Redis's return (a connection its restart cut, say) puts the client
  // into its back-off although Redis is up.
  client_a.ReportFailure("a connection cut by an earlier restart");
  ASSERT_FALSE(client_a.Available());
  const int64_t expires = core::SystemClock().NowMs() + 30'000;
  a.PublishRevocation("jti-late", expires);
  ASSERT_TRUE(WaitFor([&] {
    return inbox_b.Has("revoked", "jti-late " + std::to_string(expires));
  })) << "sent once the back-off is over, not dropped";
  EXPECT_EQ(Raw({"EXISTS", RedisClusterBus::RevokedKey(*raw_, "jti-late")}).integer, 1);
  a.Stop();
  b.Stop();
}

TEST_P(RedisTest, BusNoticesAnOutageReconnectsAndAsksForAResync) {
  TcpProxy proxy(ServerPort());
  ASSERT_TRUE(proxy.Start());
  Client client_a(Options()), client_b(Options(proxy.port()));
  RedisClusterBus a(client_a, "node-a"), b(client_b, "node-b");
  Inbox inbox_a, inbox_b;
  a.Start(inbox_a.Handlers());
  b.Start(inbox_b.Handlers());
  ASSERT_TRUE(WaitFor([&] { return a.Connected() && b.Connected(); }));

  proxy.Stop();
  ASSERT_TRUE(WaitFor([&] { return inbox_b.disconnects.load() == 1; }));
  EXPECT_FALSE(b.Connected());
  EXPECT_FALSE(client_b.Available()) << "the request path degrades at once too";
  a.Publish(domain::topics::kAgent, "changed-during-the-gap");  // lost for b
  b.Publish(domain::topics::kAgent, "dropped");                 // b cannot send either

  ASSERT_TRUE(proxy.Start());
  ASSERT_TRUE(WaitFor([&] { return b.Connected(); })) << "reconnects by itself";
  EXPECT_EQ(inbox_b.resyncs.load(), 2) << "a gap asks for a resynchronization";
  a.Publish(domain::topics::kAgent, "after");
  ASSERT_TRUE(WaitFor([&] { return inbox_b.Has("agent", "after"); }));
  EXPECT_FALSE(inbox_b.Has("agent", "changed-during-the-gap"));
  EXPECT_TRUE(client_b.Up());
}

TEST_P(RedisTest, EveryCallIsBoundedAndFailsFastWhileDown) {
  SilentServer silent;
  ASSERT_NE(silent.port(), 0);
  auto options = Options(silent.port());
  options.reconnect_backoff = std::chrono::seconds(30);
  Client client(options);
  auto first = std::async(std::launch::async, [&] { return client.Command({"PING"}); });
  ASSERT_EQ(first.wait_for(std::chrono::seconds(20)), std::future_status::ready)
      << "a silent server does not hang the caller";
  EXPECT_FALSE(first.get().ok());
  EXPECT_FALSE(client.Available());
  auto second = client.Command({"PING"});
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("back-off"), std::string::npos)
      << "while down, calls fail without touching the network";
}

TEST_P(RedisTest, PingMeasuresARoundTrip) {
  auto latency = raw_->Ping();
  ASSERT_TRUE(latency.ok()) << latency.error().message;
  EXPECT_GE(*latency, 0.0);
}

INSTANTIATE_TEST_SUITE_P(Redis, RedisTest, ::testing::ValuesIn(RedisUrls()));

}  // namespace
}  // namespace agentidp::cache::redis
