#include "cache/memory/memory_rate_limiter.hpp"

#include <algorithm>
#include <functional>

namespace agentidp::cache {

MemoryRateLimiter::MemoryRateLimiter(const core::Clock& clock, int64_t limit, int64_t window_s,
                                     domain::DailyCounters* daily)
    : clock_(clock), limit_(limit), window_s_(window_s), daily_(daily) {}

core::Result<domain::RateDecision> MemoryRateLimiter::Hit(const std::string& key,
                                                          const domain::DailyQuota* quota,
                                                          bool may_block) {
  if (quota && daily_) TRY(daily_->Prepare(quota->organization_id, may_block));
  return Count(key, quota);
}

core::Result<int64_t> MemoryRateLimiter::UsageToday(const std::string& organization_id) {
  if (!daily_) return int64_t{0};
  TRY(daily_->Prepare(organization_id, true));
  return daily_->Peek(organization_id);
}

domain::RateDecision MemoryRateLimiter::Count(const std::string& key,
                                              const domain::DailyQuota* quota) {
  const int64_t now_s = clock_.NowSeconds();
  const int64_t start = now_s - now_s % window_s_;
  if (!daily_) quota = nullptr;
  domain::RateDecision d;
  d.limit = limit_;
  d.reset_epoch_s = start + window_s_;
  if (quota) d.quota_limit = quota->limit;
  auto refuse_by_quota = [&](int64_t used) {
    d.allowed = false;
    d.quota_exceeded = true;
    d.quota_used = used;
    d.retry_after_s = std::max<int64_t>(1, domain::NextUtcMidnight(now_s) - now_s);
  };
  if (key.empty()) {  // only the organization's quota
    d.limit = d.remaining = 0;
    auto out = daily_ && quota ? daily_->Consume(*quota) : domain::DailyCounters::Outcome{};
    if (!out.allowed) refuse_by_quota(out.used);
    d.quota_used = out.used;
    return d;
  }
  Shard& shard = shards_[std::hash<std::string>{}(key) % shards_.size()];
  // The window's lock is held while the quota is counted, so the two are one decision: a
  // request refused by one consumes neither. Lock order: window shard, then daily shard.
  std::lock_guard lock(shard.mu);
  // Forget windows that ended, at most once per window, so the map stays bounded by the
  // number of active keys.
  if (shard.last_sweep_s != start) {
    std::erase_if(shard.windows, [&](const auto& kv) { return kv.second.start_s < start; });
    shard.last_sweep_s = start;
  }
  Window& w = shard.windows[key];
  if (w.start_s != start) w = Window{start, 0};
  if (w.count >= limit_) {
    d.allowed = false;
    d.remaining = 0;
    d.retry_after_s = std::max<int64_t>(1, d.reset_epoch_s - now_s);
    if (quota) d.quota_used = daily_->Peek(quota->organization_id);
    return d;
  }
  if (quota) {
    auto out = daily_->Consume(*quota);
    if (!out.allowed) {
      refuse_by_quota(out.used);
      d.remaining = limit_ - w.count;
      return d;
    }
    d.quota_used = out.used;
  }
  ++w.count;
  d.remaining = limit_ - w.count;
  return d;
}

}  // namespace agentidp::cache
