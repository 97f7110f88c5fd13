#include "crypto/hash.hpp"

#include "crypto/encoding.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace agentidp::crypto {
namespace {

[[noreturn]] void Fatal(const char* what) {
  std::fprintf(stderr, "fatal: %s\n", what);
  std::abort();
}

// Fetched once: OpenSSL 3 otherwise looks the algorithm up in its provider store
// on every call. Fetched objects are immutable and safe to share between threads.
const EVP_MD* FetchedSha256() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (md == nullptr) Fatal("SHA256 unavailable");
  return md;
}

EVP_MAC* FetchedHmac() {
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) Fatal("HMAC unavailable");
  return mac;
}

}  // namespace

std::array<uint8_t, 32> Sha256(std::string_view data) {
  std::array<uint8_t, 32> out{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, FetchedSha256(), nullptr) != 1 ||
      len != out.size()) {
    Fatal("SHA-256 failed");
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  auto digest = Sha256(data);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

namespace {

// One HMAC-SHA-256 context per thread, keyed once: client authentication hashes every
// presented secret under the same server-side pepper, and setting up a context (digest
// fetch, key schedule) costs more than hashing a secret. Another key re-keys it.
class ThreadHmac {
 public:
  ThreadHmac() : ctx_(EVP_MAC_CTX_new(FetchedHmac())) {
    if (ctx_ == nullptr) Fatal("EVP_MAC_CTX_new failed");
  }
  ~ThreadHmac() {
    EVP_MAC_CTX_free(ctx_);
    OPENSSL_cleanse(key_.data(), key_.size());
  }
  ThreadHmac(const ThreadHmac&) = delete;
  ThreadHmac& operator=(const ThreadHmac&) = delete;

  bool Mac(std::string_view key, std::string_view data, unsigned char* out, size_t& out_len) {
    bool init_ok;
    if (keyed_ && key.size() == key_.size() &&
        CRYPTO_memcmp(key.data(), key_.data(), key.size()) == 0) {
      init_ok = EVP_MAC_init(ctx_, nullptr, 0, nullptr) == 1;  // same key: just restart
    } else {
      char digest_name[] = "SHA256";
      OSSL_PARAM params[] = {
          OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
          OSSL_PARAM_construct_end(),
      };
      // A zero-length key is legal HMAC; OpenSSL wants a non-null pointer for it.
      static const unsigned char kEmpty[1] = {0};
      const auto* key_ptr =
          key.empty() ? kEmpty : reinterpret_cast<const unsigned char*>(key.data());
      OPENSSL_cleanse(key_.data(), key_.size());
      key_.assign(key);
      init_ok = EVP_MAC_init(ctx_, key_ptr, key.size(), params) == 1;
      keyed_ = init_ok;
    }
    return init_ok &&
           EVP_MAC_update(ctx_, reinterpret_cast<const unsigned char*>(data.data()), data.size()) ==
               1 &&
           EVP_MAC_final(ctx_, out, &out_len, EVP_MAX_MD_SIZE) == 1 && out_len == 32;
  }

 private:
  EVP_MAC_CTX* ctx_;
  std::string key_;
  bool keyed_ = false;
};

}  // namespace

std::string HmacSha256(std::string_view key, std::string_view data) {
  uint8_t out[32];
  HmacSha256To(key, data, out);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

void HmacSha256To(std::string_view key, std::string_view data, uint8_t (&out)[32]) {
  thread_local ThreadHmac hmac;
  unsigned char buf[EVP_MAX_MD_SIZE];
  size_t out_len = 0;
  if (!hmac.Mac(key, data, buf, out_len)) Fatal("HMAC-SHA-256 failed");
  std::memcpy(out, buf, sizeof out);
}

std::string HmacSha256Hex(std::string_view key, std::string_view data) {
  return HexEncode(HmacSha256(key, data));
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    // Same work as an equal-length comparison of `a`, result discarded.
    volatile int sink = CRYPTO_memcmp(a.data(), a.data(), a.size());
    (void)sink;
    return false;
  }
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  static constexpr size_t kChunk = 1 << 30;  // RAND_bytes takes an int
  for (size_t done = 0; done < n;) {
    size_t len = std::min(kChunk, n - done);
    if (RAND_bytes(p + done, static_cast<int>(len)) != 1) Fatal("RAND_bytes failed");
    done += len;
  }
  return out;
}

}  // namespace agentidp::crypto
