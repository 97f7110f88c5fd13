#pragma once

// Signing keys with staged rotation (SPEC §5): a new key is published in the JWKS before it
// signs; a retired key stays published until every token it signed has expired.
// Private keys live in the store only sealed with AES-256-GCM under the master key.

#include "core/clock.hpp"
#include "core/result.hpp"
#include "crypto/jws.hpp"
#include "crypto/keys.hpp"
#include "domain/store.hpp"

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

namespace agentidp::domain {

struct KeyringOptions {
  std::string alg = "RS256";
  int64_t activation_delay_s = 300;  // staging: published this long before it signs
  int64_t max_token_ttl_s = 3600;    // how long a retired key stays published
};

// One immutable view of the key set; swapped atomically on refresh.
struct KeySnapshot {
  struct Entry {
    SigningKey record;
    std::shared_ptr<const crypto::JwsSigner> signer;  // set for keys that can sign
    std::shared_ptr<const crypto::PublicKey> public_key;
  };
  std::vector<Entry> keys;         // every key still published (staged, active, retired)
  const Entry* current = nullptr;  // the key that signs now
  std::string jwks_json;           // {"keys":[...]} of published keys
  // Next moment the key set changes by itself (a staged key activates, a key retires or
  // leaves the JWKS); 0 when nothing is scheduled. Refresh then, so that every node switches
  // at that moment rather than at its next periodic refresh.
  int64_t next_change_ms = 0;

  const crypto::PublicKey* FindPublic(std::string_view kid) const;
};

class Keyring {
 public:
  Keyring(KeyStore& store, const core::Clock& clock, std::string master_key,
          KeyringOptions options);

  // Loads keys; creates the first key (active at once) if the store has none.
  core::Status Initialize();
  // Re-reads the store (keys rotated by another process or node) and re-derives which key
  // signs now. Cheap when nothing changed; called periodically.
  core::Status Refresh();
  // Stages a new key of `alg` (empty = configured) that signs after the activation delay, and
  // schedules the current key's retirement. Returns the new kid.
  core::Result<std::string> Rotate(const std::string& alg = "");

  std::shared_ptr<const KeySnapshot> Snapshot() const;
  const KeyringOptions& options() const { return options_; }

 private:
  core::Result<SigningKey> NewKey(const std::string& alg, int64_t activates_at);
  core::Status Rebuild(std::vector<SigningKey> records);

  KeyStore& store_;
  const core::Clock& clock_;
  const std::string master_key_;
  KeyringOptions options_;
  mutable std::mutex mu_;
  // Serializes refreshes (periodic, on a bus message, at a scheduled change), so that an older
  // read of the store never replaces a newer snapshot.
  std::mutex refresh_mu_;
  std::shared_ptr<const KeySnapshot> snapshot_;
  // Decrypted keys by kid, so a refresh does not re-decrypt and re-parse unchanged keys.
  std::vector<std::pair<std::string, std::shared_ptr<const crypto::KeyPair>>> decrypted_;
};

// Master key from AGENTIDP_MASTER_KEY (64 hex chars or base64url of 32 bytes).
core::Result<std::string> DecodeMasterKey(std::string_view text);

}  // namespace agentidp::domain
