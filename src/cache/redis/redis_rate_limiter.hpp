#pragma once

// RateLimiter shared by every node: one Redis counter per key and window, and (optionally)
// one per organization and UTC day, checked and incremented together by one Lua script
// (one EVALSHA round trip per decision; see the modes below). Windows are aligned to the clock like
// the in-process limiter's, so X-RateLimit-* mean the same on every node (with clocks in sync: run
// NTP).
//
// While Redis is down (or too slow) the node counts on its own (MemoryRateLimiter): with N
// nodes a client then gets up to N x the limit until Redis is back; an organization's daily
// count continues locally from the last value this node read from Redis. On an I/O thread
// (`may_block` false) it answers WouldBlock() unless it is in that local mode or holds leased
// credit for the key; HitAsync sends the same script over the I/O thread's own connection
// (SetAsync) instead.
//
// Two modes (docs/decisions.md "Shared rate limits: exact near the limit, leased far from
// it"):
// - exact: a window limit below kLeaseMinLimit, or a hit with a finite daily quota. One
//   script call per hit, nothing counted ahead: exactly the limit is admitted across nodes.
// - leased: a window limit of kLeaseMinLimit or more and no quota or an unlimited one. A
//   script call takes a grant of up to LeaseSize() hits of the window from Redis (the window
//   counter grows by the grant, so the grants of all nodes never exceed the limit); the next
//   hits of that key in that window are answered from the unused part (the credit) on the
//   calling thread, without Redis. A client is never admitted beyond its limit, but near it
//   may be refused up to (nodes x LeaseSize()) hits early. The organization's daily counter
//   (unlimited: it decides nothing) is counted in this node's memory and added to Redis by
//   the next script call or by Flush() (at least once a second, from the runtime's upkeep).

#include "cache/memory/memory_rate_limiter.hpp"
#include "cache/redis/async_commands.hpp"
#include "cache/redis/redis_client.hpp"
#include "core/clock.hpp"
#include "domain/oauth/rate_limiter.hpp"
#include "domain/tiers/daily_counters.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace agentidp::cache::redis {

class RedisRateLimiter final : public domain::RateLimiter {
 public:
  // `name` separates the limiters of one deployment ("token", "api", ...); `daily_name` the
  // organizations' daily counters it decides with its windows ("tokens", "api"; empty =
  // none).
  RedisRateLimiter(Client& redis, const core::Clock& clock, std::string name, int64_t limit,
                   int64_t window_s = 60, std::string daily_name = "");
  using domain::RateLimiter::Hit;
  core::Result<domain::RateDecision> Hit(const std::string& key, const domain::DailyQuota* quota,
                                         bool may_block) override;
  core::Result<int64_t> UsageToday(const std::string& organization_id) override;
  bool CanHitAsync() const override { return async_ != nullptr && redis_.Available(); }
  bool HitAsync(const std::string& key, const domain::DailyQuota* quota,
                std::function<void(core::Result<domain::RateDecision>)> done) override;
  int64_t limit() const override { return limit_; }
  // Sends the daily counts this node holds (leased mode) to Redis, and forgets credits of
  // past windows and counts of days long gone. Blocks (one script call per 256 counters).
  void Flush() override;
  // The event-loop connections HitAsync uses (null: HitAsync answers false). Set before use.
  void SetAsync(AsyncCommands* async) { async_ = async; }

  // The Redis key of an organization's counter for a UTC day (docs/operations.md).
  std::string DailyKey(const std::string& organization_id, int64_t day) const;

  // Window limits from which hits without a finite quota are leased.
  static constexpr int64_t kLeaseMinLimit = 1'000;
  // Hits asked of Redis per lease: 1 % of the limit, at most 256.
  int64_t LeaseSize() const { return std::min<int64_t>(256, limit_ / 100); }

 private:
  // The script's keys and arguments for one decision, and what they were computed for.
  // A daily count this node holds, not yet added to Redis.
  struct PendingCount {
    std::string organization_id;
    int64_t day = 0;
    int64_t count = 0;
  };
  struct Prepared {
    std::vector<std::string> keys_and_args;
    int numkeys = 2;
    int64_t now_s = 0, start = 0, day = 0;
    bool leased = false;
    // The pending counts this call adds to Redis (given back when it fails).
    std::vector<PendingCount> flushed;
  };
  // Leased mode for this hit (see the top of this file); `quota` already cleared when this
  // limiter has no daily counters.
  bool Leased(const domain::DailyQuota* quota) const {
    return limit_ >= kLeaseMinLimit && (quota == nullptr || quota->limit == domain::kUnlimited);
  }
  // `key`'s next hit from this node's credit of the current window, or (key empty: no window
  // to decide) from nothing at all; nullopt when it needs Redis. Counts the quota's day.
  std::optional<domain::RateDecision> FromCredit(const std::string& key,
                                                 const domain::DailyQuota* quota, int64_t now_s);
  bool HasCredit(const std::string& key, int64_t now_s);
  // The decision's quota fields for a day this node counts itself (lease lock not held).
  void FillLocalQuota(domain::RateDecision& d, const domain::DailyQuota& quota, int64_t day);
  // Takes up to `max` pending counts for a script call; Restore gives them back after a failure.
  std::vector<PendingCount> TakePending(size_t max);
  void RestorePending(const std::vector<PendingCount>& counts);
  int64_t PendingOf(const std::string& organization_id, int64_t day);
  Prepared Prepare(const std::string& key, const domain::DailyQuota* quota, int64_t now_s,
                   bool leased, size_t max_flush);
  // The decision in the script's reply; nullopt for a reply of the wrong shape (an error).
  std::optional<domain::RateDecision> Decide(const Reply& reply, const std::string& key,
                                             const domain::DailyQuota* quota, const Prepared& p);
  // EVALSHA of the decision script; loads the script first (same round trip) when this
  // limiter has not loaded it yet or since its last failed call.
  core::Result<Reply> RunScript(const Prepared& p);
  // The counters the script returned for the flushed counts (the last elements of its reply).
  void ObserveFlushed(const Reply& reply, const Prepared& p);

  Client& redis_;
  const core::Clock& clock_;
  const std::string name_;
  const int64_t limit_;
  const int64_t window_s_;
  const std::string daily_name_;
  domain::DailyCounters local_daily_;
  MemoryRateLimiter local_;
  std::atomic<bool> script_loaded_{false};
  AsyncCommands* async_ = nullptr;

  // Leased mode. Held only for map work, never across a Redis call.
  struct Credit {
    int64_t start = 0;         // the window the hits were granted for
    int64_t left = 0;          // granted hits not used yet
    int64_t window_count = 0;  // Redis's window counter with the last grant
  };
  std::mutex lease_mu_;
  std::unordered_map<std::string, Credit> credits_;
  std::map<std::pair<std::string, int64_t>, int64_t> pending_;  // (organization, day) -> count
};

}  // namespace agentidp::cache::redis
