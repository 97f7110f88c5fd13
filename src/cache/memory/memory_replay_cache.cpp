#include "cache/memory/memory_replay_cache.hpp"

#include <functional>

namespace agentidp::cache {

MemoryReplayCache::MemoryReplayCache(const core::Clock& clock, size_t capacity)
    : clock_(clock), per_shard_(capacity / kShards + 1) {}

core::Result<bool> MemoryReplayCache::Consume(std::string_view ns, std::string_view key,
                                              int64_t expires_at_ms) {
  std::string k;
  k.reserve(ns.size() + 1 + key.size());
  k.append(ns).push_back('\0');
  k.append(key);
  Shard& s = shards_[std::hash<std::string>{}(k) % kShards];
  const int64_t now = clock_.NowMs();
  std::lock_guard lock(s.mu);
  if (now >= s.next_sweep_ms || s.entries.size() >= per_shard_) {
    std::erase_if(s.entries, [now](const auto& e) { return e.second <= now; });
    s.next_sweep_ms = now + 10'000;
  }
  auto it = s.entries.find(k);
  if (it != s.entries.end()) {
    if (it->second > now) return false;
    it->second = expires_at_ms;
    return true;
  }
  if (s.entries.size() >= per_shard_)
    return core::Error{core::Errc::kUnavailable, "REPLAY_CACHE_FULL",
                       "Replay cache is full; try again later"};
  s.entries.emplace(std::move(k), expires_at_ms);
  return true;
}

size_t MemoryReplayCache::Size() {
  size_t n = 0;
  for (auto& s : shards_) {
    std::lock_guard lock(s.mu);
    n += s.entries.size();
  }
  return n;
}

}  // namespace agentidp::cache
