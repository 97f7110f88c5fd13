#pragma once

// RateLimiter shared by every node: one Redis counter per key and window, and (optionally)
// one per organization and UTC day, checked and incremented together by one Lua script
// (one EVALSHA round trip per request). Windows are aligned to the clock like the
// in-process limiter's, so X-RateLimit-* mean the same on every node (with clocks in sync:
// run NTP).
//
// While Redis is down (or too slow) the node counts on its own (MemoryRateLimiter): with N
// nodes a client then gets up to N x the limit until Redis is back; an organization's daily
// count continues locally from the last value this node read from Redis. On an I/O thread
// (`may_block` false) it answers WouldBlock() unless it is in that local mode; HitAsync sends
// the same script over the I/O thread's own connection (SetAsync) instead.

#include "cache/memory/memory_rate_limiter.hpp"
#include "cache/redis/async_commands.hpp"
#include "cache/redis/redis_client.hpp"
#include "core/clock.hpp"
#include "domain/oauth/rate_limiter.hpp"
#include "domain/tiers/daily_counters.hpp"

#include <atomic>
#include <string>

namespace agentidp::cache::redis {

class RedisRateLimiter final : public domain::RateLimiter {
 public:
  // `name` separates the limiters of one deployment ("token", "api", ...); `daily_name` the
  // organizations' daily counters it decides with its windows ("tokens", "api"; empty =
  // none).
  RedisRateLimiter(Client& redis, const core::Clock& clock, std::string name, int64_t limit,
                   int64_t window_s = 60, std::string daily_name = "");
  using domain::RateLimiter::Hit;
  core::Result<domain::RateDecision> Hit(const std::string& key, const domain::DailyQuota* quota,
                                         bool may_block) override;
  core::Result<int64_t> UsageToday(const std::string& organization_id) override;
  bool CanHitAsync() const override { return async_ != nullptr && redis_.Available(); }
  bool HitAsync(const std::string& key, const domain::DailyQuota* quota,
                std::function<void(core::Result<domain::RateDecision>)> done) override;
  int64_t limit() const override { return limit_; }
  // The event-loop connections HitAsync uses (null: HitAsync answers false). Set before use.
  void SetAsync(AsyncCommands* async) { async_ = async; }

  // The Redis key of an organization's counter for a UTC day (docs/operations.md).
  std::string DailyKey(const std::string& organization_id, int64_t day) const;

 private:
  // The script's keys and arguments for one decision, and what they were computed for.
  struct Prepared {
    std::vector<std::string> keys_and_args;
    int64_t now_s = 0, start = 0, day = 0;
  };
  Prepared Prepare(const std::string& key, const domain::DailyQuota* quota);
  // The decision in the script's reply; nullopt for a reply of the wrong shape (an error).
  std::optional<domain::RateDecision> Decide(const Reply& reply, const std::string& key,
                                             const domain::DailyQuota* quota, const Prepared& p);
  // EVALSHA of the decision script; loads the script first (same round trip) when this
  // limiter has not loaded it yet or since its last failed call.
  core::Result<Reply> RunScript(const std::vector<std::string>& keys_and_args);

  Client& redis_;
  const core::Clock& clock_;
  const std::string name_;
  const int64_t limit_;
  const int64_t window_s_;
  const std::string daily_name_;
  domain::DailyCounters local_daily_;
  MemoryRateLimiter local_;
  std::atomic<bool> script_loaded_{false};
  AsyncCommands* async_ = nullptr;
};

}  // namespace agentidp::cache::redis
