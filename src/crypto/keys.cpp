#include "crypto/keys.hpp"

#include "crypto/encoding.hpp"
#include "crypto/hash.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <boost/json/serialize.hpp>

#include <atomic>
#include <climits>
#include <cstring>
#include <memory>
#include <span>
#include <utility>

namespace agentidp::crypto {
namespace {

namespace bj = boost::json;
using core::Error;
using core::Result;

constexpr int kMinRsaBits = 2048;
// Verifying with a huge modulus is an easy way to burn CPU; real keys stop at 4096.
constexpr int kMaxRsaBits = 8192;
constexpr size_t kP256CoordSize = 32;
constexpr size_t kEd25519KeySize = 32;
constexpr char kP256GroupName[] = "prime256v1";

struct BnFree {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;
struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
struct PkeyFree {
  void operator()(EVP_PKEY* pkey) const { EVP_PKEY_free(pkey); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* bld) const { OSSL_PARAM_BLD_free(bld); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};

uint64_t NextCacheId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

std::string_view AsView(const unsigned char* p, size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}

const unsigned char* AsBytes(const std::string& s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// Which of our algorithms this EVP_PKEY can serve, or "" if none.
std::string_view AlgForKey(EVP_PKEY* pkey) {
  if (EVP_PKEY_is_a(pkey, "RSA")) {
    int bits = EVP_PKEY_get_bits(pkey);
    return bits >= kMinRsaBits && bits <= kMaxRsaBits ? kAlgRs256 : std::string_view();
  }
  if (EVP_PKEY_is_a(pkey, "EC")) {
    char group[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &len) != 1) {
      ERR_clear_error();
      return {};
    }
    return std::strcmp(group, kP256GroupName) == 0 ? kAlgEs256 : std::string_view();
  }
  if (EVP_PKEY_is_a(pkey, "ED25519")) return kAlgEdDsa;
  return {};
}

std::string BnToBytes(const BIGNUM* bn) {
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::string BnParamB64(EVP_PKEY* pkey, const char* name, int pad_to = 0) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &raw) != 1) {
    ERR_clear_error();
    return {};
  }
  BnPtr bn(raw);
  if (pad_to > 0) {
    std::string out(static_cast<size_t>(pad_to), '\0');
    if (BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(out.data()), pad_to) != pad_to) {
      return {};
    }
    return Base64UrlEncode(out);
  }
  return Base64UrlEncode(BnToBytes(bn.get()));
}

// kty and the key members, in RFC 7638 canonical form (minimal n/e, fixed-size
// EC coordinates), taken from the key itself rather than from any input JWK.
bj::object PublicMembers(EVP_PKEY* pkey) {
  bj::object jwk;
  if (pkey == nullptr) return jwk;
  if (EVP_PKEY_is_a(pkey, "RSA")) {
    jwk["kty"] = "RSA";
    jwk["n"] = BnParamB64(pkey, OSSL_PKEY_PARAM_RSA_N);
    jwk["e"] = BnParamB64(pkey, OSSL_PKEY_PARAM_RSA_E);
  } else if (EVP_PKEY_is_a(pkey, "EC")) {
    jwk["kty"] = "EC";
    jwk["crv"] = "P-256";
    jwk["x"] = BnParamB64(pkey, OSSL_PKEY_PARAM_EC_PUB_X, static_cast<int>(kP256CoordSize));
    jwk["y"] = BnParamB64(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, static_cast<int>(kP256CoordSize));
  } else if (EVP_PKEY_is_a(pkey, "ED25519")) {
    unsigned char raw[kEd25519KeySize];
    size_t len = sizeof raw;
    jwk["kty"] = "OKP";
    jwk["crv"] = "Ed25519";
    if (EVP_PKEY_get_raw_public_key(pkey, raw, &len) == 1 && len == sizeof raw) {
      jwk["x"] = Base64UrlEncode(AsView(raw, len));
    } else {
      ERR_clear_error();
      jwk["x"] = "";
    }
  }
  return jwk;
}

int NoPassphrase(char*, int, int, void*) {
  return -1;
}

Error JwkError(std::string_view why) {
  return Error::Validation("Invalid JWK: " + std::string(why));
}

const bj::string* StringMember(const bj::object& o, std::string_view name) {
  const bj::value* v = o.if_contains(name);
  return v != nullptr ? v->if_string() : nullptr;
}

Result<PkeyPtr> PkeyFromData(const char* type, OSSL_PARAM* params) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    ERR_clear_error();
    return JwkError("key parameters rejected");
  }
  return PkeyPtr(raw);
}

Result<PkeyPtr> RsaFromJwk(const bj::object& jwk) {
  const bj::string* n_b64 = StringMember(jwk, "n");
  const bj::string* e_b64 = StringMember(jwk, "e");
  if (n_b64 == nullptr || e_b64 == nullptr) return JwkError("RSA key needs string n and e");
  auto n_bytes = Base64UrlDecode(*n_b64);
  auto e_bytes = Base64UrlDecode(*e_b64);
  if (!n_bytes || !e_bytes) return JwkError("n and e must be base64url");
  if (n_bytes->size() > kMaxRsaBits / 8 + 1 || e_bytes->size() > 8) {
    return JwkError("RSA parameters too large");
  }
  BnPtr n(BN_bin2bn(AsBytes(*n_bytes), static_cast<int>(n_bytes->size()), nullptr));
  BnPtr e(BN_bin2bn(AsBytes(*e_bytes), static_cast<int>(e_bytes->size()), nullptr));
  if (!n || !e) return Error::Internal("Out of memory");
  int bits = BN_num_bits(n.get());
  if (bits < kMinRsaBits || bits > kMaxRsaBits) {
    return JwkError("RSA modulus must have 2048 to 8192 bits");
  }
  if (!BN_is_odd(n.get()) || !BN_is_odd(e.get()) || BN_is_one(e.get())) {
    return JwkError("RSA parameters are not plausible");
  }
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    return Error::Internal("Out of memory");
  }
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (!params) return Error::Internal("Out of memory");
  return PkeyFromData("RSA", params.get());
}

Result<PkeyPtr> EcFromJwk(const bj::object& jwk) {
  const bj::string* crv = StringMember(jwk, "crv");
  if (crv == nullptr || *crv != "P-256") return JwkError("only EC curve P-256 is supported");
  const bj::string* x_b64 = StringMember(jwk, "x");
  const bj::string* y_b64 = StringMember(jwk, "y");
  if (x_b64 == nullptr || y_b64 == nullptr) return JwkError("EC key needs string x and y");
  auto x = Base64UrlDecode(*x_b64);
  auto y = Base64UrlDecode(*y_b64);
  // RFC 7518 §6.2.1.2: coordinates are the full field size, never shortened.
  if (!x || !y || x->size() != kP256CoordSize || y->size() != kP256CoordSize) {
    return JwkError("EC coordinates must be 32 bytes of base64url");
  }
  std::string point = "\x04" + *x + *y;  // SEC 1 uncompressed point
  char group[] = "prime256v1";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
      OSSL_PARAM_construct_end(),
  };
  TRY_ASSIGN(PkeyPtr pkey, PkeyFromData("EC", params));
  // Invalid-curve attacks: the point must lie on P-256 and not be the identity.
  // OpenSSL's import already decodes through EC_POINT_oct2point (which checks the
  // curve equation); the explicit public check makes it independent of that.
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    ERR_clear_error();
    return JwkError("EC point is not on the curve");
  }
  return pkey;
}

Result<PkeyPtr> OkpFromJwk(const bj::object& jwk) {
  const bj::string* crv = StringMember(jwk, "crv");
  if (crv == nullptr || *crv != "Ed25519") return JwkError("only OKP curve Ed25519 is supported");
  const bj::string* x_b64 = StringMember(jwk, "x");
  if (x_b64 == nullptr) return JwkError("OKP key needs string x");
  auto x = Base64UrlDecode(*x_b64);
  if (!x || x->size() != kEd25519KeySize) return JwkError("Ed25519 x must be 32 bytes");
  EVP_PKEY* raw =
      EVP_PKEY_new_raw_public_key_ex(nullptr, "ED25519", nullptr, AsBytes(*x), x->size());
  if (raw == nullptr) {
    ERR_clear_error();
    return JwkError("Ed25519 key rejected");
  }
  return PkeyPtr(raw);
}

}  // namespace

bool IsSupportedAlg(std::string_view alg) {
  return alg == kAlgRs256 || alg == kAlgEs256 || alg == kAlgEdDsa;
}

// ---------------------------------------------------------------------------
// KeyPair

KeyPair::KeyPair(EVP_PKEY* pkey, std::string alg)
    : pkey_(pkey), alg_(std::move(alg)), cache_id_(NextCacheId()) {}

KeyPair::KeyPair(KeyPair&& other) noexcept
    : pkey_(std::exchange(other.pkey_, nullptr)),
      alg_(std::move(other.alg_)),
      cache_id_(std::exchange(other.cache_id_, 0)) {}

KeyPair& KeyPair::operator=(KeyPair&& other) noexcept {
  if (this != &other) {
    EVP_PKEY_free(pkey_);
    pkey_ = std::exchange(other.pkey_, nullptr);
    alg_ = std::move(other.alg_);
    cache_id_ = std::exchange(other.cache_id_, 0);
  }
  return *this;
}

KeyPair::~KeyPair() {
  EVP_PKEY_free(pkey_);
}

Result<KeyPair> KeyPair::Generate(std::string_view alg) {
  EVP_PKEY* pkey = nullptr;
  if (alg == kAlgRs256) {
    // EVP_RSA_gen uses e = 65537.
    pkey = EVP_RSA_gen(static_cast<unsigned int>(kMinRsaBits));
  } else if (alg == kAlgEs256) {
    pkey = EVP_EC_gen(kP256GroupName);
  } else if (alg == kAlgEdDsa) {
    pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  } else {
    return Error::Validation("Unsupported signing algorithm");
  }
  if (pkey == nullptr) {
    ERR_clear_error();
    return Error::Internal("Key generation failed");
  }
  return KeyPair(pkey, std::string(alg));
}

Result<KeyPair> KeyPair::FromPrivatePem(std::string_view pem, std::string_view alg) {
  if (!IsSupportedAlg(alg)) return Error::Validation("Unsupported signing algorithm");
  if (pem.size() > INT_MAX) return Error::Validation("Private key PEM too large");
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Error::Internal("Out of memory");
  // NoPassphrase: an encrypted PEM fails instead of prompting on the terminal.
  EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr);
  if (raw == nullptr) {
    ERR_clear_error();
    return Error::Validation("Invalid private key PEM");
  }
  PkeyPtr pkey(raw);
  if (AlgForKey(pkey.get()) != alg) {
    return Error::Validation("Private key does not fit algorithm " + std::string(alg));
  }
  return KeyPair(pkey.release(), std::string(alg));
}

std::string KeyPair::PrivatePem() const {
  if (pkey_ == nullptr) return {};
  // Secure-memory BIO: the buffer is cleansed when freed.
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio ||
      PEM_write_bio_PKCS8PrivateKey(bio.get(), pkey_, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    ERR_clear_error();
    return {};
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0 || data == nullptr) return {};
  return std::string(data, static_cast<size_t>(len));
}

bj::object KeyPair::PublicJwk(std::string_view kid) const {
  bj::object members = PublicMembers(pkey_);
  bj::object jwk;
  jwk["kty"] = members["kty"];
  jwk["kid"] = kid;
  jwk["use"] = "sig";
  jwk["alg"] = alg_;
  for (auto& member : members) {
    if (member.key() != "kty") jwk[member.key()] = std::move(member.value());
  }
  return jwk;
}

std::string KeyPair::Thumbprint() const {
  return JwkThumbprint(PublicMembers(pkey_));
}

// ---------------------------------------------------------------------------
// PublicKey

PublicKey::PublicKey(EVP_PKEY* pkey, std::string alg)
    : pkey_(pkey),
      alg_(std::move(alg)),
      thumbprint_(JwkThumbprint(PublicMembers(pkey))),
      cache_id_(NextCacheId()) {}

PublicKey::PublicKey(PublicKey&& other) noexcept
    : pkey_(std::exchange(other.pkey_, nullptr)),
      alg_(std::move(other.alg_)),
      thumbprint_(std::move(other.thumbprint_)),
      cache_id_(std::exchange(other.cache_id_, 0)) {}

PublicKey& PublicKey::operator=(PublicKey&& other) noexcept {
  if (this != &other) {
    EVP_PKEY_free(pkey_);
    pkey_ = std::exchange(other.pkey_, nullptr);
    alg_ = std::move(other.alg_);
    thumbprint_ = std::move(other.thumbprint_);
    cache_id_ = std::exchange(other.cache_id_, 0);
  }
  return *this;
}

PublicKey::~PublicKey() {
  EVP_PKEY_free(pkey_);
}

Result<PublicKey> PublicKey::FromJwk(const bj::object& jwk) {
  // A public-key slot must never receive a secret: a JWKS entry with "d" or a
  // symmetric "k" is a leak or an attempt at HMAC-with-public-key confusion.
  static constexpr std::string_view kPrivateMembers[] = {"d",  "p",  "q",   "dp",
                                                         "dq", "qi", "oth", "k"};
  for (std::string_view name : kPrivateMembers) {
    if (jwk.contains(name)) return JwkError("private or symmetric key material is not accepted");
  }
  const bj::string* kty = StringMember(jwk, "kty");
  if (kty == nullptr) return JwkError("kty must be a string");
  if (const bj::value* use = jwk.if_contains("use")) {
    if (!use->is_string() || use->get_string() != "sig") return JwkError("use must be \"sig\"");
  }
  const bj::value* alg_member = jwk.if_contains("alg");
  if (alg_member != nullptr && !alg_member->is_string()) return JwkError("alg must be a string");

  PkeyPtr pkey;
  std::string_view key_alg;
  if (*kty == "RSA") {
    TRY_ASSIGN(pkey, RsaFromJwk(jwk));
    key_alg = kAlgRs256;
  } else if (*kty == "EC") {
    TRY_ASSIGN(pkey, EcFromJwk(jwk));
    key_alg = kAlgEs256;
  } else if (*kty == "OKP") {
    TRY_ASSIGN(pkey, OkpFromJwk(jwk));
    key_alg = kAlgEdDsa;
  } else if (*kty == "oct") {
    return JwkError("symmetric keys are not accepted");
  } else {
    return JwkError("unsupported kty");
  }
  if (alg_member != nullptr && alg_member->get_string() != key_alg &&
      !(key_alg == kAlgEdDsa && alg_member->get_string() == kAlgEd25519)) {
    return JwkError("alg does not match the key type");
  }
  return PublicKey(pkey.release(), std::string(key_alg));
}

Result<PublicKey> PublicKey::FromKeyPair(const KeyPair& key_pair) {
  if (key_pair.native_handle() == nullptr) return Error::Internal("Empty key pair");
  bj::object jwk = PublicMembers(key_pair.native_handle());
  jwk["alg"] = key_pair.alg();
  return FromJwk(jwk);
}

bj::object PublicKey::Jwk() const {
  return PublicMembers(pkey_);
}

// ---------------------------------------------------------------------------

std::string JwkThumbprint(const bj::object& public_jwk) {
  const bj::string* kty = StringMember(public_jwk, "kty");
  if (kty == nullptr) return {};
  static constexpr std::string_view kRsa[] = {"e", "kty", "n"};
  static constexpr std::string_view kEc[] = {"crv", "kty", "x", "y"};
  static constexpr std::string_view kOkp[] = {"crv", "kty", "x"};
  static constexpr std::string_view kOct[] = {"k", "kty"};
  std::span<const std::string_view> required;
  if (*kty == "RSA") {
    required = kRsa;
  } else if (*kty == "EC") {
    required = kEc;
  } else if (*kty == "OKP") {
    required = kOkp;
  } else if (*kty == "oct") {
    required = kOct;
  } else {
    return {};
  }
  // RFC 7638 §3.3: required members only, lexicographic order, no whitespace.
  // The lists above are already sorted; serialize() emits insertion order.
  bj::object canonical;
  for (std::string_view name : required) {
    const bj::string* value = StringMember(public_jwk, name);
    if (value == nullptr) return {};
    canonical[name] = *value;
  }
  auto digest = Sha256(bj::serialize(canonical));
  return Base64UrlEncode(AsView(digest.data(), digest.size()));
}

}  // namespace agentidp::crypto
