#include "domain/oauth/rate_limiter.hpp"

#include <algorithm>
#include <functional>

namespace agentidp::domain {

RateLimiter::RateLimiter(const core::Clock& clock, int64_t limit, int64_t window_s)
    : clock_(clock), limit_(limit), window_s_(window_s) {}

RateDecision RateLimiter::Hit(const std::string& key) {
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
  RateDecision d;
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

FailureThrottle::FailureThrottle(const core::Clock& clock, int free_failures, int64_t window_s,
                                 int64_t max_delay_s)
    : clock_(clock),
      free_failures_(free_failures),
      window_ms_(window_s * 1000),
      max_delay_s_(max_delay_s) {}

int64_t FailureThrottle::RetryAfter(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return 0;
  const int64_t now = clock_.NowMs();
  if (it->second.blocked_until_ms <= now) return 0;
  return (it->second.blocked_until_ms - now + 999) / 1000;
}

void FailureThrottle::RecordFailure(const std::string& key) {
  const int64_t now = clock_.NowMs();
  std::lock_guard lock(mu_);
  if (entries_.size() > 100'000) {
    std::erase_if(entries_, [&](const auto& kv) {
      return kv.second.first_ms + window_ms_ < now && kv.second.blocked_until_ms < now;
    });
  }
  Entry& e = entries_[key];
  if (e.first_ms + window_ms_ < now && e.blocked_until_ms < now) e = Entry{0, now, 0};
  ++e.failures;
  if (e.failures >= free_failures_) {
    int shift = std::min(e.failures - free_failures_, 20);
    int64_t delay = std::min<int64_t>(int64_t{1} << shift, max_delay_s_);
    e.blocked_until_ms = now + delay * 1000;
  }
}

void FailureThrottle::RecordSuccess(const std::string& key) {
  std::lock_guard lock(mu_);
  entries_.erase(key);
}

}  // namespace agentidp::domain
