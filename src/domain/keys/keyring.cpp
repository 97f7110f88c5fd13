#include "domain/keys/keyring.hpp"

#include "crypto/aead.hpp"
#include "crypto/encoding.hpp"
#include "crypto/hash.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>

namespace agentidp::domain {

const crypto::PublicKey* KeySnapshot::FindPublic(std::string_view kid) const {
  for (const auto& e : keys)
    if (e.record.kid == kid) return e.public_key.get();
  return nullptr;
}

core::Result<std::string> DecodeMasterKey(std::string_view text) {
  if (text.size() == 64) {
    if (auto raw = crypto::HexDecode(text); raw && raw->size() == 32) return *raw;
  }
  if (auto raw = crypto::Base64UrlDecode(text); raw && raw->size() == 32) return *raw;
  return core::Error::Validation(
      "AGENTIDP_MASTER_KEY must be 32 bytes as 64 hex characters or unpadded base64url");
}

Keyring::Keyring(KeyStore& store, const core::Clock& clock, std::string master_key,
                 KeyringOptions options)
    : store_(store), clock_(clock), master_key_(std::move(master_key)), options_(options) {}

core::Result<SigningKey> Keyring::NewKey(const std::string& alg, int64_t activates_at) {
  if (!crypto::IsSupportedAlg(alg))
    return core::Error::Validation("Unsupported signing algorithm \"" + alg +
                                   "\" (RS256, ES256 or EdDSA)");
  TRY_ASSIGN(crypto::KeyPair pair, crypto::KeyPair::Generate(alg));
  SigningKey key;
  // kid: the RFC 7638 thumbprint, stable and unique per key.
  key.kid = pair.Thumbprint();
  key.alg = alg;
  key.public_jwk_json = boost::json::serialize(pair.PublicJwk(key.kid));
  TRY_ASSIGN(std::string sealed, crypto::Seal(master_key_, pair.PrivatePem(), key.kid));
  key.sealed_private_key = crypto::Base64UrlEncode(sealed);
  key.created_at = clock_.NowMs();
  key.activates_at = activates_at;
  key.status = activates_at <= key.created_at ? "active" : "staged";
  return key;
}

core::Status Keyring::Initialize() {
  TRY_ASSIGN(auto records, store_.List());
  if (records.empty()) {
    TRY_ASSIGN(SigningKey first, NewKey(options_.alg, clock_.NowMs()));
    TRY(store_.Insert(first));
    TRY_ASSIGN(records, store_.List());
  }
  return Rebuild(std::move(records));
}

core::Status Keyring::Refresh() {
  std::lock_guard refreshing(refresh_mu_);
  TRY_ASSIGN(auto records, store_.List());
  return Rebuild(std::move(records));
}

core::Status Keyring::Rebuild(std::vector<SigningKey> records) {
  const int64_t now = clock_.NowMs();
  auto snap = std::make_shared<KeySnapshot>();
  boost::json::array jwks;
  std::lock_guard lock(mu_);
  for (auto& rec : records) {
    if (rec.publish_until && *rec.publish_until <= now) continue;  // expired from the JWKS
    KeySnapshot::Entry entry;
    std::shared_ptr<const crypto::KeyPair> pair;
    for (auto& [kid, p] : decrypted_)
      if (kid == rec.kid) pair = p;
    if (!pair) {
      auto sealed = crypto::Base64UrlDecode(rec.sealed_private_key);
      if (!sealed) return core::Error::Internal("Signing key " + rec.kid + " is corrupt");
      auto pem = crypto::Open(master_key_, *sealed, rec.kid);
      if (!pem.ok())
        return core::Error::Validation("Cannot decrypt signing key " + rec.kid +
                                       ": wrong master key (AGENTIDP_MASTER_KEY / master.key)?");
      TRY_ASSIGN(crypto::KeyPair kp, crypto::KeyPair::FromPrivatePem(*pem, rec.alg));
      pair = std::make_shared<const crypto::KeyPair>(std::move(kp));
      decrypted_.emplace_back(rec.kid, pair);
    }
    TRY_ASSIGN(crypto::PublicKey pub, crypto::PublicKey::FromKeyPair(*pair));
    entry.public_key = std::make_shared<const crypto::PublicKey>(std::move(pub));
    entry.signer = std::make_shared<const crypto::JwsSigner>(pair, rec.kid);
    boost::system::error_code ec;
    auto jwk = boost::json::parse(rec.public_jwk_json, ec);
    if (!ec) jwks.push_back(std::move(jwk));
    entry.record = std::move(rec);
    snap->keys.push_back(std::move(entry));
  }
  // The signing key is the most recently activated key whose activation time has come.
  for (const auto& e : snap->keys) {
    if (e.record.activates_at > now) continue;
    if (e.record.retired_at && *e.record.retired_at <= now) continue;
    if (!snap->current || e.record.activates_at >= snap->current->record.activates_at)
      snap->current = &e;
  }
  if (!snap->current) return core::Error::Internal("No signing key is active");
  for (const auto& e : snap->keys) {
    for (std::optional<int64_t> t : {std::optional<int64_t>(e.record.activates_at),
                                     e.record.retired_at, e.record.publish_until})
      if (t && *t > now && (snap->next_change_ms == 0 || *t < snap->next_change_ms))
        snap->next_change_ms = *t;
  }
  snap->jwks_json = boost::json::serialize(boost::json::object{{"keys", std::move(jwks)}});
  snapshot_ = std::move(snap);
  return core::Ok();
}

core::Result<std::string> Keyring::Rotate(const std::string& alg_in) {
  const std::string alg = alg_in.empty() ? options_.alg : alg_in;
  const int64_t now = clock_.NowMs();
  const int64_t activates_at = now + options_.activation_delay_s * 1000;
  TRY_ASSIGN(auto records, store_.List());
  TRY_ASSIGN(SigningKey next, NewKey(alg, activates_at));
  TRY(store_.Insert(next));
  // Every key that signs until then retires when the new one activates and stays published
  // until the last token it can have signed expires.
  for (auto& rec : records) {
    if (rec.retired_at && *rec.retired_at <= activates_at) continue;
    rec.retired_at = activates_at;
    rec.publish_until = activates_at + options_.max_token_ttl_s * 1000 + 60'000;
    rec.status = "retired";
    TRY(store_.Update(rec));
  }
  TRY(Refresh());
  return next.kid;
}

std::shared_ptr<const KeySnapshot> Keyring::Snapshot() const {
  std::lock_guard lock(mu_);
  return snapshot_;
}

}  // namespace agentidp::domain
