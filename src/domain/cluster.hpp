#pragma once

// What the nodes of one deployment tell each other (DESIGN §1, §4): cache invalidation for
// agents and credentials, signing keys and the policy, and the revocation fan-out.
// Implementations: cache/memory (a single node: nothing to tell) and cache/redis (pub/sub).
//
// Messages are hints that make a change visible at once; the durable state is the store's.
// A message can be lost while a node is disconnected, so the bus says when it (re)connects
// and the node then re-reads what it caches from the store (`Handlers::resync`).

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace agentidp::domain {

namespace topics {
inline constexpr std::string_view kAgent = "agent";  // payload: agent id; its cache entry is stale
// payload: organization id; its status changed, the cache entries of its agents are stale
inline constexpr std::string_view kOrganization = "organization";
inline constexpr std::string_view kPartner = "partner";  // payload: federation partner id
inline constexpr std::string_view kRevoked = "revoked";  // payload: "<jti> <expires_at_ms>"
inline constexpr std::string_view kKeys = "keys";        // payload: ""; re-read the key set
inline constexpr std::string_view kPolicy = "policy";    // payload: ""; reload the policy file
}  // namespace topics

class ClusterBus {
 public:
  struct Handlers {
    // A message from another node (never one of our own). Runs on the bus's thread: must be
    // quick and must not block (hand blocking work to another thread).
    std::function<void(std::string_view topic, std::string_view payload)> message;
    // Connected (the first time, or again after a gap in which messages may have been
    // missed): re-read the durable state behind every cache.
    std::function<void()> resync;
    // Lost the connection: until the next `resync`, changes made on other nodes arrive only
    // through the store.
    std::function<void()> disconnected;
  };

  virtual ~ClusterBus() = default;
  // Starts receiving (and reconnecting by itself); handlers run on the bus's own thread.
  virtual void Start(Handlers handlers) = 0;
  virtual void Stop() = 0;
  // Queues a message for every other node. Never blocks; best effort (dropped while the bus
  // is disconnected or its queue is full: the receivers resynchronize from the store).
  virtual void Publish(std::string_view topic, std::string_view payload) = 0;
  // A revoked access token: published on topics::kRevoked and kept in the shared state until
  // the token expires (`expires_at_ms`). Same delivery rules as Publish.
  virtual void PublishRevocation(const std::string& jti, int64_t expires_at_ms) = 0;
  // Subscribed and receiving.
  virtual bool Connected() const = 0;
  virtual std::string BackendName() const = 0;
};

// One dependency's state for /health/detailed.
struct DependencyStatus {
  bool up = false;
  double latency_ms = 0;
  std::string detail;  // a short reason when down; never a URL or a secret
};

}  // namespace agentidp::domain
