#pragma once

#include "core/result.hpp"

#include <openssl/types.h>
#include <boost/json/object.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace agentidp::crypto {

// JWS algorithms this server signs and verifies (SPEC §5). Nothing else is ever
// accepted: not "none", not HMAC, not PS*/ES384/...
inline constexpr std::string_view kAlgRs256 = "RS256";  // RSA-2048+, PKCS#1 v1.5, SHA-256
inline constexpr std::string_view kAlgEs256 = "ES256";  // ECDSA P-256, SHA-256
inline constexpr std::string_view kAlgEdDsa = "EdDSA";  // Ed25519 (RFC 8037)
// RFC 9864's fully-specified name for EdDSA with Ed25519, sent by current JOSE libraries.
// Accepted as a synonym of EdDSA where a verifier lists it; never used when signing.
inline constexpr std::string_view kAlgEd25519 = "Ed25519";

bool IsSupportedAlg(std::string_view alg);

// A signing key pair (owns an EVP_PKEY). Move-only; a moved-from KeyPair is empty.
class KeyPair {
 public:
  // "RS256": RSA-2048, e = 65537; "ES256": P-256; "EdDSA": Ed25519.
  static core::Result<KeyPair> Generate(std::string_view alg);
  // Accepts unencrypted PKCS#8 (and traditional RSA/EC) PEM; the key type must fit
  // `alg` (RSA keys must have at least 2048 bits). Encrypted PEM is refused.
  static core::Result<KeyPair> FromPrivatePem(std::string_view pem, std::string_view alg);

  KeyPair(KeyPair&& other) noexcept;
  KeyPair& operator=(KeyPair&& other) noexcept;
  KeyPair(const KeyPair&) = delete;
  KeyPair& operator=(const KeyPair&) = delete;
  ~KeyPair();

  // Unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY"). Encrypt it (Seal) before storing.
  std::string PrivatePem() const;
  // Public members only (RSA n,e; EC crv,x,y; OKP crv,x) plus kid, alg and use:"sig".
  boost::json::object PublicJwk(std::string_view kid) const;
  // RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key.
  std::string Thumbprint() const;
  const std::string& alg() const { return alg_; }

  // For JwsSigner. cache_id() is unique per generated/loaded key for the process
  // lifetime; per-thread signing contexts are keyed by it.
  EVP_PKEY* native_handle() const { return pkey_; }
  uint64_t cache_id() const { return cache_id_; }

 private:
  KeyPair(EVP_PKEY* pkey, std::string alg);
  EVP_PKEY* pkey_ = nullptr;
  std::string alg_;
  uint64_t cache_id_ = 0;
};

// A verification key. Holds public material only. Move-only.
class PublicKey {
 public:
  // Refuses: private members (d, p, q, dp, dq, qi, oth, k), kty "oct" and any kty
  // other than RSA/EC/OKP, RSA moduli under 2048 (or over 8192) bits, EC curves
  // other than P-256, points not on the curve, OKP curves other than Ed25519,
  // use other than "sig", and an `alg` inconsistent with the key. Without `alg`
  // the algorithm is inferred (RSA -> RS256, P-256 -> ES256, Ed25519 -> EdDSA).
  static core::Result<PublicKey> FromJwk(const boost::json::object& jwk);
  static core::Result<PublicKey> FromKeyPair(const KeyPair& key_pair);

  PublicKey(PublicKey&& other) noexcept;
  PublicKey& operator=(PublicKey&& other) noexcept;
  PublicKey(const PublicKey&) = delete;
  PublicKey& operator=(const PublicKey&) = delete;
  ~PublicKey();

  // The one algorithm this key verifies (pinned: an RS256 key never checks an
  // ES256 or HS256 token).
  const std::string& alg() const { return alg_; }
  // RFC 7638 thumbprint, computed once at import.
  const std::string& Thumbprint() const { return thumbprint_; }
  // Canonical public members (kty plus n,e / crv,x,y / crv,x), e.g. for `cnf`.
  boost::json::object Jwk() const;

  EVP_PKEY* native_handle() const { return pkey_; }
  uint64_t cache_id() const { return cache_id_; }

 private:
  PublicKey(EVP_PKEY* pkey, std::string alg);
  EVP_PKEY* pkey_ = nullptr;
  std::string alg_;
  std::string thumbprint_;
  uint64_t cache_id_ = 0;
};

// RFC 7638 thumbprint over the required members of `public_jwk` by kty (RSA: e,kty,n;
// EC: crv,kty,x,y; OKP (RFC 8037): crv,kty,x; oct: k,kty), lexicographic order, no
// whitespace, SHA-256, base64url. Returns "" when a required member is missing or
// not a string, or kty is unknown.
std::string JwkThumbprint(const boost::json::object& public_jwk);

}  // namespace agentidp::crypto
