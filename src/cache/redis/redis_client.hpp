#pragma once

// The Redis side of a node: a small pool of connections shared by the request threads, the
// health of the link, and the key prefix of this deployment.
//
// Every call is bounded: connecting, writing and reading each by `timeout`, waiting for a
// pooled connection too. After a failure the client is "down": for `reconnect_backoff` every
// call fails at once (Unavailable) without touching the network, so callers fall back to
// local state instead of each waiting for the timeout; then one call probes again. Idle
// connections are dropped on a failure (they most likely died with the server) and a call
// whose pooled connection turns out to have been closed by the server (Redis restarted while
// it sat idle) retries once on a new connection before reporting a failure.
//
// Blocking: callers must not run on an I/O thread (DESIGN §4).

#include "cache/redis/redis_connection.hpp"
#include "cache/redis/redis_url.hpp"
#include "core/result.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace agentidp::cache::redis {

struct RedisOptions {
  RedisEndpoint endpoint;
  std::chrono::milliseconds timeout{500};
  size_t pool_size = 8;
  std::chrono::milliseconds reconnect_backoff{500};
  // Every key and the pub/sub channel start with it, so deployments (and tests) can share
  // one Redis.
  std::string key_prefix = "agentidp:";
  // Transitions (down, up again) for the application log: warning = true when degraded.
  std::function<void(bool warning, const std::string& message)> log;
};

class Client {
 public:
  explicit Client(RedisOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // One command. Errors (all Unavailable): Redis unreachable or down (back-off), a timeout,
  // every pooled connection busy for `timeout`, or an error reply (LOADING, READONLY, OOM,
  // ...) which also counts as a failure of the link.
  core::Result<Reply> Command(const std::vector<std::string>& argv);
  // Several commands in one round trip; any error reply fails the whole call.
  core::Result<std::vector<Reply>> Pipeline(const std::vector<std::vector<std::string>>& commands);

  // false while down and inside the back-off: a call would fail at once.
  bool Available() const;
  // The last call reached Redis.
  bool Up() const { return up_.load(); }
  // PING round trip in milliseconds.
  core::Result<double> Ping();

  const RedisOptions& options() const { return options_; }
  std::string Key(std::string_view suffix) const {
    return options_.key_prefix + std::string(suffix);
  }

  // Marks the link down (logs the first failure) / up (logs the recovery). Also used by the
  // subscriber, which has its own connection.
  void ReportFailure(const std::string& detail);
  void ReportSuccess();

 private:
  core::Result<std::unique_ptr<Connection>> Acquire(bool& reused);
  void Release(std::unique_ptr<Connection> connection);
  template <typename Fn>
  auto Run(Fn&& fn) -> decltype(fn(std::declval<Connection&>()));
  int64_t NowMs() const;

  const RedisOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
  size_t open_ = 0;
  std::atomic<bool> up_{true};
  std::atomic<int64_t> down_until_ms_{0};  // steady clock; 0 = not down
  std::atomic<bool> logged_down_{false};
};

}  // namespace agentidp::cache::redis
