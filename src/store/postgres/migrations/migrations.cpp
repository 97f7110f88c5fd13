#include "store/postgres/migrations/migrations.hpp"

#include <array>

namespace agentidp::store::postgres::migrations {

namespace {

// Mirrors the SQLite schema's semantics (store/sqlite/migrations). Times are epoch
// milliseconds (UTC) in BIGINT, as the domain's int64 ms. Trigger functions pin the
// search_path they were created with, so they find their tables whatever the session's is.
constexpr std::string_view kV1Initial = R"sql(
CREATE TABLE organizations (
  organization_id TEXT NOT NULL PRIMARY KEY,
  name            TEXT NOT NULL,
  slug            TEXT NOT NULL UNIQUE,
  plan_tier       TEXT NOT NULL,
  max_agents      INTEGER NOT NULL,
  status          TEXT NOT NULL,
  created_at      BIGINT NOT NULL,
  updated_at      BIGINT NOT NULL
);

-- email is unique case-insensitively (SPEC §3): a unique index on lower(email). In a
-- database with the C locale lower() folds ASCII only, as SQLite's NOCASE does.
CREATE TABLE agents (
  agent_id        TEXT NOT NULL PRIMARY KEY,
  organization_id TEXT NOT NULL REFERENCES organizations (organization_id),
  email           TEXT NOT NULL,
  agent_type      TEXT NOT NULL,
  version         TEXT NOT NULL,
  capabilities    JSONB NOT NULL CHECK (jsonb_typeof(capabilities) = 'array'),
  owner           TEXT NOT NULL,
  deployment_env  TEXT NOT NULL,
  status          TEXT NOT NULL,
  role            TEXT NOT NULL,
  is_public       BOOLEAN NOT NULL,
  created_at      BIGINT NOT NULL,
  updated_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX agents_email ON agents (lower(email));
CREATE INDEX agents_created ON agents (created_at, agent_id);
CREATE INDEX agents_organization_created ON agents (organization_id, created_at, agent_id);

CREATE TABLE credentials (
  credential_id TEXT NOT NULL PRIMARY KEY,
  agent_id      TEXT NOT NULL REFERENCES agents (agent_id),
  type          TEXT NOT NULL,
  status        TEXT NOT NULL,
  secret_hash   TEXT NOT NULL,
  created_at    BIGINT NOT NULL,
  expires_at    BIGINT,
  revoked_at    BIGINT
);
CREATE INDEX credentials_agent ON credentials (agent_id, created_at);

-- The hash-chained audit log. seq comes from an identity sequence: a position is never
-- reused, even after retention has purged every row, and cannot be chosen by the writer.
-- metadata is JSON (not JSONB): the object is kept byte for byte as the domain wrote it.
CREATE TABLE audit_events (
  seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id        TEXT NOT NULL UNIQUE,
  agent_id        TEXT NOT NULL,
  organization_id TEXT NOT NULL,
  action          TEXT NOT NULL,
  outcome         TEXT NOT NULL,
  timestamp       BIGINT NOT NULL,
  ip_address      TEXT NOT NULL,
  user_agent      TEXT NOT NULL,
  metadata        JSON NOT NULL,
  hash            TEXT NOT NULL,
  previous_hash   TEXT NOT NULL
);
CREATE INDEX audit_events_timestamp ON audit_events (timestamp);
CREATE INDEX audit_events_agent ON audit_events (agent_id, timestamp);
CREATE INDEX audit_events_action ON audit_events (action, timestamp);
CREATE INDEX audit_events_organization ON audit_events (organization_id, timestamp);

-- The chain head: seq and hash of the newest event (the anchor once everything is purged).
-- Its row lock serializes every writer of the chain, on every node; only the audit_events
-- insert trigger writes it.
CREATE TABLE audit_head (
  id   SMALLINT NOT NULL PRIMARY KEY CHECK (id = 1),
  seq  BIGINT NOT NULL,
  hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');

-- The hash the first surviving event chains to ('' until the first purge).
CREATE TABLE audit_anchor (
  id            SMALLINT NOT NULL PRIMARY KEY CHECK (id = 1),
  anchor_hash   TEXT NOT NULL,
  anchor_seq    BIGINT NOT NULL,
  purged_before BIGINT NOT NULL,
  updated_at    BIGINT NOT NULL
);
INSERT INTO audit_anchor (id, anchor_hash, anchor_seq, purged_before, updated_at)
VALUES (1, '', 0, 0, 0);

-- The retention window: set only inside PurgeBefore's transaction, with
-- set_config('agentidp.audit_purge_before', <ms>, true) (transaction-local, so no other
-- session ever sees it open and it closes by itself at COMMIT or ROLLBACK).
CREATE FUNCTION audit_purge_window() RETURNS BIGINT
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
  SELECT NULLIF(current_setting('agentidp.audit_purge_before', true), '')::BIGINT
$$;

CREATE FUNCTION audit_refuse() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'integrity_constraint_violation';
END
$$;

-- Append-only, enforced by the database itself (SPEC §3): no UPDATE or TRUNCATE ever; DELETE
-- only of rows older than an open retention window. Statement-level with a transition
-- table: one check per purge, not one per row.
CREATE FUNCTION audit_events_check_delete() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  window_end BIGINT := audit_purge_window();
BEGIN
  IF window_end IS NULL OR EXISTS (SELECT 1 FROM deleted WHERE timestamp >= window_end) THEN
    RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse('audit_events is append-only');
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse('audit_events is append-only');
CREATE TRIGGER audit_events_purge_only AFTER DELETE ON audit_events
REFERENCING OLD TABLE AS deleted
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_check_delete();

-- Every insert must extend the current head, whoever the writer is:
--  1. before the statement, take the head row's lock: concurrent writers queue here, so
--     their seq values come out in chain order (and a REPEATABLE READ writer whose snapshot
--     predates the last append fails with a serialization error instead of forking);
--  2. after the statement, check the inserted rows as one chain starting at the head (each
--     previous_hash is the hash before it, seq increasing), then move the head to its end.
CREATE FUNCTION audit_events_lock_head() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  PERFORM 1 FROM audit_head WHERE id = 1 FOR UPDATE;
  RETURN NULL;
END
$$;

CREATE FUNCTION audit_events_extend_chain() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  head_seq  BIGINT;
  head_hash TEXT;
  last_seq  BIGINT;
  last_hash TEXT;
BEGIN
  SELECT seq, hash INTO head_seq, head_hash FROM audit_head WHERE id = 1 FOR UPDATE;
  IF EXISTS (
    SELECT 1 FROM (
      SELECT seq, previous_hash,
             lag(hash, 1, head_hash) OVER (ORDER BY seq) AS expected_previous,
             lag(seq, 1, head_seq) OVER (ORDER BY seq) AS seq_before
      FROM inserted) chained
    WHERE previous_hash IS DISTINCT FROM expected_previous OR seq <= seq_before) THEN
    RAISE EXCEPTION 'audit chain must extend its head'
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  SELECT seq, hash INTO last_seq, last_hash FROM inserted ORDER BY seq DESC LIMIT 1;
  IF FOUND THEN
    UPDATE audit_head SET seq = last_seq, hash = last_hash WHERE id = 1;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER audit_events_lock_head BEFORE INSERT ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_lock_head();
CREATE TRIGGER audit_events_chained AFTER INSERT ON audit_events
REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_extend_chain();

-- The head moves only through the insert trigger above (trigger depth 2).
CREATE FUNCTION audit_head_check_update() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF pg_trigger_depth() < 2 THEN
    RAISE EXCEPTION 'audit head moves only with an append'
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER audit_head_guarded_update BEFORE UPDATE ON audit_head
FOR EACH ROW EXECUTE FUNCTION audit_head_check_update();
CREATE TRIGGER audit_head_no_delete BEFORE DELETE OR TRUNCATE ON audit_head
FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse('audit head cannot be deleted');

-- The anchor moves only with a purge (inside the retention window).
CREATE FUNCTION audit_anchor_check_update() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF audit_purge_window() IS NULL THEN
    RAISE EXCEPTION 'audit anchor moves only with a purge'
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER audit_anchor_guarded_update BEFORE UPDATE ON audit_anchor
FOR EACH ROW EXECUTE FUNCTION audit_anchor_check_update();
CREATE TRIGGER audit_anchor_no_delete BEFORE DELETE OR TRUNCATE ON audit_anchor
FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse('audit anchor cannot be deleted');

CREATE TABLE signing_keys (
  kid                TEXT NOT NULL PRIMARY KEY,
  alg                TEXT NOT NULL,
  public_jwk         TEXT NOT NULL,
  sealed_private_key TEXT NOT NULL,
  status             TEXT NOT NULL,
  created_at         BIGINT NOT NULL,
  activates_at       BIGINT NOT NULL,
  retired_at         BIGINT,
  publish_until      BIGINT
);

CREATE TABLE revoked_tokens (
  jti        TEXT NOT NULL PRIMARY KEY,
  expires_at BIGINT NOT NULL,
  revoked_at BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires_at);

CREATE TABLE meta (
  key   TEXT NOT NULL PRIMARY KEY,
  value TEXT NOT NULL
);
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
  depth              BIGINT NOT NULL,
  token_jti          TEXT NOT NULL,
  created_at         BIGINT NOT NULL,
  expires_at         BIGINT NOT NULL,
  revoked_at         BIGINT
);
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
  created_at         BIGINT NOT NULL
);
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
  created_at      BIGINT NOT NULL
);
CREATE INDEX trust_policies_issuer ON trust_policies (provider, issuer);
CREATE INDEX trust_policies_org ON trust_policies (organization_id, created_at);

CREATE TABLE federation_partners (
  partner_id            TEXT NOT NULL PRIMARY KEY,
  name                  TEXT NOT NULL,
  issuer                TEXT NOT NULL UNIQUE,
  jwks_uri              TEXT NOT NULL,
  allowed_organizations TEXT NOT NULL,
  status                TEXT NOT NULL,
  expires_at            BIGINT,
  created_at            BIGINT NOT NULL,
  updated_at            BIGINT NOT NULL
);
)sql";

// Tenant isolation enforced twice (issue 3): besides every query's organization filter,
// row-level security keyed on a transaction-local scope that the store sets with each
// statement (Connection::BindScope):
//   agentidp.organization_id  comma-separated organization ids the statement acts for
//   agentidp.system           'on' for the system scope (cross-tenant reads, audit chain)
// Fail closed: with neither set, tenant tables show no rows and accept none. FORCE makes the
// table owner subject too (the app may run as the owner); superusers and BYPASSRLS roles are
// not, so the app must not run as one (docs/operations.md).
//
// Tables and their key:
//   organizations, agents, audit_events, delegations, trust_policies  organization_id
//   credentials, agent_keys                    through agents (agent_id -> organization_id)
// Not tenant data, no policies: audit_head, audit_anchor (chain bookkeeping: one hash),
// signing_keys, revoked_tokens (jti and expiry only), meta, federation_partners
// (instance-wide, SPEC §4), schema_migrations.
//
// The system scope reads every tenant table, appends to and purges audit_events (the purge
// also needs the retention window of the triggers above), and writes nothing else: no tenant
// row is ever created or changed outside its own organization's scope.
constexpr std::string_view kV6RowLevelSecurity = R"sql(
CREATE FUNCTION agentidp_scope_organizations() RETURNS TEXT[]
LANGUAGE sql STABLE AS $$
  SELECT pg_catalog.string_to_array(
    NULLIF(pg_catalog.current_setting('agentidp.organization_id', true), ''), ',')
$$;

CREATE FUNCTION agentidp_scope_system() RETURNS BOOLEAN
LANGUAGE sql STABLE AS $$
  SELECT COALESCE(pg_catalog.current_setting('agentidp.system', true), '') = 'on'
$$;

-- Tables keyed on their own organization_id, and tables keyed through their agent (the agent
-- row itself is subject to the agents policies inside the subquery, so "the agent is
-- visible" already means "the agent belongs to the scope").
DO $$
DECLARE
  t TEXT;
  own CONSTANT TEXT := 'organization_id = ANY (agentidp_scope_organizations())';
  via_agent CONSTANT TEXT := 'EXISTS (SELECT 1 FROM agents a WHERE a.agent_id = %I.agent_id'
                             ' AND a.organization_id = ANY (agentidp_scope_organizations()))';
  rule TEXT;
BEGIN
  FOREACH t IN ARRAY ARRAY['organizations', 'agents', 'delegations', 'trust_policies',
                           'credentials', 'agent_keys'] LOOP
    rule := CASE WHEN t IN ('credentials', 'agent_keys') THEN pg_catalog.format(via_agent, t)
                 ELSE own END;
    EXECUTE pg_catalog.format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE pg_catalog.format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE pg_catalog.format('CREATE POLICY tenant ON %I USING (%s) WITH CHECK (%s)',
                              t, rule, rule);
    EXECUTE pg_catalog.format(
        'CREATE POLICY system_read ON %I FOR SELECT USING (agentidp_scope_system())', t);
  END LOOP;
END
$$;

-- Tenants read their own events; only the system scope appends (one batch holds many
-- organizations' events) and purges. UPDATE has no policy at all (and a trigger refuses it).
ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_read ON audit_events FOR SELECT
  USING (organization_id = ANY (agentidp_scope_organizations()));
CREATE POLICY system_read ON audit_events FOR SELECT USING (agentidp_scope_system());
CREATE POLICY system_append ON audit_events FOR INSERT WITH CHECK (agentidp_scope_system());
CREATE POLICY system_purge ON audit_events FOR DELETE USING (agentidp_scope_system());
)sql";

constexpr std::array<Migration, 6> kMigrations = {{
    {1, "initial schema", kV1Initial},
    {2, "credential public keys", kV2CredentialKeys},
    {3, "delegation chains", kV3Delegations},
    {4, "agent keys, organization list index", kV4AgentKeysAndOrgs},
    {5, "trust policies and federation partners", kV5Federation},
    {6, "row-level security keyed on the organization", kV6RowLevelSecurity},
}};

}  // namespace

std::span<const Migration> All() {
  return kMigrations;
}

}  // namespace agentidp::store::postgres::migrations
