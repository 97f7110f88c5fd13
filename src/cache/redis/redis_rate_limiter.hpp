#pragma once

// RateLimiter shared by every node: one Redis counter per key and window, incremented and
// given its expiry atomically by a Lua script (one round trip). Windows are aligned to the
// clock like the in-process limiter's, so X-RateLimit-* mean the same on every node (with
// clocks in sync: run NTP).
//
// While Redis is down (or too slow) the node counts on its own (MemoryRateLimiter): with N
// nodes a client then gets up to N x the limit until Redis is back. On an I/O thread
// (`may_block` false) it answers WouldBlock() unless it is in that local mode.

#include "cache/memory/memory_rate_limiter.hpp"
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
  int64_t limit() const override { return limit_; }

 private:
  Client& redis_;
  const core::Clock& clock_;
  const std::string name_;
  const int64_t limit_;
  const int64_t window_s_;
  MemoryRateLimiter local_;
};

}  // namespace agentidp::cache::redis
