// Compact JWT parsing (src/crypto/jws.hpp): DecodeJwtUnverified and VerifyJwt.
//
// Every input goes through:
//   1. DecodeJwtUnverified (client assertions are read this way before their keys are known);
//   2. VerifyJwt as for access tokens: keys looked up by kid among three fixed keys
//      (ES256 "es", EdDSA "ed", RS256 "rs"; fuzz_keys.hpp);
//   3. VerifyJwt as for DPoP proofs: the key comes from the header's "jwk" (attacker's
//      JWK through PublicKey::FromJwk);
//   4. when it decodes, header and claims re-signed with the fixed key its kid names (or
//      the key matching an embedded jwk) and verified again, so the claim checks after
//      the signature are fuzzed too, not only the forgery paths.
// The seed tokens (corpus/jwt/) are signed with the same keys by make_jwt_seeds.mjs.
//
// Properties: whatever VerifyJwt accepts, DecodeJwtUnverified decodes to the same header
// and claims; an accepted token has a supported, non-"none" alg equal to the key's and
// no jku/x5u/x5c/crit; exp (when required) is present and not past now + leeway;
// signature verification is deterministic.

#include "crypto/encoding.hpp"
#include "crypto/jws.hpp"
#include "crypto/keys.hpp"
#include "fuzz_check.hpp"
#include "fuzz_keys.hpp"

#include <boost/json.hpp>

#include <memory>
#include <string>

namespace {

using namespace agentidp;
namespace bj = boost::json;

constexpr int64_t kNow = 1'774'688'400;  // 2026-03-28T09:00:00Z, as in the seeds

struct Fixture {
  std::unique_ptr<crypto::JwsSigner> es, ed, rs;
  std::unique_ptr<crypto::PublicKey> es_pub, ed_pub, rs_pub;
  crypto::JwtVerifyOptions access, dpop;
  crypto::KeyLookup lookup;
};

std::unique_ptr<crypto::JwsSigner> Signer(const char* pem, std::string_view alg, std::string kid) {
  auto key = crypto::KeyPair::FromPrivatePem(pem, alg);
  if (!key.ok()) std::abort();
  return std::make_unique<crypto::JwsSigner>(std::move(key).value(), std::move(kid));
}

std::unique_ptr<crypto::PublicKey> Public(const crypto::JwsSigner& s) {
  auto pub = crypto::PublicKey::FromKeyPair(s.key());
  if (!pub.ok()) std::abort();
  return std::make_unique<crypto::PublicKey>(std::move(pub).value());
}

const Fixture& F() {
  static const Fixture* f = [] {
    auto* x = new Fixture();
    x->es = Signer(fuzz::kEs256Pem, crypto::kAlgEs256, "es");
    x->ed = Signer(fuzz::kEdDsaPem, crypto::kAlgEdDsa, "ed");
    x->rs = Signer(fuzz::kRs256Pem, crypto::kAlgRs256, "rs");
    x->es_pub = Public(*x->es);
    x->ed_pub = Public(*x->ed);
    x->rs_pub = Public(*x->rs);
    x->access.allowed_algs = {"RS256", "ES256", "EdDSA"};
    x->access.allowed_typs = {"at+jwt", "JWT", ""};
    x->access.issuer = "https://idp.example";
    x->access.audience = "https://api.example";
    x->access.now_s = kNow;
    x->dpop.allowed_algs = {"ES256", "EdDSA", "RS256"};
    x->dpop.allowed_typs = {"dpop+jwt"};
    x->dpop.now_s = kNow;
    x->dpop.require_exp = false;
    x->dpop.require_iat = true;
    x->dpop.max_age_s = 300;
    x->dpop.use_embedded_jwk = true;
    x->lookup = [x](std::string_view kid, std::string_view alg) -> const crypto::PublicKey* {
      const crypto::PublicKey* key = kid == "ed"                  ? x->ed_pub.get()
                                     : kid == "rs"                ? x->rs_pub.get()
                                     : kid == "es" || kid.empty() ? x->es_pub.get()
                                                                  : nullptr;
      return key != nullptr && key->alg() == alg ? key : nullptr;
    };
    return x;
  }();
  return *f;
}

void CheckAccepted(const crypto::VerifiedJwt& jwt, std::string_view token,
                   const crypto::JwtVerifyOptions& opts) {
  auto decoded = crypto::DecodeJwtUnverified(token, opts.max_token_size);
  FUZZ_CHECK(decoded.ok());
  FUZZ_CHECK(decoded->header == jwt.header);
  FUZZ_CHECK(decoded->claims == jwt.claims);
  const bj::value* alg = jwt.header.if_contains("alg");
  FUZZ_CHECK(alg != nullptr && alg->is_string());
  FUZZ_CHECK(crypto::IsSupportedAlg(alg->get_string()));
  for (const char* name : {"jku", "x5u", "x5c", "crit"}) FUZZ_CHECK(!jwt.header.contains(name));
  FUZZ_CHECK(opts.use_embedded_jwk || !jwt.header.contains("jwk"));
  FUZZ_CHECK(!jwt.jwk_thumbprint.empty());
  if (opts.require_exp) {
    const bj::value* exp = jwt.claims.if_contains("exp");
    FUZZ_CHECK(exp != nullptr && exp->is_number());
    FUZZ_CHECK(exp->to_number<double>() + static_cast<double>(opts.leeway_s) >=
               static_cast<double>(opts.now_s));
  }
  // Verification is a pure function of the token and the keys.
  auto again = crypto::VerifyJwt(token, F().lookup, opts);
  FUZZ_CHECK(again.ok());
}

void Verify(std::string_view token, const crypto::JwtVerifyOptions& opts) {
  auto jwt = crypto::VerifyJwt(token, F().lookup, opts);
  if (jwt.ok()) {
    CheckAccepted(*jwt, token, opts);
  } else {
    FUZZ_CHECK(jwt.error().code == "invalid_token");
  }
}

// The fixed signer whose key the header names: embedded jwk (by thumbprint) or kid.
const crypto::JwsSigner* SignerFor(const bj::object& header) {
  const Fixture& f = F();
  if (const bj::value* jwk = header.if_contains("jwk"); jwk != nullptr && jwk->is_object()) {
    std::string thumbprint = crypto::JwkThumbprint(jwk->get_object());
    for (const auto* s : {f.es.get(), f.ed.get(), f.rs.get()})
      if (!thumbprint.empty() && thumbprint == s->key().Thumbprint()) return s;
    return nullptr;
  }
  const bj::value* kid = header.if_contains("kid");
  std::string_view k = kid != nullptr && kid->is_string() ? std::string_view(kid->get_string())
                                                          : std::string_view("es");
  return k == "ed" ? f.ed.get() : k == "rs" ? f.rs.get() : f.es.get();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fixture& f = F();
  std::string_view token = fuzz::AsView(data, size);

  auto decoded = crypto::DecodeJwtUnverified(token);
  if (!decoded.ok()) FUZZ_CHECK(decoded.error().code == "invalid_token");

  Verify(token, f.access);
  Verify(token, f.dpop);

  if (!decoded.ok()) return 0;
  // Re-sign the exact header and payload bytes with the key they name.
  size_t first = token.find('.');
  size_t second = token.find('.', first + 1);
  auto header_json = crypto::Base64UrlDecode(token.substr(0, first));
  auto payload_json = crypto::Base64UrlDecode(token.substr(first + 1, second - first - 1));
  FUZZ_CHECK(header_json && payload_json);
  const crypto::JwsSigner* signer = SignerFor(decoded->header);
  if (signer == nullptr) return 0;
  std::string signed_token = signer->SignCompact(*header_json, *payload_json);
  Verify(signed_token, f.access);
  Verify(signed_token, f.dpop);
  return 0;
}
