#include "app/shared_state.hpp"

#include "cache/memory/local_cluster_bus.hpp"
#include "cache/memory/memory_rate_limiter.hpp"
#include "cache/memory/memory_replay_cache.hpp"
#include "cache/redis/redis_cluster_bus.hpp"
#include "cache/redis/redis_rate_limiter.hpp"
#include "cache/redis/redis_replay_cache.hpp"
#include "http/redis_loop.hpp"

namespace agentidp::app {

core::Result<cache::redis::RedisOptions> RedisOptionsFrom(const Config& config,
                                                          SharedStateLog log) {
  TRY_ASSIGN(auto endpoint, cache::redis::ParseRedisUrl(config.redis_url));
  cache::redis::RedisOptions options;
  options.endpoint = std::move(endpoint);
  options.timeout = std::chrono::milliseconds(config.redis_timeout_ms);
  options.key_prefix = config.redis_key_prefix;
  options.log = std::move(log);
  return options;
}

core::Result<std::unique_ptr<SharedState>> OpenSharedState(const Config& config,
                                                           const core::Clock& clock,
                                                           const std::string& node_id,
                                                           size_t pool_size, SharedStateLog log,
                                                           UsageSeeds seeds) {
  auto state = std::make_unique<SharedState>();
  if (config.redis_url.empty()) {
    state->backend = "memory";
    state->bus = std::make_unique<cache::LocalClusterBus>();
    state->token_counts = std::make_unique<domain::DailyCounters>(clock, std::move(seeds.tokens));
    state->api_counts = std::make_unique<domain::DailyCounters>(clock, std::move(seeds.api_calls));
    state->token_limiter = std::make_unique<cache::MemoryRateLimiter>(
        clock, config.rate_limit_per_minute, 60, state->token_counts.get());
    state->api_limiter = std::make_unique<cache::MemoryRateLimiter>(
        clock, config.api_rate_limit_per_minute, 60, state->api_counts.get());
    state->verify_limiter = std::make_unique<cache::MemoryRateLimiter>(clock, 30);
    state->replay_cache = std::make_unique<cache::MemoryReplayCache>(
        clock, static_cast<size_t>(config.replay_cache_entries));
    return state;
  }
  TRY_ASSIGN(auto options, RedisOptionsFrom(config, std::move(log)));
  options.pool_size = std::max<size_t>(pool_size, 2);
  state->backend = "redis";
  state->redis_loop = std::make_unique<http::RedisLoopClient>(options.endpoint, options.timeout,
                                                              options.reconnect_backoff);
  state->redis = std::make_unique<cache::redis::Client>(std::move(options));
  auto& redis = *state->redis;
  auto bus = std::make_unique<cache::redis::RedisClusterBus>(redis, node_id);
  auto* bus_ptr = bus.get();
  state->bus = std::move(bus);
  auto token_limiter = std::make_unique<cache::redis::RedisRateLimiter>(
      redis, clock, "token", config.rate_limit_per_minute, 60, "tokens");
  token_limiter->SetAsync(state->redis_loop.get());
  state->token_limiter = std::move(token_limiter);
  auto api_limiter = std::make_unique<cache::redis::RedisRateLimiter>(
      redis, clock, "api", config.api_rate_limit_per_minute, 60, "api");
  api_limiter->SetAsync(state->redis_loop.get());
  state->api_limiter = std::move(api_limiter);
  state->verify_limiter =
      std::make_unique<cache::redis::RedisRateLimiter>(redis, clock, "verify", 30);
  state->replay_cache = std::make_unique<cache::redis::RedisReplayCache>(redis, clock);
  state->probe = [&redis, bus_ptr]() {
    domain::DependencyStatus s;
    auto ping = redis.Ping();
    if (ping.ok()) s.latency_ms = *ping;
    s.up = ping.ok() && bus_ptr->Connected();
    if (!ping.ok())
      s.detail = "unreachable; rate limits, replay cache and cache invalidation are local";
    else if (!bus_ptr->Connected())
      s.detail = "subscription down; changes from other nodes arrive through the store";
    return s;
  };
  return state;
}

}  // namespace agentidp::app
