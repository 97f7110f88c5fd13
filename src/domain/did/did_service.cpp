#include "domain/did/did_service.hpp"

#include "crypto/aead.hpp"
#include "crypto/encoding.hpp"
#include "crypto/jws.hpp"
#include "crypto/keys.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace agentidp::domain {

namespace {

boost::json::array Contexts() {
  return {"https://www.w3.org/ns/did/v1", "https://w3id.org/security/suites/jws-2020/v1"};
}

// Only the public members a verifier needs (kty + key members, kid, alg, use); whatever else
// a stored JWK held never reaches a document.
boost::json::object PublicMembers(const boost::json::object& jwk) {
  boost::json::object out;
  for (const char* k : {"kty", "crv", "x", "y", "n", "e", "kid", "alg", "use"})
    if (auto* v = jwk.if_contains(k)) out[k] = *v;
  return out;
}

}  // namespace

std::string DidWebFromUrl(std::string_view url) {
  size_t scheme = url.find("://");
  std::string_view rest = scheme == std::string_view::npos ? url : url.substr(scheme + 3);
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  std::string id;
  for (char ch : rest) {
    if (ch == '/')
      id += ':';
    else if (ch == ':')
      id += "%3A";
    else
      id += ch;
  }
  return "did:web:" + id;
}

std::string AgentDid(std::string_view did_base, std::string_view agent_id) {
  return std::string(did_base) + ":agents:" + std::string(agent_id);
}

std::string DidTimestamp(int64_t ms) {
  std::string t = core::FormatIso8601(ms);  // 2026-03-28T09:00:00.000Z
  if (size_t dot = t.find('.'); dot != std::string::npos) t = t.substr(0, dot) + "Z";
  return t;
}

DidService::DidService(AgentKeyStore& keys, const core::Clock& clock, std::string master_key,
                       DidSettings settings)
    : keys_(keys),
      clock_(clock),
      master_key_(std::move(master_key)),
      settings_(std::move(settings)) {}

std::string DidService::Aad(const std::string& agent_id, const std::string& kid) const {
  // Binds the sealed key to its row: it cannot be swapped into another agent's.
  return "agentidp/agent-key/v1|" + agent_id + "|" + kid;
}

boost::json::object DidService::VerificationMethod(const std::string& controller,
                                                   const std::string& kid,
                                                   const std::string& public_jwk_json) const {
  boost::json::object vm;
  vm["id"] = controller + "#" + kid;
  vm["type"] = "JsonWebKey2020";
  vm["controller"] = controller;
  boost::system::error_code ec;
  auto jwk = boost::json::parse(public_jwk_json, ec);
  vm["publicKeyJwk"] =
      !ec && jwk.is_object() ? PublicMembers(jwk.as_object()) : boost::json::object{};
  return vm;
}

boost::json::object DidService::InstanceDocument(const KeySnapshot& keys) const {
  const std::string& did = settings_.did_base;
  boost::json::object doc;
  doc["@context"] = Contexts();
  doc["id"] = did;
  boost::json::array methods, refs;
  for (const auto& e : keys.keys) {
    methods.push_back(VerificationMethod(did, e.record.kid, e.record.public_jwk_json));
    refs.emplace_back(did + "#" + e.record.kid);
  }
  doc["verificationMethod"] = std::move(methods);
  doc["authentication"] = refs;
  doc["assertionMethod"] = std::move(refs);
  return doc;
}

core::Result<AgentKey> DidService::NewKey(const Agent& agent) const {
  TRY_ASSIGN(crypto::KeyPair pair, crypto::KeyPair::Generate(settings_.agent_key_alg));
  AgentKey key;
  key.kid = pair.Thumbprint();
  key.agent_id = agent.agent_id;
  key.alg = settings_.agent_key_alg;
  key.public_jwk_json = boost::json::serialize(pair.PublicJwk(key.kid));
  TRY_ASSIGN(std::string sealed,
             crypto::Seal(master_key_, pair.PrivatePem(), Aad(agent.agent_id, key.kid)));
  key.sealed_private_key = crypto::Base64UrlEncode(sealed);
  key.status = "active";
  key.created_at = clock_.NowMs();
  return key;
}

core::Result<DidService::RotatedKey> DidService::RotateKey(const Agent& agent) {
  const TenantScope scope = TenantScope::Org(agent.organization_id);
  TRY_ASSIGN(auto existing, keys_.GetActive(scope, agent.agent_id));
  TRY_ASSIGN(AgentKey key, NewKey(agent));
  auto rotated = keys_.Rotate(scope, key);
  if (!rotated.ok()) {
    if (rotated.error().kind == core::Errc::kConflict)
      return core::Error::Conflict("KEY_ROTATION_CONFLICT",
                                   "The agent's key changed concurrently; retry");
    return std::move(rotated).error();
  }
  return RotatedKey{std::move(key), existing ? existing->kid : std::string()};
}

core::Result<AgentKey> DidService::KeyFor(const Agent& agent) {
  const TenantScope scope = TenantScope::Org(agent.organization_id);
  TRY_ASSIGN(auto existing, keys_.GetActive(scope, agent.agent_id));
  if (existing) return std::move(*existing);
  TRY_ASSIGN(AgentKey key, NewKey(agent));
  auto inserted = keys_.Insert(scope, key);
  if (inserted.ok()) return key;
  if (inserted.error().kind != core::Errc::kConflict) return std::move(inserted).error();
  // Another request (or node) created the agent's key first: use that one.
  TRY_ASSIGN(auto winner, keys_.GetActive(scope, agent.agent_id));
  if (!winner) return core::Error::Internal("Agent key vanished");
  return std::move(*winner);
}

boost::json::object DidService::AgentDocument(const Agent& agent, const AgentKey& key) const {
  const std::string did = AgentDid(settings_.did_base, agent.agent_id);
  boost::json::object doc;
  doc["@context"] = Contexts();
  doc["id"] = did;
  // The instance holds the key and maintains the document on the agent's behalf.
  doc["controller"] = settings_.did_base;
  boost::json::array methods;
  methods.push_back(VerificationMethod(did, key.kid, key.public_jwk_json));
  doc["verificationMethod"] = std::move(methods);
  boost::json::array refs;
  refs.emplace_back(did + "#" + key.kid);
  doc["authentication"] = refs;
  doc["assertionMethod"] = std::move(refs);
  return doc;
}

boost::json::object DidService::Resolution(const Agent& agent, const AgentKey* key) const {
  boost::json::object result;
  result["@context"] = "https://w3id.org/did-resolution/v1";
  boost::json::object meta;
  meta["created"] = DidTimestamp(agent.created_at);
  int64_t updated = agent.updated_at;
  if (key && key->created_at > updated) updated = key->created_at;
  meta["updated"] = DidTimestamp(updated);
  const bool deactivated = agent.status == "decommissioned" || key == nullptr;
  meta["deactivated"] = deactivated;
  if (key && !deactivated) {
    result["didDocument"] = AgentDocument(agent, *key);
  } else {
    boost::json::object doc;
    doc["@context"] = Contexts();
    doc["id"] = AgentDid(settings_.did_base, agent.agent_id);
    result["didDocument"] = std::move(doc);
  }
  boost::json::object resolution;
  resolution["contentType"] = kDidContentType;
  resolution["retrieved"] = DidTimestamp(clock_.NowMs());
  result["didResolutionMetadata"] = std::move(resolution);
  result["didDocumentMetadata"] = std::move(meta);
  return result;
}

boost::json::object DidService::Card(const Agent& agent, const AgentKey& key) const {
  const std::string did = AgentDid(settings_.did_base, agent.agent_id);
  const std::string& iss = settings_.issuer;
  boost::json::object card;
  card["schemaVersion"] = "1.0";
  card["id"] = agent.agent_id;
  // The card is public: only an agent listed in the marketplace shows its email; any other
  // is named by its id, so a card reveals no tenant data beyond what it must.
  card["name"] = agent.is_public ? agent.email : agent.agent_id;
  card["did"] = did;
  card["agentType"] = agent.agent_type;
  card["version"] = agent.version;
  boost::json::array caps;
  for (const auto& c : agent.capabilities) caps.emplace_back(c);
  card["capabilities"] = std::move(caps);
  card["deploymentEnv"] = agent.deployment_env;
  card["status"] = agent.status;
  boost::json::object endpoints;
  endpoints["didDocument"] = iss + "/agents/" + agent.agent_id + "/did.json";
  endpoints["agentCard"] = iss + "/agents/" + agent.agent_id + "/did/card";
  endpoints["issuer"] = iss;
  endpoints["tokenEndpoint"] = iss + "/api/v1/token";
  endpoints["jwksUri"] = iss + "/.well-known/jwks.json";
  card["endpoints"] = std::move(endpoints);
  boost::json::object auth;
  auth["schemes"] = boost::json::array{"oauth2"};
  auth["tokenEndpointAuthMethods"] =
      boost::json::array{"client_secret_basic", "client_secret_post", "private_key_jwt"};
  card["authentication"] = std::move(auth);
  boost::json::array keys;
  keys.push_back(VerificationMethod(did, key.kid, key.public_jwk_json));
  card["publicKeys"] = std::move(keys);
  card["createdAt"] = core::FormatIso8601(agent.created_at);
  card["updatedAt"] = core::FormatIso8601(agent.updated_at);
  return card;
}

core::Result<std::string> DidService::SignedCard(const Agent& agent, const AgentKey& key) const {
  auto sealed = crypto::Base64UrlDecode(key.sealed_private_key);
  if (!sealed) return core::Error::Internal("Agent key is corrupt");
  TRY_ASSIGN(std::string pem, crypto::Open(master_key_, *sealed, Aad(agent.agent_id, key.kid)));
  TRY_ASSIGN(crypto::KeyPair pair, crypto::KeyPair::FromPrivatePem(pem, key.alg));
  const std::string did = AgentDid(settings_.did_base, agent.agent_id);
  crypto::JwsSigner signer(std::move(pair), did + "#" + key.kid);
  boost::json::object claims;
  claims["iss"] = did;
  claims["sub"] = did;
  claims["iat"] = clock_.NowSeconds();
  claims["card"] = Card(agent, key);
  boost::json::object header;
  header["typ"] = "JWT";
  return signer.Sign(header, boost::json::serialize(claims));
}

}  // namespace agentidp::domain
