// ECDSA_sign_setup / ECDSA_do_sign_ex are the one OpenSSL interface that takes a
// precomputed (k⁻¹, r); it is marked deprecated in OpenSSL 3.0 together with the rest of the
// EC_KEY API, with no EVP replacement.
#define OPENSSL_SUPPRESS_DEPRECATED

#include "crypto/ecdsa_presign.hpp"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include <stdexcept>

namespace agentidp::crypto {

namespace {
constexpr int kP256Bytes = 32;
}  // namespace

std::atomic<bool> EcdsaPresignPool::in_use_{false};

EcdsaPresignPool::EcdsaPresignPool(size_t capacity) : capacity_(capacity) {
  setup_key_ = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
  setup_ctx_ = BN_CTX_new();
  // ECDSA_sign_setup wants a key with a private part; the pairs do not depend on it (without
  // a digest, k is drawn from the DRBG alone).
  if (setup_key_ == nullptr || setup_ctx_ == nullptr || EC_KEY_generate_key(setup_key_) != 1) {
    EC_KEY_free(setup_key_);
    BN_CTX_free(setup_ctx_);
    throw std::runtime_error("ECDSA presign pool: OpenSSL set-up failed");
  }
  pairs_.reserve(capacity_);
}

EcdsaPresignPool::~EcdsaPresignPool() {
  for (auto& p : pairs_) Clear(p);
  EC_KEY_free(setup_key_);
  BN_CTX_free(setup_ctx_);
}

EcdsaPresignPool& EcdsaPresignPool::Shared() {
  static EcdsaPresignPool pool(4096);
  return pool;
}

std::shared_ptr<EC_KEY> EcdsaPresignPool::SigningKey(EVP_PKEY* pkey) {
  if (pkey == nullptr || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC) return nullptr;
  EC_KEY* key = EVP_PKEY_get1_EC_KEY(pkey);
  if (key == nullptr) return nullptr;
  const EC_GROUP* group = EC_KEY_get0_group(key);
  if (group == nullptr || EC_GROUP_get_curve_name(group) != NID_X9_62_prime256v1 ||
      EC_KEY_get0_private_key(key) == nullptr) {
    EC_KEY_free(key);
    return nullptr;
  }
  in_use_.store(true, std::memory_order_relaxed);
  return std::shared_ptr<EC_KEY>(key, EC_KEY_free);
}

void EcdsaPresignPool::Clear(Pair& p) {
  OPENSSL_cleanse(&p, sizeof p);
}

bool EcdsaPresignPool::Compute(Pair& out) {
  BIGNUM* kinv = nullptr;
  BIGNUM* r = nullptr;
  const bool ok = ECDSA_sign_setup(setup_key_, setup_ctx_, &kinv, &r) == 1 &&
                  BN_bn2binpad(kinv, out.kinv, kP256Bytes) == kP256Bytes &&
                  BN_bn2binpad(r, out.r, kP256Bytes) == kP256Bytes;
  BN_clear_free(kinv);
  BN_clear_free(r);
  if (!ok) Clear(out);
  return ok;
}

size_t EcdsaPresignPool::Refill(size_t n) {
  std::unique_lock fill_lock(fill_mu_, std::try_to_lock);
  if (!fill_lock.owns_lock() || full()) return 0;
  size_t added = 0;
  for (size_t i = 0; i < n; ++i) {
    Pair p;
    if (!Compute(p)) break;
    std::lock_guard lock(mu_);
    if (pairs_.size() < capacity_) {
      pairs_.push_back(p);
      ++added;
    }
    Clear(p);
  }
  return added;
}

bool EcdsaPresignPool::full() const {
  std::lock_guard lock(mu_);
  return pairs_.size() >= capacity_;
}

size_t EcdsaPresignPool::size() const {
  std::lock_guard lock(mu_);
  return pairs_.size();
}

bool EcdsaPresignPool::Sign(EC_KEY* key, const unsigned char* digest, unsigned char* out) {
  Pair p;
  {
    // Never wait for the lock: a request's thread signs the ordinary way instead.
    std::unique_lock lock(mu_, std::try_to_lock);
    if (!lock.owns_lock()) return false;
    if (pairs_.empty()) return false;
    p = pairs_.back();
    Clear(pairs_.back());  // pop_back leaves the bytes in the vector's storage
    pairs_.pop_back();
  }
  // The pair is used once whatever happens next. The BIGNUMs are the calling thread's own,
  // reused from one signature to the next.
  thread_local struct Scratch {
    BIGNUM* kinv = BN_secure_new();
    BIGNUM* r = BN_new();
    ~Scratch() {
      BN_clear_free(kinv);
      BN_clear_free(r);
    }
  } scratch;
  ECDSA_SIG* sig = nullptr;
  if (scratch.kinv != nullptr && scratch.r != nullptr &&
      BN_bin2bn(p.kinv, kP256Bytes, scratch.kinv) != nullptr &&
      BN_bin2bn(p.r, kP256Bytes, scratch.r) != nullptr) {
    BN_set_flags(scratch.kinv, BN_FLG_CONSTTIME);
    sig = ECDSA_do_sign_ex(digest, kP256Bytes, scratch.kinv, scratch.r, key);
  }
  Clear(p);
  if (scratch.kinv != nullptr) BN_clear(scratch.kinv);
  if (sig == nullptr) return false;
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig, &r, &s);
  const bool ok = BN_bn2binpad(r, out, kP256Bytes) == kP256Bytes &&
                  BN_bn2binpad(s, out + kP256Bytes, kP256Bytes) == kP256Bytes;
  ECDSA_SIG_free(sig);
  if (ok) signatures_.fetch_add(1, std::memory_order_relaxed);
  return ok;
}

}  // namespace agentidp::crypto
