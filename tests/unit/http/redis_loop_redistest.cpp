// Redis on an I/O thread's event loop (http::RedisLoopClient) against a real Redis
// (AGENTIDP_TEST_REDIS_URL, set by scripts/with-services.sh): the shared rate limit counted
// without blocking the thread, in the same counters as the blocking path; commands of one
// loop pipelined; failures (server gone, server silent) answered within the timeout and
// degraded to local counts; recovery without a restart. Each test runs its loop on a thread
// of its own that exits before the io_context goes (as the server's I/O threads do).

#include "cache/redis/redis_rate_limiter.hpp"
#include "contract/pg_support.hpp"  // TcpProxy
#include "core/clock.hpp"
#include "http/io_thread.hpp"
#include "http/redis_loop.hpp"
#include "unit/cache/redis_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <thread>

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RedisTest);

namespace agentidp::cache::redis {
namespace {

using contract::TcpProxy;
using std::chrono::milliseconds;

constexpr int64_t kMinute = 1'800'000'000'000;  // aligned to a minute

// Runs `start` on a fresh I/O thread (its io_context marked current), then the loop until
// `done` holds or 10 s pass; the thread exits before the io_context is destroyed.
bool OnLoop(const std::function<void()>& start, const std::function<bool()>& done) {
  boost::asio::io_context context;
  bool ok = false;
  std::thread thread([&] {
    http::IoThreadScope scope(context);
    start();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline)
      context.run_one_for(milliseconds(20));
    ok = done();
  });
  thread.join();
  return ok;
}

http::RedisLoopClient LoopClient(const RedisOptions& o) {
  return http::RedisLoopClient(o.endpoint, o.timeout, o.reconnect_backoff);
}

TEST_P(RedisTest, AsyncRateLimitCountsInTheSharedCounterWithoutAWorker) {
  core::ManualClock clock(kMinute);
  Client node(Options());
  auto loop = LoopClient(Options());
  RedisRateLimiter limiter(node, clock, "token", 5);
  limiter.SetAsync(&loop);
  std::vector<domain::RateDecision> got;
  bool all_async = true;
  ASSERT_TRUE(OnLoop(
      [&] {
        // Six requests on one thread at once: their commands share the connection.
        for (int i = 0; i < 6; ++i)
          all_async &= limiter.HitAsync("c", nullptr, [&](core::Result<domain::RateDecision> d) {
            if (d.ok())
              got.push_back(*d);
            else
              ADD_FAILURE() << d.error().message;
          });
      },
      [&] { return got.size() == 6; }));
  EXPECT_TRUE(all_async);
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(got[i].allowed) << i;
    EXPECT_EQ(got[i].remaining, 4 - i) << "answered in the order sent";
    EXPECT_EQ(got[i].limit, 5);
    EXPECT_EQ(got[i].reset_epoch_s, kMinute / 1000 + 60);
  }
  EXPECT_FALSE(got[5].allowed) << "the 6th in the window";
  EXPECT_GE(got[5].retry_after_s, 1);
  // Another node, blocking path: the same counter.
  Client other(Options());
  RedisRateLimiter b(other, clock, "token", 5);
  auto seen = b.Hit("c", true);
  ASSERT_TRUE(seen.ok());
  EXPECT_FALSE(seen->allowed);
  // Refused requests are not counted (one decision with the daily quota): 5, not 7.
  EXPECT_EQ(Raw({"GET", prefix_ + "rl:token:" + std::to_string(kMinute / 1000) + ":c"}).text, "5");
}

TEST_P(RedisTest, AsyncRateLimitDecidesTheOrganizationsDayInTheSameCall) {
  core::ManualClock clock(kMinute);
  Client node(Options());
  auto loop = LoopClient(Options());
  RedisRateLimiter limiter(node, clock, "token", 100, 60, "tokens");
  limiter.SetAsync(&loop);
  const domain::DailyQuota quota{"org-async", 2};
  std::vector<domain::RateDecision> got;
  ASSERT_TRUE(OnLoop(
      [&] {
        for (int i = 0; i < 3; ++i)
          EXPECT_TRUE(limiter.HitAsync("c" + std::to_string(i), &quota,
                                       [&](core::Result<domain::RateDecision> d) {
                                         if (d.ok())
                                           got.push_back(*d);
                                         else
                                           ADD_FAILURE();
                                       }));
      },
      [&] { return got.size() == 3; }));
  EXPECT_TRUE(got[0].allowed);
  EXPECT_EQ(got[1].quota_used, 2);
  EXPECT_FALSE(got[2].allowed) << "the organization's 3rd of the day";
  EXPECT_TRUE(got[2].quota_exceeded);
  EXPECT_GE(got[2].retry_after_s, 1);
  EXPECT_EQ(Raw({"GET", limiter.DailyKey("org-async", domain::UtcDay(kMinute / 1000))}).text, "2");
  // The blocking path of another node sees the same day.
  Client other(Options());
  RedisRateLimiter b(other, clock, "token", 100, 60, "tokens");
  auto seen = b.Hit("c9", &quota, true);
  ASSERT_TRUE(seen.ok());
  EXPECT_TRUE(seen->quota_exceeded);
}

TEST_P(RedisTest, AsyncRateLimitIsRefusedOffAnIoThreadAndCountsNothing) {
  core::ManualClock clock(kMinute);
  Client node(Options());
  auto loop = LoopClient(Options());
  RedisRateLimiter limiter(node, clock, "token", 5);
  EXPECT_FALSE(limiter.CanHitAsync());
  EXPECT_FALSE(limiter.HitAsync("c", nullptr, [](core::Result<domain::RateDecision>) {
    ADD_FAILURE();
  })) << "no asynchronous connections set";
  limiter.SetAsync(&loop);
  EXPECT_TRUE(limiter.CanHitAsync());
  EXPECT_FALSE(limiter.HitAsync("c", nullptr, [](core::Result<domain::RateDecision>) {
    ADD_FAILURE();
  })) << "this thread runs no event loop";
  EXPECT_EQ(limiter.Hit("c", true)->remaining, 4) << "nothing was counted";
}

TEST_P(RedisTest, AsyncRateLimitDegradesToLocalCountsAndRecovers) {
  TcpProxy proxy(ServerPort());
  ASSERT_TRUE(proxy.Start());
  core::ManualClock clock(kMinute);
  Client node(Options(proxy.port()));
  auto loop = LoopClient(Options(proxy.port()));
  RedisRateLimiter limiter(node, clock, "token", 100);
  limiter.SetAsync(&loop);
  auto hit_once = [&](std::optional<domain::RateDecision>& out) {
    return OnLoop(
        [&] {
          EXPECT_TRUE(limiter.HitAsync("c", nullptr, [&](core::Result<domain::RateDecision> d) {
            if (d.ok())
              out = *d;
            else
              ADD_FAILURE() << d.error().message;
          }));
        },
        [&] { return out.has_value(); });
  };
  std::optional<domain::RateDecision> first;
  ASSERT_TRUE(hit_once(first));
  EXPECT_EQ(first->remaining, 99);

  proxy.Stop();
  std::optional<domain::RateDecision> degraded;
  ASSERT_TRUE(hit_once(degraded)) << "answered, not left hanging";
  EXPECT_TRUE(degraded->allowed) << "a Redis failure never fails the request";
  EXPECT_EQ(degraded->remaining, 99) << "counted locally from zero";
  EXPECT_FALSE(node.Available()) << "the node's Redis health follows the event-loop link too";
  EXPECT_FALSE(limiter.CanHitAsync()) << "callers skip preparing a continuation meanwhile";
  EXPECT_FALSE(limiter.HitAsync("c", nullptr, [](core::Result<domain::RateDecision>) {
    ADD_FAILURE();
  })) << "in the back-off the blocking path answers locally at once";
  EXPECT_EQ(limiter.Hit("c", false)->remaining, 98);

  ASSERT_TRUE(proxy.Start());
  ASSERT_TRUE(WaitFor([&] {
    if (!node.Available()) return false;
    std::optional<domain::RateDecision> again;
    return hit_once(again) && again->remaining == 98;  // Redis's counter again (1 before)
  })) << "reconnects by itself";
  EXPECT_TRUE(node.Up());
}

TEST_P(RedisTest, AsyncCommandToASilentServerFailsWithinTheTimeout) {
  SilentServer silent;
  ASSERT_NE(silent.port(), 0);
  auto options = Options(silent.port());
  options.timeout = milliseconds(200);
  auto loop = LoopClient(options);
  std::optional<core::Result<Reply>> reply;
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(
      OnLoop([&] { EXPECT_TRUE(loop.Send({"PING"}, [&](core::Result<Reply> r) { reply = r; })); },
             [&] { return reply.has_value(); }));
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(reply->ok());
  EXPECT_EQ(reply->error().kind, core::Errc::kUnavailable);
  EXPECT_GE(waited, milliseconds(150)) << "failed by the timeout, not at once";
  EXPECT_LT(waited, std::chrono::seconds(5));
}

TEST_P(RedisTest, AsyncErrorRepliesAreRepliesAndTheLinkStaysUp) {
  auto loop = LoopClient(Options());
  std::vector<core::Result<Reply>> replies;
  ASSERT_TRUE(OnLoop(
      [&] {
        EXPECT_TRUE(loop.Send({"NOSUCHCOMMAND"}, [&](auto r) { replies.push_back(r); }));
        EXPECT_TRUE(loop.Send({"PING"}, [&](auto r) { replies.push_back(r); }));
      },
      [&] { return replies.size() == 2; }));
  ASSERT_TRUE(replies[0].ok());
  EXPECT_TRUE(replies[0]->IsError());
  ASSERT_TRUE(replies[1].ok());
  EXPECT_EQ(replies[1]->text, "PONG");
}

INSTANTIATE_TEST_SUITE_P(Redis, RedisTest, ::testing::ValuesIn(RedisUrls()));

}  // namespace
}  // namespace agentidp::cache::redis
