#pragma once

// In-process ReplayCache: sharded hash maps, entries dropped once expired. Bounded: when a
// shard is full of unexpired entries, new keys are refused (an error, so the caller refuses
// the request) rather than evicting an entry that would reopen a replay window.

#include "core/clock.hpp"
#include "domain/replay_cache.hpp"

#include <array>
#include <mutex>
#include <string>
#include <unordered_map>

namespace agentidp::cache {

class MemoryReplayCache final : public domain::ReplayCache {
 public:
  // `capacity`: most entries held at once, over all namespaces.
  explicit MemoryReplayCache(const core::Clock& clock, size_t capacity = 1'000'000);
  core::Result<bool> Consume(std::string_view ns, std::string_view key,
                             int64_t expires_at_ms) override;
  size_t Size();

 private:
  static constexpr size_t kShards = 16;
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, int64_t> entries;  // ns + '\0' + key -> expires ms
    int64_t next_sweep_ms = 0;
  };
  const core::Clock& clock_;
  const size_t per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace agentidp::cache
