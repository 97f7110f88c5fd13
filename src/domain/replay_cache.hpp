#pragma once

// Single-use caches (DESIGN §1): a client-assertion `jti`, a DPoP proof, a one-time code is
// accepted once. Implementations: cache/memory (one process) and cache/redis (every node of
// a deployment; atomic set-if-absent). Namespaces keep kinds apart ("assertion", "dpop", ...).

#include "core/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace agentidp::domain {

class ReplayCache {
 public:
  virtual ~ReplayCache() = default;
  // Records `key` in namespace `ns` until `expires_at_ms` (epoch ms). true: first use, the
  // caller may proceed; false: seen before (a replay). Atomic: of two concurrent calls with
  // the same key exactly one gets true. An error only when the use cannot be recorded
  // anywhere (the caller must then refuse, never accept).
  virtual core::Result<bool> Consume(std::string_view ns, std::string_view key,
                                     int64_t expires_at_ms) = 0;
  // true when Consume makes a network round trip (cache/redis): a caller on an I/O thread
  // must move to the worker pool first (DESIGN §4), as for a store read.
  virtual bool Blocking() const { return false; }
};

}  // namespace agentidp::domain
