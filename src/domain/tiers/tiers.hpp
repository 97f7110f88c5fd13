#pragma once

// Usage tiers (SPEC §8): the daily limits of each plan tier, the UTC day arithmetic of the
// daily counters, and the plan tier of an organization as the hot path sees it (in memory,
// loaded from the store on first use).

#include "core/clock.hpp"
#include "core/result.hpp"
#include "domain/store.hpp"

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace agentidp::domain {

inline constexpr int64_t kUnlimited = -1;

// Limits of one tier; kUnlimited (-1) = no limit.
struct TierLimits {
  int64_t agents = kUnlimited;
  int64_t api_calls_per_day = kUnlimited;
  int64_t tokens_per_day = kUnlimited;
};

// free 10 / 1,000 / 1,000; pro 100 / 50,000 / 50,000; enterprise unlimited (SPEC §8). The
// daily limits can be overridden by configuration (`tier_limits`), e.g. for tests; the
// agent limit of an organization is its own `maxAgents`.
class TierTable {
 public:
  TierTable();
  // `overrides`: comma-separated `<tier>.<limit>=<n|unlimited>` with limit apiCallsPerDay or
  // tokensPerDay, e.g. "free.tokensPerDay=3,free.apiCallsPerDay=50". Empty = the defaults.
  static core::Result<TierTable> Parse(std::string_view overrides);
  // An unknown tier has the free tier's limits (the most restrictive).
  const TierLimits& For(std::string_view tier) const;
  static bool IsTier(std::string_view tier);

 private:
  std::map<std::string, TierLimits, std::less<>> tiers_;
};

// UTC days since the Unix epoch; counters reset at 00:00 UTC (SPEC §8).
int64_t UtcDay(int64_t epoch_s);
// The next 00:00 UTC after `epoch_s`, in epoch seconds.
int64_t NextUtcMidnight(int64_t epoch_s);
// "2026-11-28" for the day (keys namespaced by day are readable by operators).
std::string UtcDayLabel(int64_t day);

// One counted unit against an organization's daily limit (tokens or API calls).
struct DailyQuota {
  std::string organization_id;
  int64_t limit = kUnlimited;
};

// The plan tier of each organization, in memory: loaded from the store on first use and
// kept `ttl_ms` (changes are applied at once through Invalidate: on this node directly, on
// the others through the cluster bus's organization message; the TTL bounds what a missed
// message can cost). The system organization is always "enterprise": the
// bootstrap admin is never throttled, whatever its stored plan says.
class OrgTiers {
 public:
  OrgTiers(OrgStore& orgs, const core::Clock& clock, std::string system_organization_id,
           int64_t ttl_ms = 30'000, size_t max_entries = 100'000);
  // WouldBlock() when the tier is not in memory and `may_load` is false (an I/O thread);
  // Unavailable when the store fails. An organization the store does not know is "free".
  core::Result<std::string> TierOf(const std::string& organization_id, bool may_load);
  void Invalidate(const std::string& organization_id);
  void Clear();  // after a reconnection to the cluster bus (messages may have been missed)

 private:
  struct Entry {
    std::string tier;
    int64_t loaded_at_ms = 0;
  };
  OrgStore& orgs_;
  const core::Clock& clock_;
  const std::string system_org_id_;
  const int64_t ttl_ms_;
  const size_t max_entries_;
  std::shared_mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::atomic<uint64_t> generation_{0};  // bumped by every invalidation
};

}  // namespace agentidp::domain
