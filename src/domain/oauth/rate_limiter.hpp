#pragma once

// Request rate limits (SPEC §1, §8): fixed windows aligned to the clock, so
// X-RateLimit-Reset is the same for every caller of a window. Implementations:
// cache/memory (one process) and cache/redis (shared by every node of a deployment).

#include "core/clock.hpp"
#include "core/result.hpp"
#include "domain/tiers/tiers.hpp"

#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace agentidp::domain {

struct RateDecision {
  bool allowed = true;
  int64_t limit = 0;
  int64_t remaining = 0;
  int64_t reset_epoch_s = 0;  // when the window resets
  int64_t retry_after_s = 0;  // when refused
  // The organization's daily quota (SPEC §8), when the hit carried one. A request refused by
  // the quota has allowed false and quota_exceeded true; retry_after_s is then the time to
  // the next 00:00 UTC. limit/remaining/reset stay those of the window (X-RateLimit-*).
  bool quota_exceeded = false;
  int64_t quota_limit = kUnlimited;
  int64_t quota_used = 0;  // today's count, this request included when it was allowed
};

class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  // Counts one request against `key` and says whether it is within the limit. With
  // `may_block` false (an I/O thread) an implementation that needs a network round trip
  // answers WouldBlock() without counting; any other failure is handled inside (a shared
  // limiter falls back to this node's own counts), so the only error is WouldBlock().
  core::Result<RateDecision> Hit(const std::string& key, bool may_block) {
    return Hit(key, nullptr, may_block);
  }
  // The same, and one unit of the organization's daily quota, as ONE decision: a request
  // refused by either limit consumes neither (with Redis: one script call). `key` empty:
  // only the quota is counted. A limiter built without daily counters ignores `quota`.
  // Errors: WouldBlock(), or Unavailable when the day's count could not be seeded from the
  // store (the in-process counters after a restart).
  virtual core::Result<RateDecision> Hit(const std::string& key, const DailyQuota* quota,
                                         bool may_block) = 0;
  // Today's count of the organization's daily counter (0 without daily counters). May block.
  virtual core::Result<int64_t> UsageToday(const std::string& organization_id) = 0;
  // The same decision for an I/O thread, without blocking it: true when `done` will run later
  // on this thread with the decision (a shared limiter's round trip on the thread's event
  // loop), or with WouldBlock() when the answer needs a worker after all (nothing counted);
  // false when the limiter cannot answer that way (nothing counted, `done` dropped): call Hit.
  // `quota` is copied. CanHitAsync says whether HitAsync may answer true now; false lets a
  // caller skip preparing its continuation (the in-process limiter never needs one).
  virtual bool CanHitAsync() const { return false; }
  virtual bool HitAsync(const std::string& key, const DailyQuota* quota,
                        std::function<void(core::Result<RateDecision>)> done) {
    (void)key;
    (void)quota;
    (void)done;
    return false;
  }
  virtual int64_t limit() const = 0;
  // Sends what this limiter counted ahead in memory to the shared store and forgets state of
  // past windows and days. The runtime calls it every second and once at graceful shutdown;
  // may block. The in-process limiter has nothing to send.
  virtual void Flush() {}
};

// Slow-down of repeated failed authentications (SPEC §8): after `free_failures` failures of
// one key inside the window, each further attempt is refused for 2^(n - free) seconds
// (capped), without checking the secret.
class FailureThrottle {
 public:
  FailureThrottle(const core::Clock& clock, int free_failures = 5, int64_t window_s = 300,
                  int64_t max_delay_s = 60);
  // Seconds the caller must still wait, 0 when it may try.
  int64_t RetryAfter(const std::string& key);
  void RecordFailure(const std::string& key);
  void RecordSuccess(const std::string& key);

 private:
  struct Entry {
    int failures = 0;
    int64_t first_ms = 0;
    int64_t blocked_until_ms = 0;
  };
  const core::Clock& clock_;
  const int free_failures_;
  const int64_t window_ms_;
  const int64_t max_delay_s_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace agentidp::domain
