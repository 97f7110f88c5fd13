#include "domain/oauth/rate_limiter.hpp"

#include <algorithm>

namespace agentidp::domain {

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
