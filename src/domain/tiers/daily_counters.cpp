#include "domain/tiers/daily_counters.hpp"

#include "domain/would_block.hpp"

#include <algorithm>
#include <cstdio>

namespace agentidp::domain {

DailyCounters::DailyCounters(const core::Clock& clock, Seed seed)
    : clock_(clock), seed_(std::move(seed)) {}

DailyCounters::Shard& DailyCounters::ShardOf(const std::string& organization_id) {
  return shards_[std::hash<std::string>{}(organization_id) % shards_.size()];
}

DailyCounters::Entry& DailyCounters::EntryFor(Shard& shard, const std::string& organization_id,
                                              int64_t day) {
  // Forget earlier days once per day, so the map holds only today's organizations.
  if (shard.swept_day != day) {
    std::erase_if(shard.entries, [&](const auto& kv) { return kv.second.day < day; });
    shard.swept_day = day;
  }
  Entry& e = shard.entries[organization_id];
  if (e.day != day) e = Entry{day, 0, false, false};
  return e;
}

core::Status DailyCounters::Prepare(const std::string& organization_id, bool may_block) {
  const int64_t day = UtcDay(clock_.NowSeconds());
  Shard& shard = ShardOf(organization_id);
  {
    std::lock_guard lock(shard.mu);
    Entry& e = EntryFor(shard, organization_id, day);
    if (e.seeded) return core::Ok();
    if (!seed_) {
      e.seeded = true;
      return core::Ok();
    }
  }
  if (!may_block) return WouldBlock();
  // The seed reads the store: never under the shard's lock.
  TRY_ASSIGN(int64_t seeded, seed_(organization_id, day));
  std::lock_guard lock(shard.mu);
  Entry& e = EntryFor(shard, organization_id, day);
  if (!e.seeded) {
    e.count = std::max(e.count, seeded);
    e.seeded = true;
  }
  return core::Ok();
}

DailyCounters::Outcome DailyCounters::Consume(const DailyQuota& quota) {
  const int64_t day = UtcDay(clock_.NowSeconds());
  Shard& shard = ShardOf(quota.organization_id);
  std::lock_guard lock(shard.mu);
  Entry& e = EntryFor(shard, quota.organization_id, day);
  Outcome out;
  out.day = day;
  if (quota.limit != kUnlimited && e.count >= quota.limit) {
    out.allowed = false;
    out.used = e.count;
    return out;
  }
  ++e.count;
  e.dirty = true;
  out.used = e.count;
  return out;
}

int64_t DailyCounters::Peek(const std::string& organization_id) {
  const int64_t day = UtcDay(clock_.NowSeconds());
  Shard& shard = ShardOf(organization_id);
  std::lock_guard lock(shard.mu);
  auto it = shard.entries.find(organization_id);
  return it != shard.entries.end() && it->second.day == day ? it->second.count : 0;
}

void DailyCounters::Observe(const std::string& organization_id, int64_t day, int64_t count) {
  if (day != UtcDay(clock_.NowSeconds())) return;
  Shard& shard = ShardOf(organization_id);
  std::lock_guard lock(shard.mu);
  Entry& e = EntryFor(shard, organization_id, day);
  e.count = std::max(e.count, count);
  e.seeded = true;
}

std::vector<DailyCounters::Changed> DailyCounters::DrainChanged() {
  std::vector<Changed> out;
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    for (auto& [org, e] : shard.entries) {
      if (!e.dirty) continue;
      e.dirty = false;
      out.push_back(Changed{org, e.day, e.count});
    }
  }
  return out;
}

core::Result<int64_t> CountTokenEventsOfDay(AuditStore& audit, const std::string& organization_id,
                                            int64_t day) {
  int64_t total = 0;
  for (const char* action : {"token.issued", "token.exchanged"}) {
    AuditFilter f;
    f.organization_id = organization_id;
    f.action = action;
    f.from_ms = day * 86'400'000;
    f.to_ms = (day + 1) * 86'400'000 - 1;
    TRY_ASSIGN(auto page, audit.List(TenantScope::Org(organization_id), f, Page{1, 1}));
    total += page.total;
  }
  return total;
}

namespace {
std::string MetaKey(std::string_view name, const std::string& organization_id) {
  return "usage:" + std::string(name) + ":" + organization_id;
}
}  // namespace

core::Result<int64_t> LoadDailyCount(MetaStore& meta, std::string_view name,
                                     const std::string& organization_id, int64_t day) {
  TRY_ASSIGN(auto value, meta.Get(MetaKey(name, organization_id)));
  if (!value) return int64_t{0};
  // "<day> <count>"; a count of another day (or an unreadable value) is no count today.
  long long stored_day = 0, count = 0;
  if (std::sscanf(value->c_str(), "%lld %lld", &stored_day, &count) != 2 || stored_day != day ||
      count < 0)
    return int64_t{0};
  return static_cast<int64_t>(count);
}

core::Status SaveDailyCounts(MetaStore& meta, std::string_view name,
                             const std::vector<DailyCounters::Changed>& changed) {
  for (const auto& c : changed)
    TRY(meta.Put(MetaKey(name, c.organization_id),
                 std::to_string(c.day) + " " + std::to_string(c.count)));
  return core::Ok();
}

}  // namespace agentidp::domain
