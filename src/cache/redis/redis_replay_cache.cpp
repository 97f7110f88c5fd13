#include "cache/redis/redis_replay_cache.hpp"

#include "crypto/hash.hpp"

#include <algorithm>

namespace agentidp::cache::redis {

RedisReplayCache::RedisReplayCache(Client& redis, const core::Clock& clock)
    : redis_(redis), clock_(clock), local_(clock) {}

core::Result<bool> RedisReplayCache::Consume(std::string_view ns, std::string_view key,
                                             int64_t expires_at_ms) {
  if (!redis_.Available()) return local_.Consume(ns, key, expires_at_ms);
  std::string id = key.size() <= 64 ? std::string(key) : "sha256:" + crypto::Sha256Hex(key);
  const std::string entry = redis_.Key("replay:" + std::string(ns) + ":" + id);
  // PX must be positive; an already expired key is recorded for a moment (the caller refuses
  // expired assertions anyway).
  const int64_t ttl_ms = std::max<int64_t>(1, expires_at_ms - clock_.NowMs());
  auto reply = redis_.Command({"SET", entry, "1", "NX", "PX", std::to_string(ttl_ms)});
  if (!reply.ok()) return local_.Consume(ns, key, expires_at_ms);
  // OK when set (first use), nil when the key exists (a replay).
  return !reply->IsNil();
}

}  // namespace agentidp::cache::redis
