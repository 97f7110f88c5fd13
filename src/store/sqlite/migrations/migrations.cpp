#include "store/sqlite/migrations/migrations.hpp"

#include <array>

namespace agentidp::store::sqlite::migrations {

namespace {

// Times are epoch milliseconds (UTC). STRICT tables make SQLite refuse a value of the wrong
// type instead of storing it silently.
constexpr std::string_view kV1Initial = R"sql(
CREATE TABLE organizations (
  organization_id TEXT NOT NULL PRIMARY KEY,
  name            TEXT NOT NULL,
  slug            TEXT NOT NULL UNIQUE,
  plan_tier       TEXT NOT NULL,
  max_agents      INTEGER NOT NULL,
  status          TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
) STRICT;

-- email is unique case-insensitively (SPEC §3); NOCASE folds ASCII only, as the
-- PostgreSQL backend's lower() index does for the addresses SPEC allows.
CREATE TABLE agents (
  agent_id        TEXT NOT NULL PRIMARY KEY,
  organization_id TEXT NOT NULL REFERENCES organizations (organization_id),
  email           TEXT NOT NULL COLLATE NOCASE,
  agent_type      TEXT NOT NULL,
  version         TEXT NOT NULL,
  capabilities    TEXT NOT NULL,  -- JSON array of strings
  owner           TEXT NOT NULL,
  deployment_env  TEXT NOT NULL,
  status          TEXT NOT NULL,
  role            TEXT NOT NULL,
  is_public       INTEGER NOT NULL,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX agents_email ON agents (email COLLATE NOCASE);
CREATE INDEX agents_created ON agents (created_at, agent_id);
CREATE INDEX agents_organization_created ON agents (organization_id, created_at, agent_id);

CREATE TABLE credentials (
  credential_id TEXT NOT NULL PRIMARY KEY,
  agent_id      TEXT NOT NULL REFERENCES agents (agent_id),
  type          TEXT NOT NULL,
  status        TEXT NOT NULL,
  secret_hash   TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  expires_at    INTEGER,
  revoked_at    INTEGER
) STRICT;
CREATE INDEX credentials_agent ON credentials (agent_id, created_at);

-- The hash-chained audit log. seq is AUTOINCREMENT so that a position is never reused, even
-- after retention has purged every row.
CREATE TABLE audit_events (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id        TEXT NOT NULL UNIQUE,
  agent_id        TEXT NOT NULL,
  organization_id TEXT NOT NULL,
  action          TEXT NOT NULL,
  outcome         TEXT NOT NULL,
  timestamp       INTEGER NOT NULL,
  ip_address      TEXT NOT NULL,
  user_agent      TEXT NOT NULL,
  metadata        TEXT NOT NULL,  -- JSON object
  hash            TEXT NOT NULL,
  previous_hash   TEXT NOT NULL
) STRICT;
CREATE INDEX audit_events_timestamp ON audit_events (timestamp);
CREATE INDEX audit_events_agent ON audit_events (agent_id, timestamp);
CREATE INDEX audit_events_action ON audit_events (action, timestamp);
CREATE INDEX audit_events_organization ON audit_events (organization_id, timestamp);

-- Retention window. purge_before is NULL except inside PurgeBefore's own transaction, so no
-- other writer ever sees it open.
CREATE TABLE audit_control (
  id           INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
  purge_before INTEGER
) STRICT;
INSERT INTO audit_control (id, purge_before) VALUES (1, NULL);

-- The hash the first surviving event chains to ('' until the first purge).
CREATE TABLE audit_anchor (
  id            INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
  anchor_hash   TEXT NOT NULL,
  anchor_seq    INTEGER NOT NULL,
  purged_before INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
) STRICT;
INSERT INTO audit_anchor (id, anchor_hash, anchor_seq, purged_before, updated_at)
VALUES (1, '', 0, 0, 0);

-- Append-only, enforced by the database itself (SPEC §3): no UPDATE ever; DELETE only of
-- rows older than an open retention window.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
  SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN (SELECT purge_before FROM audit_control WHERE id = 1) IS NULL
  OR OLD.timestamp >= (SELECT purge_before FROM audit_control WHERE id = 1)
BEGIN
  SELECT RAISE(ABORT, 'audit_events is append-only');
END;

-- Every insert must extend the current head: a writer that did not read the head inside its
-- transaction cannot fork the chain.
CREATE TRIGGER audit_events_chained BEFORE INSERT ON audit_events
WHEN NEW.previous_hash IS NOT COALESCE(
  (SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1),
  (SELECT anchor_hash FROM audit_anchor WHERE id = 1))
BEGIN
  SELECT RAISE(ABORT, 'audit chain must extend its head');
END;

CREATE TRIGGER audit_anchor_guarded_update BEFORE UPDATE ON audit_anchor
WHEN (SELECT purge_before FROM audit_control WHERE id = 1) IS NULL
BEGIN
  SELECT RAISE(ABORT, 'audit anchor moves only with a purge');
END;

CREATE TRIGGER audit_anchor_no_delete BEFORE DELETE ON audit_anchor
BEGIN
  SELECT RAISE(ABORT, 'audit anchor cannot be deleted');
END;

CREATE TRIGGER audit_control_no_delete BEFORE DELETE ON audit_control
BEGIN
  SELECT RAISE(ABORT, 'audit control cannot be deleted');
END;

CREATE TABLE signing_keys (
  kid                TEXT NOT NULL PRIMARY KEY,
  alg                TEXT NOT NULL,
  public_jwk         TEXT NOT NULL,
  sealed_private_key TEXT NOT NULL,
  status             TEXT NOT NULL,
  created_at         INTEGER NOT NULL,
  activates_at       INTEGER NOT NULL,
  retired_at         INTEGER,
  publish_until      INTEGER
) STRICT;

CREATE TABLE revoked_tokens (
  jti        TEXT NOT NULL PRIMARY KEY,
  expires_at INTEGER NOT NULL,
  revoked_at INTEGER NOT NULL
) STRICT;
CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires_at);

CREATE TABLE meta (
  key   TEXT NOT NULL PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;
)sql";

// private_key_jwt credentials (SPEC §3): a public JWK set, inline or by URL. Empty for
// client secrets.
constexpr std::string_view kV2CredentialKeys = R"sql(
ALTER TABLE credentials ADD COLUMN jwks TEXT NOT NULL DEFAULT '';
ALTER TABLE credentials ADD COLUMN jwks_uri TEXT NOT NULL DEFAULT '';
)sql";

// A2A delegation chains (SPEC §4); revocation of a chain is also a revoked_tokens row
// "chain:<id>" so that every node's revocation cache sees it.
constexpr std::string_view kV3Delegations = R"sql(
CREATE TABLE delegations (
  chain_id           TEXT NOT NULL PRIMARY KEY,
  parent_chain_id    TEXT NOT NULL,
  organization_id    TEXT NOT NULL,
  delegator_agent_id TEXT NOT NULL,
  delegatee_agent_id TEXT NOT NULL,
  scopes             TEXT NOT NULL,
  depth              INTEGER NOT NULL,
  token_jti          TEXT NOT NULL,
  created_at         INTEGER NOT NULL,
  expires_at         INTEGER NOT NULL,
  revoked_at         INTEGER
) STRICT;
CREATE INDEX delegations_delegator ON delegations (delegator_agent_id);
)sql";

// Per-agent signing keys, the verification methods of the agents' DID documents. At most one
// active key per agent (a partial unique index), so two nodes creating an agent's first key
// at once cannot both win. Organizations: a list index for GET /organizations.
constexpr std::string_view kV4AgentKeysAndOrgs = R"sql(
CREATE TABLE agent_keys (
  kid                TEXT NOT NULL PRIMARY KEY,
  agent_id           TEXT NOT NULL REFERENCES agents (agent_id),
  alg                TEXT NOT NULL,
  public_jwk         TEXT NOT NULL,
  sealed_private_key TEXT NOT NULL,
  status             TEXT NOT NULL,
  created_at         INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX agent_keys_one_active ON agent_keys (agent_id) WHERE status = 'active';
CREATE INDEX agent_keys_agent ON agent_keys (agent_id, created_at);
CREATE INDEX organizations_created ON organizations (created_at, organization_id);
)sql";

// Workload identity federation (SPEC §6) and federation partners (SPEC §4).
constexpr std::string_view kV5Federation = R"sql(
CREATE TABLE trust_policies (
  policy_id       TEXT NOT NULL PRIMARY KEY,
  organization_id TEXT NOT NULL,
  provider        TEXT NOT NULL,
  issuer          TEXT NOT NULL,
  repository      TEXT NOT NULL,
  branch          TEXT NOT NULL,
  agent_id        TEXT NOT NULL,
  audience        TEXT NOT NULL,
  conditions      TEXT NOT NULL,
  created_by      TEXT NOT NULL,
  created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX trust_policies_issuer ON trust_policies (provider, issuer);
CREATE INDEX trust_policies_org ON trust_policies (organization_id, created_at);

CREATE TABLE federation_partners (
  partner_id            TEXT NOT NULL PRIMARY KEY,
  name                  TEXT NOT NULL,
  issuer                TEXT NOT NULL UNIQUE,
  jwks_uri              TEXT NOT NULL,
  allowed_organizations TEXT NOT NULL,
  status                TEXT NOT NULL,
  expires_at            INTEGER,
  created_at            INTEGER NOT NULL,
  updated_at            INTEGER NOT NULL
) STRICT;
)sql";

constexpr std::array<Migration, 5> kMigrations = {{
    {1, "initial schema", kV1Initial},
    {2, "credential public keys", kV2CredentialKeys},
    {3, "delegation chains", kV3Delegations},
    {4, "agent keys, organization list index", kV4AgentKeysAndOrgs},
    {5, "trust policies and federation partners", kV5Federation},
}};

}  // namespace

std::span<const Migration> All() {
  return kMigrations;
}

}  // namespace agentidp::store::sqlite::migrations
