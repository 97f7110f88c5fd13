#include "domain/oauth/dpop.hpp"

#include "crypto/encoding.hpp"
#include "crypto/hash.hpp"
#include "crypto/jws.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

namespace agentidp::domain {

namespace {

core::Error InvalidProof(std::string message) {
  return core::Error::OAuth("invalid_dpop_proof", std::move(message));
}

}  // namespace

const std::vector<std::string>& DpopAlgorithms() {
  static const std::vector<std::string> kAlgs = {"ES256", "EdDSA", "Ed25519", "RS256"};
  return kAlgs;
}

std::optional<std::string> NormalizeHtu(std::string_view url) {
  if (url.size() > 2048) return std::nullopt;
  auto parsed = boost::urls::parse_uri(url);  // parse_uri: a fragment may be present
  if (!parsed) return std::nullopt;
  boost::urls::url u(*parsed);
  u.normalize();
  const auto scheme = u.scheme_id();
  if (scheme != boost::urls::scheme::http && scheme != boost::urls::scheme::https)
    return std::nullopt;
  if (u.encoded_host().empty() || u.has_userinfo()) return std::nullopt;
  std::string out = scheme == boost::urls::scheme::https ? "https://" : "http://";
  out += std::string_view(u.encoded_host());
  const std::string_view port = u.port();
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos ||
        std::stoi(std::string(port)) > 65535 || u.port_number() == 0)
      return std::nullopt;
    const bool default_port = (scheme == boost::urls::scheme::https && u.port_number() == 443) ||
                              (scheme == boost::urls::scheme::http && u.port_number() == 80);
    if (!default_port) out.append(":").append(std::to_string(u.port_number()));
  }
  const std::string_view path = u.encoded_path();
  if (!path.empty() && path.front() != '/') return std::nullopt;
  out += path.empty() ? std::string_view("/") : path;
  // Only forms that read back as themselves: anything the URL grammar would see differently
  // in the normalized text is refused rather than compared.
  auto check = boost::urls::parse_uri(out);
  if (!check || check->has_query() || check->has_fragment() || check->has_userinfo() ||
      check->encoded_host() != u.encoded_host() ||
      check->encoded_path() != (path.empty() ? "/" : path))
    return std::nullopt;
  return out;
}

DpopVerifier::DpopVerifier(ReplayCache& replay, const core::Clock& clock, DpopSettings settings)
    : replay_(replay), clock_(clock), settings_(std::move(settings)) {}

std::string DpopVerifier::NonceFor(int64_t slot) const {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i) {
    s[static_cast<size_t>(i)] = static_cast<char>(slot & 0xff);
    slot >>= 8;
  }
  std::string tag = crypto::HmacSha256(settings_.nonce_key, "dpop-nonce|" + s).substr(0, 16);
  return crypto::Base64UrlEncode(s + tag);
}

std::string DpopVerifier::CurrentNonce() const {
  if (!settings_.require_nonce) return "";
  return NonceFor(clock_.NowSeconds() / settings_.nonce_slot_s);
}

bool DpopVerifier::NonceValid(std::string_view nonce) const {
  const int64_t slot = clock_.NowSeconds() / settings_.nonce_slot_s;
  // Valid in its own slot and the next: a nonce lives between one and two slots.
  return crypto::ConstantTimeEquals(nonce, NonceFor(slot)) ||
         crypto::ConstantTimeEquals(nonce, NonceFor(slot - 1));
}

core::Result<std::string> DpopVerifier::Verify(const DpopCheck& check) {
  if (check.proof.empty()) return InvalidProof("DPoP proof is empty");
  crypto::JwtVerifyOptions opts;
  opts.allowed_algs = DpopAlgorithms();
  opts.allowed_typs = {"dpop+jwt"};
  opts.now_s = clock_.NowSeconds();
  opts.leeway_s = settings_.leeway_s;
  opts.require_exp = false;
  opts.require_iat = true;
  opts.max_age_s = settings_.max_age_s;
  opts.use_embedded_jwk = true;
  opts.max_token_size = 8192;
  auto jwt = crypto::VerifyJwt(
      check.proof, [](std::string_view, std::string_view) { return nullptr; }, opts);
  if (!jwt.ok()) return InvalidProof("DPoP proof rejected: " + jwt.error().message);
  const auto& c = jwt->claims;
  auto str = [&](std::string_view name) -> std::optional<std::string> {
    const auto* v = c.if_contains(name);
    if (!v || !v->is_string()) return std::nullopt;
    return std::string(v->get_string());
  };
  auto jti = str("jti");
  if (!jti || jti->empty() || jti->size() > 256)
    return InvalidProof("DPoP proof needs a \"jti\" (1-256 characters)");
  auto htm = str("htm");
  if (!htm || *htm != check.method)
    return InvalidProof("DPoP proof \"htm\" does not match the request method");
  auto htu_claim = str("htu");
  auto htu = htu_claim ? NormalizeHtu(*htu_claim) : std::nullopt;
  auto expected = NormalizeHtu(check.url);
  if (!htu || !expected || *htu != *expected)
    return InvalidProof("DPoP proof \"htu\" does not match the request URL");
  if (check.access_token) {
    const auto digest = crypto::Sha256(*check.access_token);
    const std::string ath = crypto::Base64UrlEncode(
        std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
    auto claimed = str("ath");
    if (!claimed) return InvalidProof("DPoP proof needs \"ath\" for an access token");
    if (!crypto::ConstantTimeEquals(*claimed, ath))
      return InvalidProof("DPoP proof \"ath\" does not match the access token");
  } else if (c.if_contains("ath")) {
    return InvalidProof("DPoP proof carries \"ath\" but no access token is presented");
  }
  if (settings_.require_nonce) {
    auto nonce = str("nonce");
    if (!nonce || !NonceValid(*nonce)) {
      core::Error e = core::Error::OAuth(
          "use_dpop_nonce", nonce ? "DPoP nonce is stale; use the one in DPoP-Nonce"
                                  : "DPoP proofs must carry the server nonce from DPoP-Nonce");
      e.headers.emplace_back("DPoP-Nonce", CurrentNonce());
      return e;
    }
  }
  // Once only. The key covers everything a proof is bound to; it is remembered for as long
  // as a proof with this iat could still be accepted.
  const auto* iat = c.if_contains("iat");
  const int64_t iat_s = iat && iat->is_int64()    ? iat->get_int64()
                        : iat && iat->is_double() ? static_cast<int64_t>(iat->get_double())
                                                  : opts.now_s;
  const int64_t until_ms = (iat_s + settings_.max_age_s + settings_.leeway_s + 1) * 1000;
  std::string key = *htm;
  key.append(" ").append(*expected).append("|").append(jwt->jwk_thumbprint).append("|");
  key.append(*jti);
  auto first = replay_.Consume("dpop", key, until_ms);
  if (!first.ok()) {
    core::Error e = core::Error::OAuth("temporarily_unavailable",
                                       "The DPoP proof could not be checked; retry", 503);
    e.retry_after = 1;
    return e;
  }
  if (!*first) return InvalidProof("DPoP proof has already been used (jti replayed)");
  return jwt->jwk_thumbprint;
}

}  // namespace agentidp::domain
