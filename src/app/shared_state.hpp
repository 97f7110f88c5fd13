#pragma once

// The shared ephemeral state of a node (DESIGN §1): rate limits, the replay cache and the
// cluster bus (cache invalidation and revocation fan-out). In process (cache/memory) for a
// single node; in Redis (cache/redis) when REDIS_URL is set, shared by every node.

#include "app/config.hpp"
#include "cache/redis/async_commands.hpp"
#include "cache/redis/redis_client.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"
#include "domain/cluster.hpp"
#include "domain/oauth/rate_limiter.hpp"
#include "domain/replay_cache.hpp"

#include <functional>
#include <memory>
#include <string>

namespace agentidp::app {

using SharedStateLog = std::function<void(bool warning, const std::string& message)>;

struct SharedState {
  std::string backend;  // "memory" or "redis"
  // Declared first, destroyed last: everything below may use it.
  std::unique_ptr<cache::redis::Client> redis;
  // Redis on the I/O threads' event loops (the rate limiters' asynchronous path).
  std::unique_ptr<cache::redis::AsyncCommands> redis_loop;
  std::unique_ptr<domain::ClusterBus> bus;
  std::unique_ptr<domain::RateLimiter> token_limiter;   // per client, token endpoint
  std::unique_ptr<domain::RateLimiter> api_limiter;     // per agent, authenticated routes
  std::unique_ptr<domain::RateLimiter> verify_limiter;  // per caller, audit verification
  std::unique_ptr<domain::ReplayCache> replay_cache;
  // The /health/detailed entry of the shared state; empty in process (nothing to probe).
  std::function<domain::DependencyStatus()> probe;
};

// Redis unreachable at start-up is not an error: the node starts degraded and reconnects.
// `node_id` is this process's id on the bus; `pool_size` the Redis connections it may open.
core::Result<std::unique_ptr<SharedState>> OpenSharedState(const Config& config,
                                                           const core::Clock& clock,
                                                           const std::string& node_id,
                                                           size_t pool_size, SharedStateLog log);

// The Redis client options a configuration names (REDIS_URL must be set).
core::Result<cache::redis::RedisOptions> RedisOptionsFrom(const Config& config, SharedStateLog log);

}  // namespace agentidp::app
