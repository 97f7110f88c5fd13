#include "app/config.hpp"

#include "cache/redis/redis_url.hpp"
#include "core/json.hpp"
#include "domain/tiers/tiers.hpp"
#include "http/forwarded.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <functional>
#include <sstream>

extern char** environ;

namespace agentidp::app {

namespace {

struct Key {
  const char* name;  // file key; env is AGENTIDP_<NAME>
  std::function<core::Status(Config&, const std::string& value, const std::string& where)> set;
};

core::Error Bad(const std::string& where, const std::string& what) {
  return core::Error::Validation("configuration: " + where + " " + what);
}

auto Int(int Config::*field, int64_t min, int64_t max) {
  return [=](Config& c, const std::string& v, const std::string& where) -> core::Status {
    int64_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size() || n < min || n > max)
      return Bad(where, "must be an integer from " + std::to_string(min) + " to " +
                            std::to_string(max) + " (got \"" + v + "\")");
    c.*field = static_cast<int>(n);
    return core::Ok();
  };
}

auto Str(std::string Config::*field) {
  return [=](Config& c, const std::string& v, const std::string&) -> core::Status {
    c.*field = v;
    return core::Ok();
  };
}

auto OneOf(std::string Config::*field, std::vector<std::string> allowed) {
  return [=](Config& c, const std::string& v, const std::string& where) -> core::Status {
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      return Bad(where, "must be one of " + list + " (got \"" + v + "\")");
    }
    c.*field = v;
    return core::Ok();
  };
}

auto Bool(bool Config::*field) {
  return [=](Config& c, const std::string& v, const std::string& where) -> core::Status {
    if (v == "true" || v == "1")
      c.*field = true;
    else if (v == "false" || v == "0")
      c.*field = false;
    else
      return Bad(where, "must be true or false (got \"" + v + "\")");
    return core::Ok();
  };
}

auto Url(std::string Config::*field) {
  return [=](Config& c, const std::string& v, const std::string& where) -> core::Status {
    if (!v.empty() && v.rfind("https://", 0) != 0 && v.rfind("http://", 0) != 0)
      return Bad(where, "must be an http(s) URL");
    if (!v.empty() &&
        (v.back() == '/' || v.find('?') != std::string::npos || v.find('#') != std::string::npos))
      return Bad(where, "must not end with '/' or carry a query or fragment");
    c.*field = v;
    return core::Ok();
  };
}

// An https URL, required (an issuer identifier).
auto HttpsUrl(std::string Config::*field) {
  return [=](Config& c, const std::string& v, const std::string& where) -> core::Status {
    if (v.rfind("https://", 0) != 0 || v.size() <= 8) return Bad(where, "must be an https URL");
    TRY(Url(field)(c, v, where));
    return core::Ok();
  };
}

auto RedisUrl(std::string Config::*field) {
  return [=](Config& c, const std::string& v, const std::string& where) -> core::Status {
    if (!v.empty()) {
      auto parsed = cache::redis::ParseRedisUrl(v);
      if (!parsed.ok()) return Bad(where, parsed.error().message);
    }
    c.*field = v;
    return core::Ok();
  };
}

// Keys and channels of a deployment start with it: letters, digits and ":_.-", at most 64.
auto KeyPrefix(std::string Config::*field) {
  return [=](Config& c, const std::string& v, const std::string& where) -> core::Status {
    const bool ok = v.size() <= 64 && std::all_of(v.begin(), v.end(), [](char ch) {
                      return std::isalnum(static_cast<unsigned char>(ch)) || ch == ':' ||
                             ch == '_' || ch == '.' || ch == '-';
                    });
    if (!ok) return Bad(where, "must be at most 64 letters, digits or \":_.-\"");
    c.*field = v;
    return core::Ok();
  };
}

// A setting whose value `parse` (returning a core::Result) must accept; kept as text.
template <class Parse>
auto Parsed(std::string Config::*field, Parse parse) {
  return [=](Config& c, const std::string& v, const std::string& where) -> core::Status {
    if (auto parsed = parse(v); !parsed.ok()) return Bad(where, parsed.error().message);
    c.*field = v;
    return core::Ok();
  };
}

const std::vector<Key>& Keys() {
  static const std::vector<Key> kKeys = {
      {"data_dir", Str(&Config::data_dir)},
      {"database_url", Str(&Config::database_url)},
      {"database_pool_size", Int(&Config::database_pool_size, 1, 1000)},
      {"database_acquire_timeout_ms", Int(&Config::database_acquire_timeout_ms, 0, 600'000)},
      {"database_statement_timeout_ms",
       Int(&Config::database_statement_timeout_ms, 100, 3'600'000)},
      {"database_connect_timeout_seconds", Int(&Config::database_connect_timeout_seconds, 2, 300)},
      {"redis_url", RedisUrl(&Config::redis_url)},
      {"redis_timeout_ms", Int(&Config::redis_timeout_ms, 10, 60'000)},
      {"redis_key_prefix", KeyPrefix(&Config::redis_key_prefix)},
      {"bind", Str(&Config::bind)},
      {"port", Int(&Config::port, 0, 65535)},
      {"issuer", Url(&Config::issuer)},
      {"audience", Str(&Config::audience)},
      {"signing_alg", OneOf(&Config::signing_alg, {"RS256", "ES256", "EdDSA"})},
      {"token_ttl_seconds", Int(&Config::token_ttl_seconds, 60, 86400)},
      {"key_activation_delay_seconds", Int(&Config::key_activation_delay_seconds, 0, 30 * 86400)},
      // Bounded well below the 60 s publication margin of retired keys (docs/decisions.md).
      {"key_refresh_seconds", Int(&Config::key_refresh_seconds, 1, 30)},
      {"jwt_leeway_seconds", Int(&Config::jwt_leeway_seconds, 0, 300)},
      {"rate_limit_per_minute", Int(&Config::rate_limit_per_minute, 1, 2'000'000'000)},
      {"api_rate_limit_per_minute", Int(&Config::api_rate_limit_per_minute, 1, 2'000'000'000)},
      {"tier_limits", Parsed(&Config::tier_limits, &domain::TierTable::Parse)},
      {"auth_failures_before_slowdown", Int(&Config::auth_failures_before_slowdown, 1, 1000)},
      {"audit_retention_days", Int(&Config::audit_retention_days, 1, 36500)},
      {"policy_file", Str(&Config::policy_file)},
      {"log_level", OneOf(&Config::log_level, {"trace", "debug", "info", "warn", "error", "off"})},
      {"access_log", Bool(&Config::access_log)},
      {"io_threads", Int(&Config::io_threads, 0, 256)},
      {"worker_threads", Int(&Config::worker_threads, 0, 1024)},
      {"max_queue", Int(&Config::max_queue, 1, 1'000'000)},
      {"max_connections", Int(&Config::max_connections, 1, 1'000'000)},
      {"max_body_bytes", Int(&Config::max_body_bytes, 1024, 16 * 1024 * 1024)},
      {"header_timeout_ms", Int(&Config::header_timeout_ms, 100, 600'000)},
      {"idle_timeout_ms", Int(&Config::idle_timeout_ms, 100, 3'600'000)},
      {"tls_cert", Str(&Config::tls_cert)},
      {"tls_key", Str(&Config::tls_key)},
      {"trusted_proxies", Parsed(&Config::trusted_proxies, &http::TrustedProxies::Parse)},
      {"bootstrap_admin_email", Str(&Config::bootstrap_admin_email)},
      {"client_assertion_max_lifetime_seconds",
       Int(&Config::client_assertion_max_lifetime_seconds, 10, 3600)},
      {"dpop_proof_max_age_seconds", Int(&Config::dpop_proof_max_age_seconds, 5, 600)},
      {"dpop_nonce", Bool(&Config::dpop_nonce)},
      {"replay_cache_entries", Int(&Config::replay_cache_entries, 1000, 100'000'000)},
      {"outbound_timeout_ms", Int(&Config::outbound_timeout_ms, 100, 60'000)},
      {"outbound_allow_private", Bool(&Config::outbound_allow_private)},
      {"outbound_ca_file", Str(&Config::outbound_ca_file)},
      // Workload identity federation: https issuer URLs (the outbound client is https-only).
      {"federation_github_issuer", HttpsUrl(&Config::federation_github_issuer)},
      {"federation_gitlab_issuer", HttpsUrl(&Config::federation_gitlab_issuer)},
  };
  return kKeys;
}

std::string EnvName(const std::string& key) {
  std::string out = "AGENTIDP_";
  for (char c : key) out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return out;
}

const Key* FindKey(std::string_view name) {
  for (const auto& k : Keys())
    if (name == k.name) return &k;
  return nullptr;
}

}  // namespace

std::vector<std::string> ConfigKeys() {
  std::vector<std::string> out;
  for (const auto& k : Keys()) out.emplace_back(k.name);
  return out;
}

std::string Config::EffectiveIssuer(int actual_port) const {
  if (!issuer.empty()) return issuer;
  std::string host = (bind == "0.0.0.0" || bind == "::" || bind.empty()) ? "127.0.0.1" : bind;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return std::string(tls_cert.empty() ? "http" : "https") + "://" + host + ":" +
         std::to_string(actual_port);
}

std::string Config::EffectiveAudience(int actual_port) const {
  return audience.empty() ? EffectiveIssuer(actual_port) + "/api/v1" : audience;
}

core::Result<Config> LoadConfig(const std::string& file,
                                const std::map<std::string, std::string>& env) {
  Config c;
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) return core::Error::Validation("configuration: cannot read " + file);
    std::stringstream ss;
    ss << in.rdbuf();
    auto doc = core::ParseJsonObjectStrict(ss.str());
    if (!doc.ok())
      return core::Error::Validation("configuration: " + file + ": " + doc.error().message);
    for (const auto& [k, v] : *doc) {
      const Key* key = FindKey(std::string_view(k));
      std::string where = file + ": \"" + std::string(k) + "\"";
      if (key == nullptr) {
        if (k == "master_key")
          return core::Error::Validation(
              "configuration: the master key is a secret: set "
              "AGENTIDP_MASTER_KEY in the environment, not in " +
              file);
        return core::Error::Validation("configuration: unknown key \"" + std::string(k) + "\" in " +
                                       file);
      }
      std::string value;
      if (v.is_string())
        value = std::string(v.as_string());
      else if (v.is_int64())
        value = std::to_string(v.as_int64());
      else if (v.is_bool())
        value = v.as_bool() ? "true" : "false";
      else
        return Bad(where, "must be a string, integer or boolean");
      TRY(key->set(c, value, where));
    }
  }
  // Conventional unprefixed names (SPEC §9).
  if (auto it = env.find("PORT"); it != env.end()) TRY(FindKey("port")->set(c, it->second, "PORT"));
  if (auto it = env.find("DATABASE_URL"); it != env.end()) c.database_url = it->second;
  if (auto it = env.find("REDIS_URL"); it != env.end())
    TRY(FindKey("redis_url")->set(c, it->second, "REDIS_URL"));
  for (const auto& [name, value] : env) {
    if (name.rfind("AGENTIDP_", 0) != 0) continue;
    if (name == "AGENTIDP_MASTER_KEY") {
      c.master_key = value;
      continue;
    }
    const Key* key = nullptr;
    for (const auto& k : Keys())
      if (EnvName(k.name) == name) key = &k;
    if (key == nullptr)
      return core::Error::Validation("configuration: unknown environment variable " + name +
                                     " (see docs/configuration.md)");
    TRY(key->set(c, value, name));
  }
  if (c.tls_cert.empty() != c.tls_key.empty())
    return core::Error::Validation("configuration: tls_cert and tls_key go together");
  if (c.data_dir.empty()) return core::Error::Validation("configuration: data_dir is empty");
  return c;
}

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return out;
}

}  // namespace agentidp::app
