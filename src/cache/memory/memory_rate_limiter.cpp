#include "cache/memory/memory_rate_limiter.hpp"

#include <algorithm>
#include <functional>

namespace agentidp::cache {

MemoryRateLimiter::MemoryRateLimiter(const core::Clock& clock, int64_t limit, int64_t window_s)
    : clock_(clock), limit_(limit), window_s_(window_s) {}

core::Result<domain::RateDecision> MemoryRateLimiter::Hit(const std::string& key, bool) {
  return Count(key);
}

domain::RateDecision MemoryRateLimiter::Count(const std::string& key) {
  const int64_t now_s = clock_.NowSeconds();
  const int64_t start = now_s - now_s % window_s_;
  Shard& shard = shards_[std::hash<std::string>{}(key) % shards_.size()];
  std::lock_guard lock(shard.mu);
  // Forget windows that ended, at most once per window, so the map stays bounded by the
  // number of active keys.
  if (shard.last_sweep_s != start) {
    std::erase_if(shard.windows, [&](const auto& kv) { return kv.second.start_s < start; });
    shard.last_sweep_s = start;
  }
  Window& w = shard.windows[key];
  if (w.start_s != start) w = Window{start, 0};
  domain::RateDecision d;
  d.limit = limit_;
  d.reset_epoch_s = start + window_s_;
  if (w.count >= limit_) {
    d.allowed = false;
    d.remaining = 0;
    d.retry_after_s = std::max<int64_t>(1, d.reset_epoch_s - now_s);
    return d;
  }
  ++w.count;
  d.remaining = limit_ - w.count;
  return d;
}

}  // namespace agentidp::cache
