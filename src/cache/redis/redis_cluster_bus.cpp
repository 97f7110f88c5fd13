#include "cache/redis/redis_cluster_bus.hpp"

#include <pthread.h>

#include <algorithm>
#include <chrono>

namespace agentidp::cache::redis {

namespace {
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

std::string Encode(std::string_view node_id, std::string_view topic, std::string_view payload) {
  std::string m;
  m.reserve(node_id.size() + topic.size() + payload.size() + 2);
  m.append(node_id).push_back('\n');
  m.append(topic).push_back('\n');
  m.append(payload);
  return m;
}

int64_t EpochMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

RedisClusterBus::RedisClusterBus(Client& redis, std::string node_id, size_t max_queue)
    : redis_(redis),
      node_id_(std::move(node_id)),
      channel_(redis.Key("events")),
      max_queue_(max_queue) {}

RedisClusterBus::~RedisClusterBus() {
  Stop();
}

std::string RedisClusterBus::RevokedKey(const Client& redis, std::string_view jti) {
  return redis.Key("revoked:" + std::string(jti));
}

core::Status RedisClusterBus::PublishNow(Client& redis, const std::string& node_id,
                                         std::string_view topic, std::string_view payload) {
  TRY_ASSIGN(Reply r,
             redis.Command({"PUBLISH", redis.Key("events"), Encode(node_id, topic, payload)}));
  (void)r;
  return core::Ok();
}

void RedisClusterBus::Start(Handlers handlers) {
  std::lock_guard lock(mu_);
  if (started_) return;
  started_ = true;
  handlers_ = std::move(handlers);
  publisher_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "agentidp-rpub");
    RunPublisher();
  });
  subscriber_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "agentidp-rsub");
    RunSubscriber();
  });
}

void RedisClusterBus::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (publisher_.joinable()) publisher_.join();
  if (subscriber_.joinable()) subscriber_.join();
  connected_ = false;
}

void RedisClusterBus::Enqueue(Outgoing out) {
  {
    std::lock_guard lock(mu_);
    if (!started_ || stopping_ || queue_.size() >= max_queue_) return;
    queue_.push_back(std::move(out));
  }
  cv_.notify_all();
}

void RedisClusterBus::Publish(std::string_view topic, std::string_view payload) {
  Enqueue(Outgoing{Encode(node_id_, topic, payload), {}, 0});
}

void RedisClusterBus::PublishRevocation(const std::string& jti, int64_t expires_at_ms) {
  Enqueue(Outgoing{
      Encode(node_id_, domain::topics::kRevoked, jti + " " + std::to_string(expires_at_ms)),
      RevokedKey(redis_, jti), expires_at_ms});
}

bool RedisClusterBus::Pause(milliseconds ms) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, ms, [&] { return stopping_; });
  return !stopping_;
}

void RedisClusterBus::RunPublisher() {
  constexpr size_t kBatch = 256;
  // Longer than the client's reconnect back-off (0.5 s by default) and its probe.
  const milliseconds kPublishPatience =
      std::max(milliseconds(3000), 4 * redis_.options().reconnect_backoff);
  std::vector<Outgoing> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      while (!queue_.empty() && batch.size() < kBatch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    std::vector<std::vector<std::string>> commands;
    const int64_t now = EpochMs();
    for (auto& out : batch) {
      if (!out.revoked_key.empty() && out.expires_at_ms > now)
        commands.push_back(
            {"SET", out.revoked_key, "1", "PXAT", std::to_string(out.expires_at_ms)});
      commands.push_back({"PUBLISH", channel_, std::move(out.message)});
    }
    batch.clear();
    // The client may be in its reconnect back-off while Redis is up (a failure that raced
    // Redis's return, e.g. on a connection its restart cut, sets 0.5 s of back-off after the
    // node already saw Redis again) or the pipeline may fail: the batch waits for Redis a
    // little, then is dropped.
    // Dropping is safe (the other nodes are disconnected too, or poll the store, where
    // revocations are durable first), only slower: a revocation would reach them at the next
    // poll instead of within a second. A message sent twice (a failure after the send) is
    // harmless: every message is an idempotent invalidation.
    const auto give_up = Clock::now() + kPublishPatience;
    for (;;) {
      if (redis_.Available() && redis_.Pipeline(commands).ok()) break;
      if (Clock::now() >= give_up) break;
      if (!Pause(milliseconds(50))) return;  // stopping
    }
  }
}

void RedisClusterBus::RunSubscriber() {
  const milliseconds timeout = redis_.options().timeout;
  const milliseconds backoff = redis_.options().reconnect_backoff;
  const milliseconds ping_after{1000};
  const milliseconds pong_within = std::max(timeout, milliseconds(1000));
  bool stopping = false;
  while (!stopping) {
    auto opened = Connection::Open(redis_.options().endpoint, timeout);
    if (!opened.ok()) {
      redis_.ReportFailure("subscribe: " + opened.error().message);
      stopping = !Pause(backoff);
      continue;
    }
    auto connection = std::move(opened).value();
    // SUBSCRIBE and its confirmation, bounded by the timeout.
    bool subscribed = false;
    std::string failure;
    if (auto sent = connection->Send({"SUBSCRIBE", channel_}); !sent.ok()) {
      failure = sent.error().message;
    } else {
      const auto deadline = Clock::now() + timeout;
      while (!subscribed && Clock::now() < deadline) {
        auto r = connection->Receive(milliseconds(50));
        if (!r.ok()) {
          failure = r.error().message;
          break;
        }
        if (*r && (*r)->kind == Reply::Kind::kArray && !(*r)->elements.empty() &&
            (*r)->elements[0].text == "subscribe")
          subscribed = true;
      }
      if (!subscribed && failure.empty()) failure = "SUBSCRIBE timed out";
    }
    if (!subscribed) {
      redis_.ReportFailure("subscribe: " + failure);
      stopping = !Pause(backoff);
      continue;
    }
    connected_ = true;
    redis_.ReportSuccess();
    if (handlers_.resync) handlers_.resync();

    auto last_heard = Clock::now();
    // A plain flag, not std::optional: GCC 12 -O3 reports a false -Wmaybe-uninitialized.
    bool ping_outstanding = false;
    Clock::time_point ping_sent = last_heard;
    for (;;) {
      {
        std::lock_guard lock(mu_);
        if (stopping_) {
          stopping = true;
          break;
        }
      }
      auto r = connection->Receive(milliseconds(200));
      if (!r.ok()) {
        failure = r.error().message;
        break;
      }
      const auto now = Clock::now();
      if (*r) {
        last_heard = now;
        ping_outstanding = false;
        const Reply& reply = **r;
        if (reply.kind == Reply::Kind::kArray && reply.elements.size() == 3 &&
            reply.elements[0].text == "message") {
          std::string_view m = reply.elements[2].text;
          const size_t a = m.find('\n');
          const size_t b = a == std::string_view::npos ? a : m.find('\n', a + 1);
          if (b == std::string_view::npos) continue;  // not ours
          if (m.substr(0, a) == node_id_) continue;
          if (handlers_.message) handlers_.message(m.substr(a + 1, b - a - 1), m.substr(b + 1));
        }
        continue;
      }
      if (ping_outstanding) {
        if (now - ping_sent > pong_within) {
          failure = "no answer to PING";
          break;
        }
      } else if (now - last_heard > ping_after) {
        if (auto sent = connection->Send({"PING"}); !sent.ok()) {
          failure = sent.error().message;
          break;
        }
        ping_sent = now;
        ping_outstanding = true;
      }
    }
    connected_ = false;
    if (stopping) break;
    redis_.ReportFailure("subscription lost: " + failure);
    if (handlers_.disconnected) handlers_.disconnected();
    stopping = !Pause(backoff);
  }
}

}  // namespace agentidp::cache::redis
