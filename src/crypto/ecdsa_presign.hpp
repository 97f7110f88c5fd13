#pragma once

// Precomputed ECDSA P-256 nonces ("presignatures") for ES256 signing.
//
// Most of an ECDSA signature's cost does not depend on the message or the key: drawing the
// nonce k, the point multiplication k·G that gives r, and the inversion k⁻¹ mod n. This pool
// computes (k⁻¹, r) pairs ahead of time on a background thread at the lowest priority (nice
// 19), i.e. mostly on CPU time nothing else wants; a signature then costs one SHA-256 and two
// modular multiplications (s = k⁻¹·(z + r·d) mod n, ~1 µs instead of ~25 µs). When the pool is
// empty, callers sign the ordinary way. docs/decisions.md, "ES256 nonces computed ahead".
//
// Each pair is handed out exactly once (popped under the pool's lock) and cleared as soon as
// its signature is made: reusing a nonce would reveal the private key. k comes from
// OpenSSL's DRBG (BN_priv_rand_range), as for any ECDSA_sign_setup; the pairs do not depend
// on the signing key, so they survive key rotation.

#include <openssl/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace agentidp::crypto {

class EcdsaPresignPool {
 public:
  // `capacity` pairs at most; the filler thread (when started) refills the pool once it has
  // fallen below half.
  EcdsaPresignPool(size_t capacity, bool start_filler);
  ~EcdsaPresignPool();
  EcdsaPresignPool(const EcdsaPresignPool&) = delete;
  EcdsaPresignPool& operator=(const EcdsaPresignPool&) = delete;

  // The process's pool (capacity 4096), its filler started on first use.
  static EcdsaPresignPool& Shared();

  // The EC_KEY view of a P-256 private key that Sign() needs (shared, freed with the last
  // reference); nullptr if `pkey` is not one.
  static std::shared_ptr<EC_KEY> SigningKey(EVP_PKEY* pkey);

  // Signs the 32-byte `digest` with `key` (a P-256 private key) using one precomputed pair and
  // writes r||s (32 bytes each, big-endian) to `out`. False when no pair is available or the
  // signature could not be made: the caller then signs the ordinary way.
  bool Sign(EC_KEY* key, const unsigned char* digest, unsigned char* out);

  // Computes up to `n` pairs on the calling thread (tests; the filler does the same).
  size_t Fill(size_t n);

  size_t size() const;
  uint64_t signatures() const { return signatures_.load(std::memory_order_relaxed); }

 private:
  // Plain bytes, not BIGNUMs: a BIGNUM allocated by the filler and freed by a request's
  // thread would take the allocator's locks of the filler's arena, which the preempted
  // low-priority filler may be holding.
  struct Pair {
    unsigned char kinv[32];
    unsigned char r[32];
  };
  bool Compute(Pair& out);
  void Run();
  static void Clear(Pair& p);

  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Pair> pairs_;
  bool stopping_ = false;
  std::atomic<bool> stop_{false};  // stopping_, readable while computing
  bool filler_waiting_ = false;
  EC_KEY* setup_key_ = nullptr;  // any P-256 key: the pairs depend only on the curve
  BN_CTX* setup_ctx_ = nullptr;  // used under fill_mu_
  std::mutex fill_mu_;
  std::atomic<uint64_t> signatures_{0};
  std::thread filler_;
};

}  // namespace agentidp::crypto
