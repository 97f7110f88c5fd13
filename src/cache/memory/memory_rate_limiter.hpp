#pragma once

// In-process RateLimiter: fixed-window counters keyed by a string (client id, agent id),
// sharded so that the token endpoint's threads rarely contend. Never blocks. Also the
// fallback of the Redis limiter while Redis is unreachable.

#include "core/clock.hpp"
#include "domain/oauth/rate_limiter.hpp"

#include <array>
#include <mutex>
#include <string>
#include <unordered_map>

namespace agentidp::cache {

class MemoryRateLimiter final : public domain::RateLimiter {
 public:
  MemoryRateLimiter(const core::Clock& clock, int64_t limit, int64_t window_s = 60);
  core::Result<domain::RateDecision> Hit(const std::string& key, bool may_block) override;
  int64_t limit() const override { return limit_; }
  // Hit() without the Result wrapper (never fails).
  domain::RateDecision Count(const std::string& key);

 private:
  struct Window {
    int64_t start_s = 0;
    int64_t count = 0;
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, Window> windows;
    int64_t last_sweep_s = 0;
  };
  const core::Clock& clock_;
  const int64_t limit_;
  const int64_t window_s_;
  std::array<Shard, 16> shards_;
};

}  // namespace agentidp::cache
