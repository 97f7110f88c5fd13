#pragma once

#include "core/result.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace agentidp::crypto {

inline constexpr size_t kAeadKeySize = 32;
inline constexpr size_t kAeadNonceSize = 12;
inline constexpr size_t kAeadTagSize = 16;

// AES-256-GCM with a fresh random 96-bit nonce per message (NIST SP 800-38D §8.2.2;
// fine for far fewer than 2^32 messages under one key, which secrets at rest are).
// Output: nonce(12) | ciphertext | tag(16), raw bytes. `aad` is authenticated, not
// stored: bind the ciphertext to its context (e.g. the row id) so it cannot be
// swapped into another row. A key that is not 32 bytes is Error::Internal.
core::Result<std::string> Seal(std::string_view key32, std::string_view plaintext,
                               std::string_view aad);

// Inverse of Seal. Any change to nonce, ciphertext, tag or aad, or the wrong key,
// is Error::Internal("Authenticated decryption failed"): sealed data is the
// server's own data at rest, so a failure is an integrity problem on our side.
core::Result<std::string> Open(std::string_view key32, std::string_view sealed,
                               std::string_view aad);

}  // namespace agentidp::crypto
