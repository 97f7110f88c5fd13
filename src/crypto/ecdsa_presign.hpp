#pragma once

// Precomputed ECDSA P-256 nonces ("presignatures") for ES256 signing.
//
// Most of an ECDSA signature's cost does not depend on the message or the key: drawing the
// nonce k, the point multiplication k·G that gives r, and the inversion k⁻¹ mod n. This pool
// holds (k⁻¹, r) pairs computed ahead of time by the HTTP server's I/O threads whenever they
// have nothing else to do (Refill); a signature then costs one SHA-256 and two modular
// multiplications (s = k⁻¹·(z + r·d) mod n, ~1 µs instead of ~25 µs). When the pool is empty,
// callers sign the ordinary way. docs/decisions.md, "ES256 nonces computed ahead".
//
// Each pair is handed out exactly once (removed under the pool's lock) and wiped as soon as
// its signature is made: reusing a nonce would reveal the private key. k comes from OpenSSL's
// DRBG (BN_priv_rand_range), as for any ECDSA_sign_setup; the pairs do not depend on the
// signing key, so they survive key rotation.

#include <openssl/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace agentidp::crypto {

class EcdsaPresignPool {
 public:
  explicit EcdsaPresignPool(size_t capacity);
  ~EcdsaPresignPool();
  EcdsaPresignPool(const EcdsaPresignPool&) = delete;
  EcdsaPresignPool& operator=(const EcdsaPresignPool&) = delete;

  // The process's pool (capacity 4096).
  static EcdsaPresignPool& Shared();
  // True once a P-256 signing key exists in this process (SigningKey returned one): only
  // then is refilling the shared pool worth anyone's time.
  static bool InUse() { return in_use_.load(std::memory_order_relaxed); }

  // The EC_KEY view of a P-256 private key that Sign() needs (shared, freed with the last
  // reference); nullptr if `pkey` is not one.
  static std::shared_ptr<EC_KEY> SigningKey(EVP_PKEY* pkey);

  // Signs the 32-byte `digest` with `key` (a P-256 private key) using one precomputed pair and
  // writes r||s (32 bytes each, big-endian) to `out`. False when no pair is available (or the
  // pool is busy at that instant) or the signature could not be made: the caller then signs
  // the ordinary way. Never waits.
  bool Sign(EC_KEY* key, const unsigned char* digest, unsigned char* out);

  // Computes up to `n` pairs on the calling thread, if the pool is not full and no other
  // thread is refilling it right now; returns how many were added. Never waits.
  size_t Refill(size_t n);

  bool full() const;
  size_t size() const;
  uint64_t signatures() const { return signatures_.load(std::memory_order_relaxed); }

 private:
  struct Pair {
    unsigned char kinv[32];
    unsigned char r[32];
  };
  bool Compute(Pair& out);
  static void Clear(Pair& p);

  const size_t capacity_;
  mutable std::mutex mu_;  // pairs_
  std::vector<Pair> pairs_;
  std::mutex fill_mu_;           // one refiller at a time (setup_key_, setup_ctx_)
  EC_KEY* setup_key_ = nullptr;  // any P-256 key: the pairs depend only on the curve
  BN_CTX* setup_ctx_ = nullptr;
  std::atomic<uint64_t> signatures_{0};
  static std::atomic<bool> in_use_;
};

}  // namespace agentidp::crypto
