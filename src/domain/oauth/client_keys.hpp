#pragma once

// Public key sets of private_key_jwt clients (SPEC §3): validation of a registered set, and
// a cache of sets fetched from a client's `jwksUri` through the guarded outbound client.

#include "core/clock.hpp"
#include "core/outbound.hpp"
#include "core/result.hpp"
#include "crypto/keys.hpp"

#include <boost/json/value.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace agentidp::domain {

inline constexpr size_t kMaxClientKeys = 10;

struct KeySetEntry {
  std::string kid;
  std::shared_ptr<const crypto::PublicKey> key;  // its alg is pinned (PublicKey::alg)
};

struct KeySet {
  std::vector<KeySetEntry> keys;
  const crypto::PublicKey* Find(std::string_view kid, std::string_view alg) const;
};

// A registered set, strictly: {"keys":[...]} with 1..10 public keys, each with a unique
// "kid" and an "alg" this server verifies (RS256, ES256, EdDSA); private members, symmetric
// keys and unknown algorithms are refused. Returns the canonical serialized set to store
// (public members plus kid, alg and use only). Errors are Validation errors naming the key.
core::Result<std::string> NormalizeClientJwks(const boost::json::value& jwks);
// A `jwksUri`: an absolute https URL without user information or fragment, <= 2048 chars.
core::Status ValidateJwksUri(std::string_view uri);

// Parses a stored or fetched set. `lenient` (fetched sets): keys this server cannot use
// (encryption keys, unknown kty/alg, no kid) are skipped instead of failing the set.
core::Result<std::shared_ptr<const KeySet>> ParseKeySet(std::string_view json, bool lenient);

// Sets fetched from HTTPS URLs, kept `ttl_ms`; a caller that meets an unknown kid may ask
// for a refresh, granted at most once per `min_refresh_ms` per URL (an attacker sending
// random kids cannot make the server hammer the URL).
class RemoteKeySets {
 public:
  RemoteKeySets(core::OutboundFetcher* fetcher, const core::Clock& clock, int64_t ttl_ms = 300'000,
                int64_t min_refresh_ms = 10'000);
  // `may_fetch` false (I/O thread): a set not in memory (or due a refresh) answers
  // WouldBlock(). Fetch failures are Errc::kUnavailable (or the fetcher's refusal).
  core::Result<std::shared_ptr<const KeySet>> Get(const std::string& uri, bool may_fetch,
                                                  bool refresh = false);

 private:
  struct Entry {
    std::shared_ptr<const KeySet> set;  // nullptr: the last fetch failed
    int64_t fetched_ms = 0;             // when `set` was fetched
    int64_t attempted_ms = 0;           // last fetch attempt, successful or not
  };
  core::Result<std::shared_ptr<const KeySet>> Fetch(const std::string& uri);

  core::OutboundFetcher* fetcher_;
  const core::Clock& clock_;
  const int64_t ttl_ms_;
  const int64_t min_refresh_ms_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace agentidp::domain
