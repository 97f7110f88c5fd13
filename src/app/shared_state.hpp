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
#include "domain/tiers/daily_counters.hpp"

#include <functional>
#include <memory>
#include <string>

namespace agentidp::app {

using SharedStateLog = std::function<void(bool warning, const std::string& message)>;

// Where the in-process daily counters of the organizations (SPEC §8) take today's counts
// from when they first count an organization on a day (after a restart). Unused with Redis,
// which holds the deployment's counts.
struct UsageSeeds {
  domain::DailyCounters::Seed tokens;
  domain::DailyCounters::Seed api_calls;
};

struct SharedState {
  std::string backend;  // "memory" or "redis"
  // Declared first, destroyed last: everything below may use it.
  std::unique_ptr<cache::redis::Client> redis;
  // In process only: the organizations' daily counts of token issuances and API calls,
  // decided together with the token and API limiters' windows.
  std::unique_ptr<domain::DailyCounters> token_counts;
  std::unique_ptr<domain::DailyCounters> api_counts;
  // Redis on the I/O threads' event loops (the rate limiters' asynchronous path).
  std::unique_ptr<cache::redis::AsyncCommands> redis_loop;
  std::unique_ptr<domain::ClusterBus> bus;
  // per client, token endpoint; with the organizations' daily token issuances
  std::unique_ptr<domain::RateLimiter> token_limiter;
  // per agent, authenticated routes; with the organizations' daily API calls
  std::unique_ptr<domain::RateLimiter> api_limiter;
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
                                                           size_t pool_size, SharedStateLog log,
                                                           UsageSeeds seeds = {});

// The Redis client options a configuration names (REDIS_URL must be set).
core::Result<cache::redis::RedisOptions> RedisOptionsFrom(const Config& config, SharedStateLog log);

}  // namespace agentidp::app
