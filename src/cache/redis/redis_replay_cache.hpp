#pragma once

// ReplayCache shared by every node: SET <prefix>replay:<ns>:<key> NX PX <ttl>, which is
// atomic in Redis, so of two nodes seeing the same key at once exactly one gets "first use".
// Keys longer than 64 bytes are stored as their SHA-256 (they come from clients).
//
// Blocking (one round trip bounded by the Redis timeout): call it from the worker pool, not
// an I/O thread. While Redis is down, uses are recorded in this node's MemoryReplayCache (a
// replay through another node is then not detected until Redis is back; the windows are the
// short lifetimes of assertions and proofs).

#include "cache/memory/memory_replay_cache.hpp"
#include "cache/redis/redis_client.hpp"
#include "core/clock.hpp"
#include "domain/replay_cache.hpp"

namespace agentidp::cache::redis {

class RedisReplayCache final : public domain::ReplayCache {
 public:
  RedisReplayCache(Client& redis, const core::Clock& clock);
  core::Result<bool> Consume(std::string_view ns, std::string_view key,
                             int64_t expires_at_ms) override;
  bool Blocking() const override { return true; }

 private:
  Client& redis_;
  const core::Clock& clock_;
  MemoryReplayCache local_;
};

}  // namespace agentidp::cache::redis
