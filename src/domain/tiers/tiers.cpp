#include "domain/tiers/tiers.hpp"

#include "domain/would_block.hpp"

#include <charconv>
#include <mutex>

namespace agentidp::domain {

namespace {
constexpr int64_t kDayS = 86'400;

int64_t FloorDiv(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}
}  // namespace

TierTable::TierTable() {
  tiers_["free"] = TierLimits{10, 1'000, 1'000};
  tiers_["pro"] = TierLimits{100, 50'000, 50'000};
  tiers_["enterprise"] = TierLimits{kUnlimited, kUnlimited, kUnlimited};
}

bool TierTable::IsTier(std::string_view tier) {
  return tier == "free" || tier == "pro" || tier == "enterprise";
}

core::Result<TierTable> TierTable::Parse(std::string_view overrides) {
  TierTable table;
  auto bad = [](std::string_view item, const std::string& why) {
    return core::Error::Validation("tier_limits: \"" + std::string(item) + "\": " + why);
  };
  size_t start = 0;
  while (start <= overrides.size() && !overrides.empty()) {
    size_t end = overrides.find(',', start);
    if (end == std::string_view::npos) end = overrides.size();
    const std::string_view item = overrides.substr(start, end - start);
    start = end + 1;
    const size_t dot = item.find('.');
    const size_t eq = item.find('=');
    if (dot == std::string_view::npos || eq == std::string_view::npos || eq < dot)
      return bad(item, "expected <tier>.<apiCallsPerDay|tokensPerDay>=<n|unlimited>");
    const std::string_view tier = item.substr(0, dot);
    const std::string_view name = item.substr(dot + 1, eq - dot - 1);
    const std::string_view value = item.substr(eq + 1);
    if (!IsTier(tier)) return bad(item, "the tier must be free, pro or enterprise");
    int64_t n = kUnlimited;
    if (value != "unlimited") {
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || p != value.data() + value.size() || n < 0 || n > 1'000'000'000'000)
        return bad(item, "the value must be an integer from 0 to 10^12, or unlimited");
    }
    TierLimits& limits = table.tiers_.find(tier)->second;
    if (name == "apiCallsPerDay")
      limits.api_calls_per_day = n;
    else if (name == "tokensPerDay")
      limits.tokens_per_day = n;
    else
      return bad(item, "the limit must be apiCallsPerDay or tokensPerDay");
    if (end == overrides.size()) break;
  }
  return table;
}

const TierLimits& TierTable::For(std::string_view tier) const {
  auto it = tiers_.find(tier);
  return it != tiers_.end() ? it->second : tiers_.find(std::string_view("free"))->second;
}

int64_t UtcDay(int64_t epoch_s) {
  return FloorDiv(epoch_s, kDayS);
}

int64_t NextUtcMidnight(int64_t epoch_s) {
  return (UtcDay(epoch_s) + 1) * kDayS;
}

std::string UtcDayLabel(int64_t day) {
  return core::FormatIso8601(day * kDayS * 1000).substr(0, 10);
}

OrgTiers::OrgTiers(OrgStore& orgs, const core::Clock& clock, std::string system_organization_id,
                   int64_t ttl_ms, size_t max_entries)
    : orgs_(orgs),
      clock_(clock),
      system_org_id_(std::move(system_organization_id)),
      ttl_ms_(ttl_ms),
      max_entries_(max_entries) {}

core::Result<std::string> OrgTiers::TierOf(const std::string& organization_id, bool may_load) {
  if (organization_id == system_org_id_) return std::string("enterprise");
  const int64_t now = clock_.NowMs();
  {
    std::shared_lock lock(mu_);
    auto it = entries_.find(organization_id);
    if (it != entries_.end() && now - it->second.loaded_at_ms < ttl_ms_) return it->second.tier;
  }
  if (!may_load) return WouldBlock();
  const uint64_t generation = generation_.load();
  TRY_ASSIGN(auto org, orgs_.Get(TenantScope::Org(organization_id), organization_id));
  std::string tier = org && TierTable::IsTier(org->plan_tier) ? org->plan_tier : "free";
  std::unique_lock lock(mu_);
  // A load that raced with an invalidation may have read the plan from before the change.
  if (generation_.load() != generation) return tier;
  if (entries_.size() >= max_entries_) entries_.clear();
  entries_[organization_id] = Entry{tier, now};
  return tier;
}

void OrgTiers::Invalidate(const std::string& organization_id) {
  std::unique_lock lock(mu_);
  ++generation_;
  entries_.erase(organization_id);
}

void OrgTiers::Clear() {
  std::unique_lock lock(mu_);
  ++generation_;
  entries_.clear();
}

}  // namespace agentidp::domain
