#pragma once

// Per-organization counts of the current UTC day (SPEC §8: API calls and token issuances per
// day, reset at 00:00 UTC), in process. Sharded by organization so that the request threads
// rarely contend; a counter is one map entry per organization that was active today.
//
// A process that restarts would forget its counts and let a tenant exceed its limit, so the
// first time an organization is counted on a given day its count is seeded (`Seed`: e.g.
// today's token.issued events in the audit log, or a count persisted by DrainChanged()).

#include "core/clock.hpp"
#include "core/result.hpp"
#include "domain/store.hpp"
#include "domain/tiers/tiers.hpp"

#include <array>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace agentidp::domain {

class DailyCounters {
 public:
  // Today's count of an organization so far, from a durable source. May block.
  using Seed =
      std::function<core::Result<int64_t>(const std::string& organization_id, int64_t day)>;

  explicit DailyCounters(const core::Clock& clock, Seed seed = {});

  // Makes today's count of the organization known (seeds it once per day). WouldBlock() when
  // it needs the seed and `may_block` is false; the seed's error when it fails.
  core::Status Prepare(const std::string& organization_id, bool may_block);

  struct Outcome {
    bool allowed = true;
    int64_t used = 0;  // today's count after this call
    int64_t day = 0;
  };
  // Counts one unit unless today's count has reached `quota.limit` (kUnlimited: always
  // counts). Call Prepare first; an organization not prepared today starts from zero.
  Outcome Consume(const DailyQuota& quota);
  // Today's count (0 when the organization has not been counted today).
  int64_t Peek(const std::string& organization_id);
  // Raises the day's count to at least `count`: the last value read from a shared counter,
  // so that counting locally (the shared one unreachable) continues from there.
  void Observe(const std::string& organization_id, int64_t day, int64_t count);

  struct Changed {
    std::string organization_id;
    int64_t day = 0;
    int64_t count = 0;
  };
  // Counts changed since the previous call, for batched persistence.
  std::vector<Changed> DrainChanged();

 private:
  struct Entry {
    int64_t day = 0;
    int64_t count = 0;
    bool seeded = false;
    bool dirty = false;
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, Entry> entries;
    int64_t swept_day = 0;
  };
  Shard& ShardOf(const std::string& organization_id);
  // The organization's entry for `day` (reset when it held an earlier day). Shard locked.
  Entry& EntryFor(Shard& shard, const std::string& organization_id, int64_t day);

  const core::Clock& clock_;
  const Seed seed_;
  std::array<Shard, 16> shards_;
};

// Seeds and persistence of the in-process counters (docs/decisions.md "Daily counters on
// one node survive restarts"):
// - token issuances: the organization's token.issued and token.exchanged events of the day in
//   the audit log, which holds every issued token durably before its response;
// - API calls (not audited): the count persisted in the meta table under
//   "usage:api:<organization>" as "<day> <count>", written in batches by SaveDailyCounts.
core::Result<int64_t> CountTokenEventsOfDay(AuditStore& audit, const std::string& organization_id,
                                            int64_t day);
core::Result<int64_t> LoadDailyCount(MetaStore& meta, std::string_view name,
                                     const std::string& organization_id, int64_t day);
core::Status SaveDailyCounts(MetaStore& meta, std::string_view name,
                             const std::vector<DailyCounters::Changed>& changed);

}  // namespace agentidp::domain
