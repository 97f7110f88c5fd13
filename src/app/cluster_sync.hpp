#pragma once

// Keeps this node's in-memory state in step with the other nodes (DESIGN §1, §4):
//
// - publishes what changes here: agents and credentials (the client directory's change
//   listener), revocations (the revocation list's listener); the policy after a reload;
// - applies what other nodes publish: drops stale agents, remembers their revocations,
//   re-reads the key set, reloads the policy file;
// - resynchronizes from the store whenever the bus (re)connects, since messages sent in the
//   gap are lost: clears the client cache, merges the store's revocations, refreshes the keys;
// - polls the store's revocations every `connected_poll` (30 s) as a safety net (a node cut
//   off from Redis alone cannot announce its revocations), and every `disconnected_poll`
//   (1 s) while the bus is down: a revocation made anywhere takes effect on this node within
//   about a second even without Redis;
// - refreshes the key ring at the moment a staged key activates (or one retires), so all
//   nodes switch keys together instead of at their next periodic refresh.
//
// Blocking work (store reads, the policy file) runs on its own thread, never on the bus's.

#include "core/clock.hpp"
#include "domain/cluster.hpp"
#include "domain/federation/partners.hpp"
#include "domain/keys/keyring.hpp"
#include "domain/oauth/client_directory.hpp"
#include "domain/oauth/token_service.hpp"
#include "domain/tiers/tiers.hpp"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace agentidp::app {

class ClusterSync {
 public:
  struct Targets {
    domain::ClientDirectory* clients = nullptr;
    domain::RevocationList* revocations = nullptr;
    domain::Keyring* keyring = nullptr;
    domain::FederationPartners* partners = nullptr;  // optional
    domain::OrgTiers* org_tiers = nullptr;           // optional
    // Reloads this node's policy file (may block; logs its own outcome).
    std::function<void()> reload_policy;
  };
  using Log = std::function<void(bool warning, const std::string& message)>;

  ClusterSync(domain::ClusterBus& bus, Targets targets, const core::Clock& clock, Log log,
              std::chrono::milliseconds connected_poll = std::chrono::seconds(30),
              std::chrono::milliseconds disconnected_poll = std::chrono::seconds(1));
  ~ClusterSync();
  ClusterSync(const ClusterSync&) = delete;
  ClusterSync& operator=(const ClusterSync&) = delete;

  void Start();
  void Stop();
  // This node reloaded its policy (SIGHUP): the other nodes reload theirs.
  void PolicyReloaded();

 private:
  enum Work : unsigned { kRevocations = 1, kKeys = 2, kPolicy = 4 };
  void OnMessage(std::string_view topic, std::string_view payload);
  void Request(unsigned work);
  void Run();

  domain::ClusterBus& bus_;
  const Targets targets_;
  const core::Clock& clock_;
  const Log log_;
  const std::chrono::milliseconds connected_poll_;
  const std::chrono::milliseconds disconnected_poll_;
  std::mutex mu_;
  std::condition_variable cv_;
  unsigned pending_ = 0;
  bool resynced_once_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace agentidp::app
