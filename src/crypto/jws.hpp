#pragma once

#include "core/result.hpp"
#include "crypto/keys.hpp"

#include <boost/json/object.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agentidp::crypto {

// Compact JWS signer for one key. Sign* are const and thread-safe: each thread
// keeps its own EVP_MD_CTX per key, initialized once (EVP_DigestSignInit is the
// expensive part in OpenSSL 3) and duplicated with EVP_MD_CTX_copy_ex per
// signature (DESIGN §4).
//
// Signing can only fail on an OpenSSL internal error (out of memory); Sign* then
// throw std::runtime_error, which the HTTP layer's last-resort catch turns into a
// 500, rather than hand out an empty or unsigned token.
class JwsSigner {
 public:
  JwsSigner(std::shared_ptr<const KeyPair> key, std::string kid);
  JwsSigner(KeyPair key, std::string kid);

  const std::string& kid() const { return kid_; }
  const std::string& alg() const { return key_->alg(); }
  const KeyPair& key() const { return *key_; }

  // base64url(header_json) "." base64url(payload_json) "." base64url(signature).
  // The caller's header must carry the right "alg" and "kid"; prefer SignJwt.
  std::string SignCompact(std::string_view header_json, std::string_view payload_json) const;
  // Header {"alg":<key alg>,"kid":<kid>,"typ":<typ>}; typ omitted when empty.
  std::string SignJwt(std::string_view typ, std::string_view payload_json) const;
  // Header {"alg","kid"} followed by the members of header_extra (an "alg" or
  // "kid" in header_extra is ignored: they always describe this signer's key).
  std::string Sign(const boost::json::object& header_extra, std::string_view payload_json) const;
  // The raw JWS signature over `signing_input` (RS256: PKCS#1 v1.5; ES256: R||S,
  // 64 bytes; EdDSA: 64 bytes).
  std::string SignRaw(std::string_view signing_input) const;

 private:
  // base64url of the SignJwt header for `typ`.
  std::string EncodeHeader(std::string_view typ) const;
  // `header_b64` "." base64url(payload_json) "." base64url(signature).
  std::string SignEncoded(std::string_view header_b64, std::string_view payload_json) const;
  // The raw signature over `signing_input`, written to `sig` (room for the largest one).
  size_t SignRawTo(std::string_view signing_input, unsigned char* sig) const;

  std::shared_ptr<const KeyPair> key_;
  std::string kid_;
  // The encoded headers of the two types this service signs (access tokens and ID
  // tokens), computed once: every token carries one of them.
  std::string at_jwt_header_b64_;
  std::string jwt_header_b64_;
};

struct JwtVerifyOptions {
  // Must contain the token's alg. "none" and HS* are refused even if listed.
  std::vector<std::string> allowed_algs;
  // Compared case-insensitively; "application/" may be omitted (RFC 7515 §4.1.9).
  // An empty string in the list means "typ may be absent". An empty list accepts
  // no token, like allowed_algs: every caller states the types it expects.
  std::vector<std::string> allowed_typs;
  std::optional<std::string> issuer;    // exact match of "iss" when set
  std::optional<std::string> audience;  // "aud" (string or array) must contain it
  int64_t now_s = 0;
  int64_t leeway_s = 30;  // the one leeway for exp, nbf and iat
  bool require_exp = true;
  bool require_iat = false;
  int64_t max_age_s = 0;  // 0 = no limit on now - iat; otherwise iat is required
  size_t max_token_size = 16384;
  // DPoP proofs (RFC 9449 §4.2) carry their key in the "jwk" header: when true the
  // header must hold a public "jwk", the token is verified with it (its alg pinned
  // as for any key) and KeyLookup is not consulted. When false (all other tokens)
  // an embedded "jwk" is refused. "jku", "x5u" and "x5c" are always refused.
  bool use_embedded_jwk = false;
};

struct VerifiedJwt {
  boost::json::object header;
  boost::json::object claims;
  std::string signing_input_kid;  // header "kid", "" when absent
  std::string jwk_thumbprint;     // RFC 7638 thumbprint of the key that verified it
};

// Returns the key for (kid, alg) or nullptr when unknown. The pointer must stay
// valid until VerifyJwt returns. kid is "" when the header has none.
using KeyLookup = std::function<const PublicKey*(std::string_view kid, std::string_view alg)>;

// Verifies a compact JWS JWT per SPEC §5. Every failure is
// Error::OAuth("invalid_token", <reason>); callers remap the code for their
// context (invalid_client for assertions, invalid_dpop_proof, ...).
core::Result<VerifiedJwt> VerifyJwt(std::string_view compact, const KeyLookup& keys,
                                    const JwtVerifyOptions& opts);

// Verifies a raw JWS signature with `key` (for its pinned alg). Same length and
// range checks as VerifyJwt.
bool VerifyJwsSignature(const PublicKey& key, std::string_view signing_input,
                        std::string_view signature);

struct UnverifiedJwt {
  boost::json::object header;
  boost::json::object claims;
};

// Decodes a compact JWT WITHOUT checking anything but its syntax (strict base64url,
// strict JSON objects). Only for routing before verification, e.g. reading "iss"
// of a client assertion to find whose keys to look up; never trust the content.
core::Result<UnverifiedJwt> DecodeJwtUnverified(std::string_view compact,
                                                size_t max_token_size = 16384);

}  // namespace agentidp::crypto
