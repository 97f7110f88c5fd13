#pragma once

// The one configuration struct (DESIGN §6.3): parsed once at start-up from an optional JSON
// file and then the environment (environment wins), strictly: unknown keys, unknown
// AGENTIDP_* variables and invalid values stop start-up with a clear message.
// docs/configuration.md documents every key.

#include "core/result.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace agentidp::app {

struct Config {
  std::string data_dir = "./data";
  std::string database_url;  // empty = SQLite at <data_dir>/agentidp.db
  // PostgreSQL connection pool of this node (docs/operations.md).
  int database_pool_size = 8;
  int database_acquire_timeout_ms = 5000;
  int database_statement_timeout_ms = 5000;
  int database_connect_timeout_seconds = 5;
  // Shared ephemeral state of a multi-node deployment; empty = in process (one node).
  std::string redis_url;
  int redis_timeout_ms = 500;  // connect, each command, waiting for a pooled connection
  std::string redis_key_prefix = "agentidp:";
  std::string bind = "127.0.0.1";
  int port = 3000;
  std::string issuer;    // empty = http://127.0.0.1:<port>
  std::string audience;  // empty = <issuer>/api/v1
  std::string signing_alg = "RS256";
  int token_ttl_seconds = 3600;
  int key_activation_delay_seconds = 300;
  int key_refresh_seconds = 10;
  int jwt_leeway_seconds = 30;
  int rate_limit_per_minute = 100;      // token endpoint, per client
  int api_rate_limit_per_minute = 600;  // other authenticated routes, per agent
  // Overrides of the tiers' daily limits (SPEC §8), "free.tokensPerDay=3,..." (tests, trials).
  std::string tier_limits;
  int auth_failures_before_slowdown = 5;
  int audit_retention_days = 90;
  std::string policy_file;  // empty = built-in default policy (config/policy.json)
  std::string master_key;   // env only (AGENTIDP_MASTER_KEY); empty = <data_dir>/master.key
  std::string log_level = "info";
  bool access_log = true;
  int io_threads = 0;      // 0 = number of cores
  int worker_threads = 0;  // 0 = 4 x cores (blocking store work)
  int max_queue = 4096;    // queued requests before 503 + Retry-After
  int max_connections = 10000;
  int max_body_bytes = 64 * 1024;
  int header_timeout_ms = 10000;
  int idle_timeout_ms = 60000;
  std::string tls_cert;
  std::string tls_key;
  // Load balancers / reverse proxies whose X-Forwarded-For is believed (comma-separated
  // addresses and CIDR ranges; docs/operations.md). Empty: the TCP peer is the client.
  std::string trusted_proxies;
  std::string bootstrap_admin_email = "admin@agentidp.local";
  // private_key_jwt and DPoP (docs/security.md).
  int client_assertion_max_lifetime_seconds = 300;
  int dpop_proof_max_age_seconds = 60;
  bool dpop_nonce = false;  // require server nonces in DPoP proofs (RFC 9449 §8)
  int replay_cache_entries = 1'000'000;
  // The guarded outbound client (DESIGN §5): JWKS of clients, partners and issuers.
  int outbound_timeout_ms = 5000;
  bool outbound_allow_private = false;  // tests only: reach loopback/private addresses
  std::string outbound_ca_file;         // extra trust anchors (PEM), e.g. a test CA
  // Workload identity federation (SPEC §6): issuer identifiers of providers github and gitlab
  // (tests point them at a local issuer; self-managed GitLab sets its own URL).
  std::string federation_github_issuer = "https://token.actions.githubusercontent.com";
  std::string federation_gitlab_issuer = "https://gitlab.com";

  // Effective values once the port is known.
  std::string EffectiveIssuer(int actual_port) const;
  std::string EffectiveAudience(int actual_port) const;
};

// `file` may be empty (no file). `env` is the process environment as name -> value.
core::Result<Config> LoadConfig(const std::string& file,
                                const std::map<std::string, std::string>& env);
std::map<std::string, std::string> ProcessEnvironment();

// Names of every key (docs/configuration.md lists them).
std::vector<std::string> ConfigKeys();

}  // namespace agentidp::app
