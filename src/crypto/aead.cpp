#include "crypto/aead.hpp"

#include "crypto/hash.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <climits>
#include <memory>

namespace agentidp::crypto {
namespace {

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

const EVP_CIPHER* FetchedAes256Gcm() {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return cipher;
}

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

core::Error DecryptFailed() {
  ERR_clear_error();
  return core::Error::Internal("Authenticated decryption failed");
}

}  // namespace

core::Result<std::string> Seal(std::string_view key32, std::string_view plaintext,
                               std::string_view aad) {
  if (key32.size() != kAeadKeySize) return core::Error::Internal("AEAD key must be 32 bytes");
  if (plaintext.size() > INT_MAX / 2 || aad.size() > INT_MAX) {
    return core::Error::Internal("AEAD input too large");
  }
  const EVP_CIPHER* cipher = FetchedAes256Gcm();
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (cipher == nullptr || !ctx) return core::Error::Internal("AES-256-GCM unavailable");

  std::string nonce = RandomBytes(kAeadNonceSize);
  std::string out(kAeadNonceSize + plaintext.size() + kAeadTagSize, '\0');
  out.replace(0, kAeadNonceSize, nonce);
  auto* ct = reinterpret_cast<unsigned char*>(out.data()) + kAeadNonceSize;

  int len = 0;
  int total = 0;
  if (EVP_EncryptInit_ex2(ctx.get(), cipher, Bytes(key32), Bytes(nonce), nullptr) != 1 ||
      (!aad.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &len, Bytes(aad),
                                         static_cast<int>(aad.size())) != 1) ||
      EVP_EncryptUpdate(ctx.get(), ct, &len, Bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1) {
    ERR_clear_error();
    return core::Error::Internal("AEAD encryption failed");
  }
  total = len;
  if (EVP_EncryptFinal_ex(ctx.get(), ct + total, &len) != 1) {
    ERR_clear_error();
    return core::Error::Internal("AEAD encryption failed");
  }
  total += len;
  if (static_cast<size_t>(total) != plaintext.size() ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kAeadTagSize),
                          ct + total) != 1) {
    ERR_clear_error();
    return core::Error::Internal("AEAD encryption failed");
  }
  return out;
}

core::Result<std::string> Open(std::string_view key32, std::string_view sealed,
                               std::string_view aad) {
  if (key32.size() != kAeadKeySize) return core::Error::Internal("AEAD key must be 32 bytes");
  if (sealed.size() < kAeadNonceSize + kAeadTagSize) return DecryptFailed();
  if (sealed.size() > INT_MAX / 2 || aad.size() > INT_MAX) return DecryptFailed();
  const EVP_CIPHER* cipher = FetchedAes256Gcm();
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (cipher == nullptr || !ctx) return core::Error::Internal("AES-256-GCM unavailable");

  std::string_view nonce = sealed.substr(0, kAeadNonceSize);
  std::string_view ciphertext =
      sealed.substr(kAeadNonceSize, sealed.size() - kAeadNonceSize - kAeadTagSize);
  std::string tag(sealed.substr(sealed.size() - kAeadTagSize));

  std::string out(ciphertext.size(), '\0');
  auto* pt = reinterpret_cast<unsigned char*>(out.data());
  int len = 0;
  int total = 0;
  bool ok = EVP_DecryptInit_ex2(ctx.get(), cipher, Bytes(key32), Bytes(nonce), nullptr) == 1 &&
            (aad.empty() || EVP_DecryptUpdate(ctx.get(), nullptr, &len, Bytes(aad),
                                              static_cast<int>(aad.size())) == 1) &&
            EVP_DecryptUpdate(ctx.get(), pt, &len, Bytes(ciphertext),
                              static_cast<int>(ciphertext.size())) == 1;
  total = len;
  ok = ok &&
       EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kAeadTagSize),
                           tag.data()) == 1 &&
       EVP_DecryptFinal_ex(ctx.get(), pt + total, &len) == 1;
  if (!ok) {
    // Unauthenticated plaintext must not linger in freed memory.
    OPENSSL_cleanse(out.data(), out.size());
    return DecryptFailed();
  }
  return out;
}

}  // namespace agentidp::crypto
