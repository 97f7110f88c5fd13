#pragma once

// In-memory view of agents and their active credentials, so that authenticating a client
// and checking an agent's status needs no store round trip (DESIGN §4). Entries are loaded
// on first use, dropped on every change made through this process (and, through the change
// listener and the cluster bus, on every other node), and expire after a short TTL to bound
// staleness from changes that no message reported.

#include "core/clock.hpp"
#include "core/result.hpp"
#include "domain/model.hpp"
#include "domain/store.hpp"
#include "domain/would_block.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <unordered_map>

namespace agentidp::domain {

struct ClientRecord {
  Agent agent;
  std::vector<Credential> active_credentials;
  // The agent's organization is active (not suspended or deleted), read with the agent so
  // that the hot path checks it without another store round trip.
  bool organization_active = false;
  int64_t loaded_at_ms = 0;
  // May authenticate, obtain tokens and have its tokens honoured: the agent and its
  // organization are active (SPEC §3).
  bool Usable() const { return organization_active && agent.status == "active"; }
};

class ClientDirectory {
 public:
  ClientDirectory(Store& store, const core::Clock& clock, int64_t ttl_ms = 30'000,
                  size_t max_entries = 200'000);
  // nullptr when no such agent. Errors when the store fails, or — with `may_load` false, for
  // callers on an I/O thread — WouldBlock() when the answer is not in memory.
  core::Result<std::shared_ptr<const ClientRecord>> Find(const std::string& agent_id,
                                                         bool may_load = true);
  // The agent or its credentials changed here: drop it and tell the change listener.
  void Invalidate(const std::string& agent_id);
  // The agent changed on another node: drop it (the listener is not told).
  void Forget(const std::string& agent_id);
  // An organization's status changed here: drop its agents and tell the organization listener.
  void InvalidateOrganization(const std::string& organization_id);
  // An organization changed on another node: drop its agents (the listener is not told).
  void ForgetOrganization(const std::string& organization_id);
  void Clear();
  // Called by InvalidateOrganization (after the store change). Same rules as the change
  // listener.
  void SetOrganizationListener(std::function<void(const std::string& organization_id)> listener);
  // Called by Invalidate (after the store change), e.g. to tell the other nodes. Set before
  // serving; not thread-safe against concurrent calls.
  void SetChangeListener(std::function<void(const std::string& agent_id)> listener);

 private:
  Store& store_;
  const core::Clock& clock_;
  const int64_t ttl_ms_;
  const size_t max_entries_;
  std::shared_mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const ClientRecord>> entries_;
  // Bumped by every invalidation: a load that raced with one is not cached (it may have read
  // the state from before the change).
  std::atomic<uint64_t> generation_{0};
  std::function<void(const std::string&)> listener_;
  std::function<void(const std::string&)> org_listener_;
};

}  // namespace agentidp::domain
