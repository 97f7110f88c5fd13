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
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <stdexcept>

namespace agentidp::crypto {

namespace {
constexpr size_t kBlock = 32;  // pairs computed between two looks at the pool
constexpr int kP256Bytes = 32;
}  // namespace

EcdsaPresignPool::EcdsaPresignPool(size_t capacity, bool start_filler) : capacity_(capacity) {
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
  if (start_filler && capacity_ > 0) filler_ = std::thread([this] { Run(); });
}

EcdsaPresignPool::~EcdsaPresignPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_.store(true, std::memory_order_relaxed);
  cv_.notify_all();
  if (filler_.joinable()) filler_.join();
  for (auto& p : pairs_) Clear(p);
  EC_KEY_free(setup_key_);
  BN_CTX_free(setup_ctx_);
}

EcdsaPresignPool& EcdsaPresignPool::Shared() {
  static EcdsaPresignPool pool(4096, true);
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

size_t EcdsaPresignPool::Fill(size_t n) {
  std::lock_guard fill_lock(fill_mu_);
  size_t added = 0;
  std::vector<Pair> block;
  block.reserve(kBlock);
  while (added < n && !stop_.load(std::memory_order_relaxed)) {
    block.clear();
    for (size_t i = 0; i < kBlock && added + block.size() < n; ++i) {
      if (stop_.load(std::memory_order_relaxed)) break;
      Pair p;
      if (!Compute(p)) break;
      block.push_back(p);
      Clear(p);
    }
    if (block.empty()) break;
    std::lock_guard lock(mu_);
    for (auto& p : block) {
      if (pairs_.size() < capacity_) {
        pairs_.push_back(p);
        ++added;
      }
      Clear(p);
    }
    if (pairs_.size() >= capacity_) break;
  }
  return added;
}

void EcdsaPresignPool::Run() {
  // The lowest priority of the normal class: under load this thread gets little and signing
  // falls back to the ordinary path; on a server with spare cycles every signature is cheap.
  // Not SCHED_IDLE: measured, a thread of that class preempted while it held a lock inside
  // OpenSSL (its random generator's, say) kept requests waiting 90-260 ms at p99; at nice 19
  // it still gets a slice within milliseconds.
  setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 19);
  pthread_setname_np(pthread_self(), "agentidp-presig");
  for (;;) {
    {
      std::unique_lock lock(mu_);
      filler_waiting_ = true;
      cv_.wait(lock, [&] { return stopping_ || pairs_.size() < capacity_ / 2 || pairs_.empty(); });
      filler_waiting_ = false;
      if (stopping_) return;
    }
    if (Fill(capacity_) == 0) {
      // OpenSSL refused (should not happen): do not spin.
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
      if (stopping_) return;
    }
  }
}

size_t EcdsaPresignPool::size() const {
  std::lock_guard lock(mu_);
  return pairs_.size();
}

bool EcdsaPresignPool::Sign(EC_KEY* key, const unsigned char* digest, unsigned char* out) {
  Pair p;
  {
    // Never wait for the lock: its other user is the filler, which runs at the lowest
    // priority and, preempted while holding it, would make a request wait for it (priority
    // inversion). Contended means "sign the ordinary way".
    std::unique_lock lock(mu_, std::try_to_lock);
    if (!lock.owns_lock()) return false;
    if (pairs_.empty()) {
      if (filler_waiting_) cv_.notify_one();
      return false;
    }
    p = pairs_.back();
    Clear(pairs_.back());  // pop_back leaves the bytes in the vector's storage
    pairs_.pop_back();
    if (filler_waiting_ && pairs_.size() < capacity_ / 2) cv_.notify_one();
  }
  // The pair is used once whatever happens next. The BIGNUMs are the calling thread's own,
  // reused from one signature to the next (no allocation shared with the filler).
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
