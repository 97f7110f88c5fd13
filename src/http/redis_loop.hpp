#pragma once

// cache::redis::AsyncCommands on the server's I/O threads: each I/O thread that sends a
// command opens its own non-blocking hiredis connection, driven by the thread's io_context, so
// a request waits for Redis without leaving its thread (no worker hand-off, no blocked
// worker) and the commands of concurrent requests on one thread go out in one write and come
// back in one read.
//
// Every command is bounded by `timeout` (from its send to its reply); a timeout or an I/O
// error closes that thread's connection and fails every command waiting on it (Unavailable);
// the next Send reconnects, not sooner than `reconnect_backoff` after a failure (Send answers
// false meanwhile, and the caller uses the blocking client, which has its own back-off).
// The host is resolved once, here, so that a reconnect never waits on DNS on an I/O thread.

#include "cache/redis/async_commands.hpp"
#include "cache/redis/redis_url.hpp"

#include <chrono>
#include <cstdint>

namespace agentidp::http {

class RedisLoopClient final : public cache::redis::AsyncCommands {
 public:
  RedisLoopClient(cache::redis::RedisEndpoint endpoint, std::chrono::milliseconds timeout,
                  std::chrono::milliseconds reconnect_backoff);
  ~RedisLoopClient() override;
  RedisLoopClient(const RedisLoopClient&) = delete;
  RedisLoopClient& operator=(const RedisLoopClient&) = delete;

  bool Send(const std::vector<std::string>& argv, cache::redis::ReplyCallback done) override;

  struct Settings {
    cache::redis::RedisEndpoint endpoint;  // host numeric when it could be resolved
    std::chrono::milliseconds timeout;
    std::chrono::milliseconds reconnect_backoff;
  };

 private:
  const uint64_t id_;  // tells this client's per-thread connections from another one's
  const Settings settings_;
};

}  // namespace agentidp::http
