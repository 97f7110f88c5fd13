#pragma once

// ClusterBus over Redis pub/sub: one channel per deployment (<prefix>events); a message is
// "<node id>\n<topic>\n<payload>" and a node ignores its own.
//
// - Publishing never blocks the caller: messages go to a bounded queue that a publisher
//   thread sends (pipelined) over the shared Client. While Redis is down they are dropped;
//   the receivers resynchronize from the store when they reconnect.
// - A revocation is also written as <prefix>revoked:<jti> with the token's expiry (PXAT), the
//   shared set of revoked tokens that are still alive.
// - A subscriber thread holds its own connection, pings it after 1 s of silence (a dead
//   server or network is noticed within about a second plus the timeout, not only on TCP
//   errors), reconnects by itself every back-off period, and calls `resync` after every
//   successful SUBSCRIBE (the first one included: messages sent before it are unknown).

#include "cache/redis/redis_client.hpp"
#include "domain/cluster.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace agentidp::cache::redis {

class RedisClusterBus final : public domain::ClusterBus {
 public:
  // `node_id`: unique per process (a random UUID).
  RedisClusterBus(Client& redis, std::string node_id, size_t max_queue = 10'000);
  ~RedisClusterBus() override;
  RedisClusterBus(const RedisClusterBus&) = delete;
  RedisClusterBus& operator=(const RedisClusterBus&) = delete;

  void Start(Handlers handlers) override;
  void Stop() override;
  void Publish(std::string_view topic, std::string_view payload) override;
  void PublishRevocation(const std::string& jti, int64_t expires_at_ms) override;
  bool Connected() const override { return connected_.load(); }
  std::string BackendName() const override { return "redis"; }

  // Sends one message now, on the calling thread (a CLI command that exits right after).
  static core::Status PublishNow(Client& redis, const std::string& node_id, std::string_view topic,
                                 std::string_view payload);
  // Redis key of a revoked token's entry.
  static std::string RevokedKey(const Client& redis, std::string_view jti);

 private:
  struct Outgoing {
    std::string message;
    std::string revoked_key;  // set for revocations
    int64_t expires_at_ms = 0;
  };
  void Enqueue(Outgoing out);
  void RunPublisher();
  void RunSubscriber();
  // Waits up to `ms`; false when stopping.
  bool Pause(std::chrono::milliseconds ms);

  Client& redis_;
  const std::string node_id_;
  const std::string channel_;
  const size_t max_queue_;
  Handlers handlers_;
  std::atomic<bool> connected_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  bool stopping_ = false;
  std::deque<Outgoing> queue_;
  std::thread publisher_;
  std::thread subscriber_;
};

}  // namespace agentidp::cache::redis
