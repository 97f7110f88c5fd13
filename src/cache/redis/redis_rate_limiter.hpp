#pragma once

// RateLimiter shared by every node: one Redis counter per key and window, incremented and
// given its expiry atomically by a Lua script (one round trip). Windows are aligned to the
// clock like the in-process limiter's, so X-RateLimit-* mean the same on every node (with
// clocks in sync: run NTP).
//
// While Redis is down (or too slow) the node counts on its own (MemoryRateLimiter): with N
// nodes a client then gets up to N x the limit until Redis is back. On an I/O thread
// (`may_block` false) it answers WouldBlock() unless it is in that local mode; HitAsync sends
// the same script over the I/O thread's own connection (SetAsync) instead.

#include "cache/memory/memory_rate_limiter.hpp"
#include "cache/redis/async_commands.hpp"
#include "cache/redis/redis_client.hpp"
#include "core/clock.hpp"
#include "domain/oauth/rate_limiter.hpp"

#include <string>

namespace agentidp::cache::redis {

class RedisRateLimiter final : public domain::RateLimiter {
 public:
  // `name` separates the limiters of one deployment ("token", "api", ...).
  RedisRateLimiter(Client& redis, const core::Clock& clock, std::string name, int64_t limit,
                   int64_t window_s = 60);
  core::Result<domain::RateDecision> Hit(const std::string& key, bool may_block) override;
  bool CanHitAsync() const override { return async_ != nullptr && redis_.Available(); }
  bool HitAsync(const std::string& key, std::function<void(domain::RateDecision)> done) override;
  int64_t limit() const override { return limit_; }
  // The event-loop connections HitAsync uses (null: HitAsync answers false). Set before use.
  void SetAsync(AsyncCommands* async) { async_ = async; }

 private:
  // The counting command for `key` in the window starting at `start`, and what its count means.
  std::vector<std::string> IncrementCommand(const std::string& key, int64_t start) const;
  domain::RateDecision Decide(int64_t count, int64_t start, int64_t now_s) const;

  Client& redis_;
  const core::Clock& clock_;
  const std::string name_;
  const int64_t limit_;
  const int64_t window_s_;
  MemoryRateLimiter local_;
  AsyncCommands* async_ = nullptr;
};

}  // namespace agentidp::cache::redis
