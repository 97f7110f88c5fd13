#pragma once

// In-process RateLimiter: fixed-window counters keyed by a string (client id, agent id),
// sharded so that the token endpoint's threads rarely contend, plus (optionally) the
// organizations' daily counters. Never blocks, except to seed an organization's daily count
// once per day. Also the fallback of the Redis limiter while Redis is unreachable.

#include "core/clock.hpp"
#include "domain/oauth/rate_limiter.hpp"
#include "domain/tiers/daily_counters.hpp"

#include <array>
#include <mutex>
#include <string>
#include <unordered_map>

namespace agentidp::cache {

class MemoryRateLimiter final : public domain::RateLimiter {
 public:
  // `daily`: the organizations' daily counters this limiter decides together with its
  // windows (not owned; nullptr = no daily quota).
  MemoryRateLimiter(const core::Clock& clock, int64_t limit, int64_t window_s = 60,
                    domain::DailyCounters* daily = nullptr);
  using domain::RateLimiter::Hit;
  core::Result<domain::RateDecision> Hit(const std::string& key, const domain::DailyQuota* quota,
                                         bool may_block) override;
  core::Result<int64_t> UsageToday(const std::string& organization_id) override;
  int64_t limit() const override { return limit_; }
  // Hit() without the Result wrapper, for a quota already prepared (never fails).
  domain::RateDecision Count(const std::string& key, const domain::DailyQuota* quota = nullptr);
  domain::DailyCounters* daily() const { return daily_; }

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
  domain::DailyCounters* const daily_;
  std::array<Shard, 16> shards_;
};

}  // namespace agentidp::cache
