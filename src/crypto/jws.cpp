#include "crypto/jws.hpp"

#include "core/json.hpp"
#include "crypto/encoding.hpp"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <array>
#include <cassert>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace agentidp::crypto {
namespace {

namespace bj = boost::json;
using core::Error;
using core::Result;

constexpr size_t kP256ScalarSize = 32;
constexpr size_t kEcdsaRawSigSize = 2 * kP256ScalarSize;
constexpr size_t kEd25519SigSize = 64;
constexpr size_t kMaxSigSize = 1024;  // RSA-8192

// Order n of the P-256 group (SEC 2 §2.4.2), big-endian.
constexpr std::array<unsigned char, kP256ScalarSize> kP256Order = {
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};

const char* DigestFor(std::string_view alg) {
  // Ed25519 hashes internally (RFC 8032); DigestSign/Verify take no digest.
  return alg == kAlgEdDsa ? nullptr : "SHA256";
}

enum class Purpose { kSign, kVerify };

// Per-thread, per-key prepared contexts. The template of each key is initialized
// once by EVP_DigestSignInit_ex/EVP_DigestVerifyInit_ex and copied into a scratch
// context for each operation, so no context is ever shared between threads.
// Entries are keyed by the key's process-unique cache_id (ids are never reused, so
// a stale entry can never match a new key) and bounded, least recently used out:
// retired keys and one-off keys (DPoP proofs) do not accumulate. A template holds
// its own reference to the EVP_PKEY, so an entry outliving its key is harmless.
class ThreadCtxCache {
 public:
  explicit ThreadCtxCache(Purpose purpose) : purpose_(purpose), work_(EVP_MD_CTX_new()) {}
  ~ThreadCtxCache() {
    for (auto& e : entries_) EVP_MD_CTX_free(e.tmpl);
    EVP_MD_CTX_free(work_);
  }
  ThreadCtxCache(const ThreadCtxCache&) = delete;
  ThreadCtxCache& operator=(const ThreadCtxCache&) = delete;

  // A context ready for one EVP_DigestSign / EVP_DigestVerify call, or nullptr.
  // Valid until the next Prepare on this thread.
  EVP_MD_CTX* Prepare(uint64_t id, EVP_PKEY* pkey, const char* md) {
    if (work_ == nullptr) return nullptr;
    auto it =
        std::find_if(entries_.begin(), entries_.end(), [id](const Entry& e) { return e.id == id; });
    if (it == entries_.end()) {
      EVP_MD_CTX* tmpl = EVP_MD_CTX_new();
      if (tmpl == nullptr || !Init(tmpl, pkey, md)) {
        EVP_MD_CTX_free(tmpl);
        return nullptr;
      }
      if (entries_.size() >= kMaxEntries) {
        EVP_MD_CTX_free(entries_.back().tmpl);
        entries_.pop_back();
      }
      entries_.insert(entries_.begin(), Entry{id, tmpl, true});
      it = entries_.begin();
    } else if (it != entries_.begin()) {
      std::rotate(entries_.begin(), it, it + 1);
      it = entries_.begin();
    }
    if (it->copyable) {
      if (EVP_MD_CTX_copy_ex(work_, it->tmpl) == 1) return Finalising(work_);
      // Some providers cannot duplicate a context (this has varied for Ed25519
      // across OpenSSL 3 releases): fall back to a fresh init for this key.
      ERR_clear_error();
      it->copyable = false;
    }
    EVP_MD_CTX_reset(work_);
    return Init(work_, pkey, md) ? Finalising(work_) : nullptr;
  }

 private:
  // The work context serves exactly one EVP_DigestSign / EVP_DigestVerify call. Without
  // this flag OpenSSL 3 duplicates the whole signature context inside every
  // EVP_DigestSignFinal / EVP_DigestVerifyFinal (so that the caller could go on
  // updating it): an allocation-heavy copy per token that nobody needs here.
  static EVP_MD_CTX* Finalising(EVP_MD_CTX* ctx) {
    EVP_MD_CTX_set_flags(ctx, EVP_MD_CTX_FLAG_FINALISE);
    return ctx;
  }

  static constexpr size_t kMaxEntries = 16;
  struct Entry {
    uint64_t id;
    EVP_MD_CTX* tmpl;
    bool copyable;
  };

  bool Init(EVP_MD_CTX* ctx, EVP_PKEY* pkey, const char* md) const {
    int rc = purpose_ == Purpose::kSign
                 ? EVP_DigestSignInit_ex(ctx, nullptr, md, nullptr, nullptr, pkey, nullptr)
                 : EVP_DigestVerifyInit_ex(ctx, nullptr, md, nullptr, nullptr, pkey, nullptr);
    if (rc != 1) ERR_clear_error();
    return rc == 1;
  }

  Purpose purpose_;
  EVP_MD_CTX* work_;
  std::vector<Entry> entries_;
};

ThreadCtxCache& SignCache() {
  thread_local ThreadCtxCache cache(Purpose::kSign);
  return cache;
}

ThreadCtxCache& VerifyCache() {
  thread_local ThreadCtxCache cache(Purpose::kVerify);
  return cache;
}

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

[[noreturn]] void SigningFailed() {
  ERR_clear_error();
  throw std::runtime_error("JWS signing failed");
}

// One DER INTEGER of an ECDSA-Sig-Value at `p` (at most `end`): its big-endian magnitude
// written left-padded into `out` (32 bytes). False on anything but a short-form, positive,
// at most 32-byte (after a sign octet) INTEGER; the caller then takes the general path.
bool ReadDerScalar(const unsigned char*& p, const unsigned char* end, unsigned char* out) {
  if (end - p < 2 || p[0] != 0x02) return false;
  size_t len = p[1];
  p += 2;
  if (len == 0 || len > 33 || static_cast<size_t>(end - p) < len || (p[0] & 0x80) != 0)
    return false;
  const unsigned char* bytes = p;
  p += len;
  if (len == 33) {
    if (bytes[0] != 0) return false;
    ++bytes;
    --len;
  }
  std::memset(out, 0, kP256ScalarSize - len);
  std::memcpy(out + (kP256ScalarSize - len), bytes, len);
  return true;
}

// DER ECDSA-Sig-Value (SEQUENCE of two INTEGERs, as OpenSSL writes it for P-256) -> JWS
// R||S without going through BIGNUMs.
bool DerToRawFast(const unsigned char* der, size_t der_len, unsigned char* raw) {
  const unsigned char* end = der + der_len;
  if (der_len < 2 || der[0] != 0x30 || der[1] != der_len - 2) return false;
  const unsigned char* p = der + 2;
  return ReadDerScalar(p, end, raw) && ReadDerScalar(p, end, raw + kP256ScalarSize) && p == end;
}

// DER ECDSA-Sig-Value -> JWS R||S, each left-padded to 32 bytes (RFC 7518 §3.4).
bool DerToRaw(const unsigned char* der, size_t der_len, std::string& out) {
  const unsigned char* p = der;
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len));
  if (sig == nullptr) return false;
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig, &r, &s);
  unsigned char raw[kEcdsaRawSigSize];
  bool ok = BN_bn2binpad(r, raw, kP256ScalarSize) == kP256ScalarSize &&
            BN_bn2binpad(s, raw + kP256ScalarSize, kP256ScalarSize) == kP256ScalarSize;
  ECDSA_SIG_free(sig);
  if (ok) out.assign(reinterpret_cast<const char*>(raw), sizeof raw);
  return ok;
}

bool IsZero(const unsigned char* p, size_t n) {
  unsigned char acc = 0;
  for (size_t i = 0; i < n; ++i) acc |= p[i];
  return acc == 0;
}

// JWS R||S -> DER. Refuses r or s of zero or not below the group order: such a
// signature is never valid, and refusing it here does not depend on the
// verifier's own range checks.
bool RawToDer(std::string_view raw, std::string& der) {
  if (raw.size() != kEcdsaRawSigSize) return false;
  const unsigned char* r_bytes = Bytes(raw);
  const unsigned char* s_bytes = r_bytes + kP256ScalarSize;
  for (const unsigned char* scalar : {r_bytes, s_bytes}) {
    if (IsZero(scalar, kP256ScalarSize)) return false;
    if (std::memcmp(scalar, kP256Order.data(), kP256ScalarSize) >= 0) return false;
  }
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(r_bytes, kP256ScalarSize, nullptr);
  BIGNUM* s = BN_bin2bn(s_bytes, kP256ScalarSize, nullptr);
  if (sig == nullptr || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return false;
  }
  unsigned char* out = nullptr;
  int len = i2d_ECDSA_SIG(sig, &out);
  ECDSA_SIG_free(sig);
  if (len <= 0) return false;
  der.assign(reinterpret_cast<const char*>(out), static_cast<size_t>(len));
  OPENSSL_free(out);
  return true;
}

Error Invalid(std::string reason) {
  return Error::OAuth("invalid_token", std::move(reason));
}

struct CompactParts {
  std::string_view header_b64;
  std::string_view payload_b64;
  std::string_view signature_b64;
  std::string_view signing_input;  // header_b64 "." payload_b64
};

Result<CompactParts> SplitCompact(std::string_view compact, size_t max_size) {
  if (compact.size() > max_size) return Invalid("Token too large");
  size_t first = compact.find('.');
  size_t second = first == std::string_view::npos ? first : compact.find('.', first + 1);
  if (second == std::string_view::npos || compact.find('.', second + 1) != std::string_view::npos) {
    return Invalid("Malformed token: expected three dot-separated parts");
  }
  CompactParts parts;
  parts.header_b64 = compact.substr(0, first);
  parts.payload_b64 = compact.substr(first + 1, second - first - 1);
  parts.signature_b64 = compact.substr(second + 1);
  parts.signing_input = compact.substr(0, second);
  return parts;
}

Result<bj::object> DecodeJsonPart(std::string_view b64, std::string_view what, size_t max_size) {
  auto json = Base64UrlDecode(b64);
  if (!json) return Invalid("Malformed token " + std::string(what) + ": invalid base64url");
  core::JsonLimits limits;
  limits.max_size = max_size;
  auto parsed = core::ParseJsonObjectStrict(*json, limits);
  if (!parsed.ok()) {
    return Invalid("Malformed token " + std::string(what) + ": " + parsed.error().message);
  }
  return std::move(parsed).value();
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// RFC 7515 §4.1.9: "application/" may be omitted when no other "/" appears.
std::string NormalizeTyp(std::string_view typ) {
  std::string lower = AsciiLower(typ);
  static constexpr std::string_view kPrefix = "application/";
  if (lower.size() > kPrefix.size() && lower.compare(0, kPrefix.size(), kPrefix) == 0 &&
      lower.find('/', kPrefix.size()) == std::string::npos) {
    lower.erase(0, kPrefix.size());
  }
  return lower;
}

std::optional<double> NumericDate(const bj::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  if (v.is_double()) return v.get_double();
  return std::nullopt;
}

// `name` must be a number when present; absent is nullopt with no error.
Result<std::optional<double>> OptionalDate(const bj::object& claims, std::string_view name) {
  const bj::value* v = claims.if_contains(name);
  if (v == nullptr) return std::optional<double>();
  auto date = NumericDate(*v);
  if (!date) return Invalid(std::string(name) + " must be a number");
  return date;
}

core::Status CheckHeader(const bj::object& header, const JwtVerifyOptions& opts,
                         std::string& alg_out, std::string& kid_out) {
  const bj::value* alg_value = header.if_contains("alg");
  if (alg_value == nullptr || !alg_value->is_string()) return Invalid("Missing or invalid alg");
  std::string_view alg = alg_value->get_string();
  if (AsciiLower(alg) == "none") return Invalid("Unsigned tokens (alg none) are not accepted");
  if (alg.size() >= 2 && alg.substr(0, 2) == "HS") {
    return Invalid("HMAC-signed tokens are not accepted");
  }
  if (std::find(opts.allowed_algs.begin(), opts.allowed_algs.end(), alg) ==
      opts.allowed_algs.end()) {
    return Invalid("Token algorithm not allowed");
  }
  // "Ed25519" (RFC 9864) names the same algorithm as "EdDSA" with an Ed25519 key: the key
  // check below then pins it to Ed25519 keys like EdDSA.
  if (alg == kAlgEd25519) alg = kAlgEdDsa;
  if (!IsSupportedAlg(alg)) return Invalid("Token algorithm not allowed");
  // RFC 7515 §4.1.11: we understand no extension, so any crit is unsupported.
  if (header.contains("crit")) return Invalid("Unsupported critical header parameters");
  // Keys named by the token itself are never fetched or trusted.
  for (std::string_view name : {"jku", "x5u", "x5c"}) {
    if (header.contains(name)) return Invalid("Token-supplied key references are not accepted");
  }
  if (header.contains("jwk") && !opts.use_embedded_jwk) {
    return Invalid("Embedded jwk is not accepted");
  }
  kid_out.clear();
  if (const bj::value* kid = header.if_contains("kid")) {
    if (!kid->is_string()) return Invalid("kid must be a string");
    kid_out = kid->get_string();
  }
  const bj::value* typ = header.if_contains("typ");
  if (typ != nullptr && !typ->is_string()) return Invalid("typ must be a string");
  std::string token_typ = typ != nullptr ? NormalizeTyp(typ->get_string()) : std::string();
  bool typ_ok =
      std::any_of(opts.allowed_typs.begin(), opts.allowed_typs.end(), [&](const std::string& t) {
        if (t.empty()) return typ == nullptr;
        return typ != nullptr && NormalizeTyp(t) == token_typ;
      });
  if (!typ_ok) return Invalid(typ == nullptr ? "Missing typ header" : "Token type not allowed");
  alg_out = alg;
  return core::Ok();
}

core::Status CheckClaims(const bj::object& claims, const JwtVerifyOptions& opts) {
  auto now = static_cast<double>(opts.now_s);
  auto leeway = static_cast<double>(opts.leeway_s);

  TRY_ASSIGN(auto exp, OptionalDate(claims, "exp"));
  if (!exp && opts.require_exp) return Invalid("Missing exp claim");
  if (exp && now > *exp + leeway) return Invalid("Token expired");

  TRY_ASSIGN(auto nbf, OptionalDate(claims, "nbf"));
  if (nbf && now < *nbf - leeway) return Invalid("Token not yet valid");

  TRY_ASSIGN(auto iat, OptionalDate(claims, "iat"));
  if (!iat && (opts.require_iat || opts.max_age_s > 0)) return Invalid("Missing iat claim");
  if (iat && *iat > now + leeway) return Invalid("Token issued in the future");
  if (iat && opts.max_age_s > 0 && now - *iat > static_cast<double>(opts.max_age_s) + leeway) {
    return Invalid("Token too old");
  }

  if (opts.issuer) {
    const bj::value* iss = claims.if_contains("iss");
    if (iss == nullptr || !iss->is_string() || iss->get_string() != *opts.issuer) {
      return Invalid("Invalid issuer");
    }
  }
  if (opts.audience) {
    const bj::value* aud = claims.if_contains("aud");
    bool ok = false;
    if (aud != nullptr && aud->is_string()) {
      ok = aud->get_string() == *opts.audience;
    } else if (aud != nullptr && aud->is_array()) {
      const bj::array& list = aud->get_array();
      bool all_strings =
          std::all_of(list.begin(), list.end(), [](const bj::value& v) { return v.is_string(); });
      ok = all_strings && std::any_of(list.begin(), list.end(), [&](const bj::value& v) {
             return v.get_string() == *opts.audience;
           });
    }
    if (!ok) return Invalid("Invalid audience");
  }
  return core::Ok();
}

}  // namespace

// ---------------------------------------------------------------------------
// Signing

JwsSigner::JwsSigner(std::shared_ptr<const KeyPair> key, std::string kid)
    : key_(std::move(key)), kid_(std::move(kid)) {
  assert(key_ && key_->native_handle() != nullptr);
  at_jwt_header_b64_ = EncodeHeader("at+jwt");
  jwt_header_b64_ = EncodeHeader("JWT");
}

JwsSigner::JwsSigner(KeyPair key, std::string kid)
    : JwsSigner(std::make_shared<const KeyPair>(std::move(key)), std::move(kid)) {}

size_t JwsSigner::SignRawTo(std::string_view signing_input, unsigned char* sig) const {
  EVP_PKEY* pkey = key_->native_handle();
  EVP_MD_CTX* ctx = SignCache().Prepare(key_->cache_id(), pkey, DigestFor(key_->alg()));
  if (ctx == nullptr) SigningFailed();
  size_t sig_len = kMaxSigSize;
  if (EVP_DigestSign(ctx, sig, &sig_len, Bytes(signing_input), signing_input.size()) != 1) {
    SigningFailed();
  }
  if (key_->alg() == kAlgEs256) {
    unsigned char raw[kEcdsaRawSigSize];
    if (!DerToRawFast(sig, sig_len, raw)) {
      std::string general;
      if (!DerToRaw(sig, sig_len, general)) SigningFailed();
      std::memcpy(raw, general.data(), kEcdsaRawSigSize);
    }
    std::memcpy(sig, raw, kEcdsaRawSigSize);
    return kEcdsaRawSigSize;
  }
  return sig_len;
}

std::string JwsSigner::SignRaw(std::string_view signing_input) const {
  unsigned char sig[kMaxSigSize];
  size_t n = SignRawTo(signing_input, sig);
  return std::string(reinterpret_cast<const char*>(sig), n);
}

std::string JwsSigner::SignEncoded(std::string_view header_b64,
                                   std::string_view payload_json) const {
  std::string out;
  out.reserve(header_b64.size() + payload_json.size() * 4 / 3 + 360);
  out.append(header_b64);
  out.push_back('.');
  Base64UrlEncodeAppend(out, payload_json);
  unsigned char sig[kMaxSigSize];
  const size_t sig_len = SignRawTo(out, sig);
  out.push_back('.');
  Base64UrlEncodeAppend(out, std::string_view(reinterpret_cast<const char*>(sig), sig_len));
  return out;
}

std::string JwsSigner::SignCompact(std::string_view header_json,
                                   std::string_view payload_json) const {
  std::string header_b64;
  Base64UrlEncodeAppend(header_b64, header_json);
  return SignEncoded(header_b64, payload_json);
}

std::string JwsSigner::EncodeHeader(std::string_view typ) const {
  bj::object header;
  header["alg"] = key_->alg();
  header["kid"] = kid_;
  if (!typ.empty()) header["typ"] = typ;
  std::string out;
  Base64UrlEncodeAppend(out, bj::serialize(header));
  return out;
}

std::string JwsSigner::SignJwt(std::string_view typ, std::string_view payload_json) const {
  if (typ == "at+jwt") return SignEncoded(at_jwt_header_b64_, payload_json);
  if (typ == "JWT") return SignEncoded(jwt_header_b64_, payload_json);
  return SignEncoded(EncodeHeader(typ), payload_json);
}

std::string JwsSigner::Sign(const bj::object& header_extra, std::string_view payload_json) const {
  bj::object header;
  header["alg"] = key_->alg();
  header["kid"] = kid_;
  for (const auto& member : header_extra) {
    if (member.key() == "alg" || member.key() == "kid") continue;
    header[member.key()] = member.value();
  }
  return SignCompact(bj::serialize(header), payload_json);
}

// ---------------------------------------------------------------------------
// Verification

bool VerifyJwsSignature(const PublicKey& key, std::string_view signing_input,
                        std::string_view signature) {
  EVP_PKEY* pkey = key.native_handle();
  if (pkey == nullptr) return false;
  std::string der;
  std::string_view to_check = signature;
  if (key.alg() == kAlgEs256) {
    // JWS carries R||S (RFC 7518 §3.4); a DER signature here is malformed.
    if (!RawToDer(signature, der)) return false;
    to_check = der;
  } else if (key.alg() == kAlgEdDsa) {
    if (signature.size() != kEd25519SigSize) return false;
  } else if (key.alg() == kAlgRs256) {
    // RFC 8017 §8.2.2: the signature is exactly k octets.
    if (signature.size() != static_cast<size_t>(EVP_PKEY_get_size(pkey))) return false;
  } else {
    return false;
  }
  EVP_MD_CTX* ctx = VerifyCache().Prepare(key.cache_id(), pkey, DigestFor(key.alg()));
  if (ctx == nullptr) return false;
  int rc = EVP_DigestVerify(ctx, Bytes(to_check), to_check.size(), Bytes(signing_input),
                            signing_input.size());
  if (rc != 1) ERR_clear_error();
  return rc == 1;
}

Result<VerifiedJwt> VerifyJwt(std::string_view compact, const KeyLookup& keys,
                              const JwtVerifyOptions& opts) {
  TRY_ASSIGN(CompactParts parts, SplitCompact(compact, opts.max_token_size));
  VerifiedJwt out;
  TRY_ASSIGN(out.header, DecodeJsonPart(parts.header_b64, "header", opts.max_token_size));
  std::string alg;
  TRY(CheckHeader(out.header, opts, alg, out.signing_input_kid));

  std::optional<PublicKey> embedded;
  const PublicKey* key = nullptr;
  if (opts.use_embedded_jwk) {
    const bj::value* jwk = out.header.if_contains("jwk");
    if (jwk == nullptr || !jwk->is_object()) return Invalid("Missing embedded jwk");
    auto imported = PublicKey::FromJwk(jwk->get_object());
    if (!imported.ok()) return Invalid("Invalid embedded jwk: " + imported.error().message);
    embedded.emplace(std::move(imported).value());
    key = &*embedded;
  } else {
    key = keys ? keys(out.signing_input_kid, alg) : nullptr;
    if (key == nullptr) return Invalid("Unknown signing key");
  }
  // The algorithm is pinned per key: the header cannot choose how the key is used.
  if (key->alg() != alg) return Invalid("Token algorithm does not match the signing key");

  auto signature = Base64UrlDecode(parts.signature_b64);
  if (!signature) return Invalid("Malformed token signature: invalid base64url");
  if (!VerifyJwsSignature(*key, parts.signing_input, *signature)) {
    return Invalid("Invalid token signature");
  }
  out.jwk_thumbprint = key->Thumbprint();

  TRY_ASSIGN(out.claims, DecodeJsonPart(parts.payload_b64, "claims", opts.max_token_size));
  TRY(CheckClaims(out.claims, opts));
  return out;
}

Result<UnverifiedJwt> DecodeJwtUnverified(std::string_view compact, size_t max_token_size) {
  TRY_ASSIGN(CompactParts parts, SplitCompact(compact, max_token_size));
  UnverifiedJwt out;
  TRY_ASSIGN(out.header, DecodeJsonPart(parts.header_b64, "header", max_token_size));
  TRY_ASSIGN(out.claims, DecodeJsonPart(parts.payload_b64, "claims", max_token_size));
  return out;
}

}  // namespace agentidp::crypto
