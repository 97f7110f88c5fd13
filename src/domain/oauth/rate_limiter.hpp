#pragma once

// Fixed-window counters keyed by a string (client id, client id + address). Sharded so the
// token endpoint's threads rarely contend. Windows are aligned to the clock, so
// X-RateLimit-Reset is the same for every caller of a window.

#include "core/clock.hpp"

#include <array>
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
};

class RateLimiter {
 public:
  RateLimiter(const core::Clock& clock, int64_t limit, int64_t window_s = 60);
  // Counts one request against `key` and says whether it is within the limit.
  RateDecision Hit(const std::string& key);
  int64_t limit() const { return limit_; }

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
