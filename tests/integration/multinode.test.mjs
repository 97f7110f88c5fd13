// Three `agentidp serve` nodes on one PostgreSQL and one Redis (DESIGN §1): tokens, revocations,
// suspensions (of agents and of organizations), signing keys, the policy, rate limits and the
// organizations' daily counts are the deployment's, not a node's.
// The PostgreSQL and Redis servers are private to this file (lib/cluster.mjs).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeJwt, makeTempDir, sleep, startServer } from './lib/harness.mjs';
import { startCluster } from './lib/cluster.mjs';
import { startIssuer } from './lib/oidc_issuer.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const originalPolicy = readFileSync(path.join(here, '..', '..', 'config', 'policy.json'), 'utf8');
const policyFile = path.join(makeTempDir('agentidp-policy-'), 'policy.json');
const ACTIVATION_DELAY_S = 5;

let cluster;
let A, B, C;
let adminAuth;
let adminToken;
let issuer;  // a federation partner's HTTPS issuer (its own CA)

before(async () => {
  writeFileSync(policyFile, originalPolicy);
  issuer = await startIssuer(makeTempDir());
  cluster = await startCluster({
    nodes: 3,
    env: {
      AGENTIDP_SIGNING_ALG: 'ES256',
      AGENTIDP_KEY_ACTIVATION_DELAY_SECONDS: String(ACTIVATION_DELAY_S),
      // The periodic key refresh is slower than anything below waits: keys reach the nodes
      // through Redis and the scheduled switch, not through polling.
      AGENTIDP_KEY_REFRESH_SECONDS: '30',
      AGENTIDP_POLICY_FILE: policyFile,
      // The admin introspects a lot below; the token limit (100/min) stays the default.
      AGENTIDP_API_RATE_LIMIT_PER_MINUTE: '100000',
      // The partner's JWKS is on loopback, served with the test CA.
      AGENTIDP_OUTBOUND_ALLOW_PRIVATE: 'true',
      AGENTIDP_OUTBOUND_CA_FILE: issuer.caFile,
      // Free organizations' daily limits, small enough to reach (the tests above use the
      // system organization, which is never throttled).
      AGENTIDP_TIER_LIMITS: 'free.tokensPerDay=7,free.apiCallsPerDay=1000',
    },
  });
  [A, B, C] = cluster.nodes;
  adminAuth = { id: cluster.admin.client_id, secret: cluster.admin.client_secret };
  adminToken = await A.accessToken(adminAuth.id, adminAuth.secret);
});
after(async () => { await cluster?.close(); await issuer?.close(); });

async function waitFor(what, fn, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function active(node, token) {
  const r = await node.introspect(token, adminAuth);
  assert.equal(r.status, 200, r.text);
  return r.json.active === true;
}

test('every node serves on the shared store and reports Redis up', async () => {
  for (const n of cluster.nodes) {
    const h = await n.api('GET', '/health/detailed');
    assert.equal(h.status, 200, h.text);
    assert.equal(h.json.dependencies.database.backend, 'postgres');
    assert.equal(h.json.dependencies.redis.status, 'up', h.text);
    assert.equal(typeof h.json.dependencies.redis.latencyMs, 'number');
  }
  assert.equal(new Set(cluster.nodes.map((n) => n.pid)).size, 3);
});

test('a token issued by node A introspects active on B and C', async () => {
  const agent = await A.agentWithSecret(adminToken);
  const token = await A.accessToken(agent.id, agent.secret);
  for (const n of [B, C]) {
    const r = await n.introspect(token, adminAuth);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.active, true, `active on ${n.url}`);
    assert.equal(r.json.sub, agent.id);
  }
  // The agent created through A is known to C too (shared store, no stale cache).
  const got = await C.api('GET', `/api/v1/agents/${agent.id}`, { token: adminToken });
  assert.equal(got.status, 200, got.text);
});

test('revoked on C, a token is inactive on A and B within 1 s', async () => {
  const agent = await A.agentWithSecret(adminToken);
  const token = await A.accessToken(agent.id, agent.secret);
  // Both nodes have verified (and cached) the token before it is revoked.
  assert.equal(await active(A, token), true);
  assert.equal(await active(B, token), true);
  const revoked = await C.revoke(token, { id: agent.id, secret: agent.secret });
  assert.equal(revoked.status, 200, revoked.text);
  const t0 = Date.now();
  await Promise.all([A, B].map((n) => waitFor(`inactive on ${n.url}`, async () => !(await active(n, token)), 1000)));
  assert.ok(Date.now() - t0 <= 1000, `visible everywhere after ${Date.now() - t0} ms`);
  // And it stays revoked (the durable record is the store's).
  for (const n of cluster.nodes) assert.equal(await active(n, token), false);
});

test('an agent suspended on B can no longer get a token from A (nor use its tokens on C)', async () => {
  const agent = await A.agentWithSecret(adminToken);
  // A has the client cached: it authenticated it a moment ago.
  const token = await A.accessToken(agent.id, agent.secret);
  assert.equal((await A.token(agent.id, agent.secret)).status, 200);
  assert.equal(await active(C, token), true);
  const suspended = await B.api('PATCH', `/api/v1/agents/${agent.id}`, { token: adminToken, body: { status: 'suspended' } });
  assert.equal(suspended.status, 200, suspended.text);
  assert.equal(suspended.json.status, 'suspended');
  // Invalidation reaches the other nodes through Redis within the same second.
  await waitFor('A to refuse the suspended agent', async () => (await A.token(agent.id, agent.secret)).status === 401, 1000);
  // (Two more: after five failed authentications the slow-down would answer 429 instead.)
  for (let i = 0; i < 2; i++) {
    const r = await A.token(agent.id, agent.secret);
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json.error, 'invalid_client');
  }
  await waitFor('its token to be inactive on C', async () => !(await active(C, token)), 1000);
  // Reactivated on C: A issues again.
  const back = await C.api('PATCH', `/api/v1/agents/${agent.id}`, { token: adminToken, body: { status: 'active' } });
  assert.equal(back.status, 200, back.text);
  await waitFor('A to issue again', async () => (await A.token(agent.id, agent.secret)).status === 200, 3000);
});

test('an organization suspended on B stops its agents on A and C; reactivated, they work again', async () => {
  const org = await B.api('POST', '/api/v1/organizations', { token: adminToken, body: { name: 'Cluster Org', slug: `cluster-${Date.now()}` } });
  assert.equal(org.status, 201, org.text);
  const orgId = org.json.organizationId;
  const agent = await A.agentWithSecret(adminToken);
  const moved = await A.api('POST', `/api/v1/organizations/${orgId}/members`, { token: adminToken, body: { agentId: agent.id, role: 'member' } });
  assert.equal(moved.status, 201, moved.text);
  // A and C have the client (and its organization's status) cached.
  const token = await A.accessToken(agent.id, agent.secret);
  assert.equal(await active(C, token), true);
  const suspended = await B.api('PATCH', `/api/v1/organizations/${orgId}`, { token: adminToken, body: { status: 'suspended' } });
  assert.equal(suspended.status, 200, suspended.text);
  await waitFor('A to refuse the suspended organization\'s agent', async () => (await A.token(agent.id, agent.secret)).status === 401, 1000);
  await waitFor('its token to be inactive on C', async () => !(await active(C, token)), 1000);
  const back = await C.api('PATCH', `/api/v1/organizations/${orgId}`, { token: adminToken, body: { status: 'active' } });
  assert.equal(back.status, 200, back.text);
  await waitFor('A to issue again', async () => (await A.token(agent.id, agent.secret)).status === 200, 1000);
  await waitFor('its token to be active on B', async () => active(B, token), 1000);
});

test('a federation partner set inactive on B: tokens exchanged for its subjects are inactive on A and C', async () => {
  const agent = await A.agentWithSecret(adminToken);
  const p = await B.api('POST', '/api/v1/federation/trust', { token: adminToken, body: {
    name: 'Cluster partner', issuer: issuer.url('cluster'), jwksUri: `${issuer.url('cluster')}/jwks`, allowedOrganizations: [cluster.admin.organization_id] } });
  assert.equal(p.status, 201, p.text);
  const x = await A.form('/api/v1/token', { grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    subject_token: issuer.mint('cluster', { sub: 'partner-user', aud: A.issuer, scope: 'agents:read' }),
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt' }, { auth: { id: agent.id, secret: agent.secret } });
  assert.equal(x.status, 200, x.text);
  const token = x.json.access_token;
  // A and C have the partner's trust cached.
  assert.equal(await active(A, token), true);
  assert.equal(await active(C, token), true);
  const off = await B.api('PATCH', `/api/v1/federation/partners/${p.json.id}`, { token: adminToken, body: { status: 'inactive' } });
  assert.equal(off.status, 200, off.text);
  await waitFor('the token to be inactive on A', async () => !(await active(A, token)), 1000);
  await waitFor('the token to be inactive on C', async () => !(await active(C, token)), 1000);
  const on = await C.api('PATCH', `/api/v1/federation/partners/${p.json.id}`, { token: adminToken, body: { status: 'active' } });
  assert.equal(on.status, 200, on.text);
  await waitFor('the token to be active again on A', async () => active(A, token), 1000);
});

test('a credential rotated on C stops working on A and B at once', async () => {
  const agent = await A.agentWithSecret(adminToken);
  assert.equal((await A.token(agent.id, agent.secret)).status, 200);
  assert.equal((await B.token(agent.id, agent.secret)).status, 200);
  const rotated = await C.api('POST', `/api/v1/agents/${agent.id}/credentials/${agent.credential.credentialId}/rotate`,
    { token: adminToken });
  assert.equal(rotated.status, 200, rotated.text);
  for (const n of [A, B]) {
    await waitFor(`the old secret to be refused on ${n.url}`, async () => (await n.token(agent.id, agent.secret)).status === 401, 1000);
    assert.equal((await n.token(agent.id, rotated.json.clientSecret)).status, 200);
  }
});

test('rate limits are shared: the 101st token request in a minute, across nodes, gets 429', async () => {
  const agent = await A.agentWithSecret(adminToken);
  // Stay inside one window: if this one ends soon, start in the next.
  const probe = Date.now() / 1000;
  const windowEnd = Math.floor(probe / 60) * 60 + 60;
  if (windowEnd - probe < 25) await sleep((windowEnd - probe + 0.5) * 1000);
  const nodes = cluster.nodes;
  let reset;
  for (let i = 0; i < 100; i++) {
    const n = nodes[i % 3];
    const r = await n.token(agent.id, agent.secret);
    assert.equal(r.status, 200, `request ${i + 1} on node ${i % 3}: ${r.text}`);
    assert.equal(r.headers.get('x-ratelimit-limit'), '100');
    assert.equal(r.headers.get('x-ratelimit-remaining'), String(99 - i), 'one count across the nodes');
    reset ??= r.headers.get('x-ratelimit-reset');
    assert.equal(r.headers.get('x-ratelimit-reset'), reset, 'one window across the nodes');
  }
  for (const n of nodes) {
    const r = await n.token(agent.id, agent.secret);
    assert.equal(r.status, 429, r.text);
    assert.equal(r.json.error, 'rate_limit_exceeded');
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
    assert.equal(r.headers.get('x-ratelimit-remaining'), '0');
  }
});

test("an organization's daily token count is shared: its 8th token of the day, on any node, gets 429", async () => {
  const org = await A.api('POST', '/api/v1/organizations', {
    token: adminToken, body: { name: 'Daily Limit', slug: `daily-${Date.now().toString(36)}` },
  });
  assert.equal(org.status, 201, org.text);
  const orgId = org.json.organizationId;
  // Two clients of the organization, so the per-client window is not what refuses.
  const one = await B.agentWithSecret(adminToken, { organizationId: orgId });
  const two = await C.agentWithSecret(adminToken, { organizationId: orgId });
  const nodes = cluster.nodes;
  const tokens = [];
  for (let i = 0; i < 7; i++) {
    const client = i % 2 === 0 ? one : two;
    const r = await nodes[i % 3].token(client.id, client.secret);
    assert.equal(r.status, 200, `token ${i + 1} on node ${i % 3}: ${r.text}`);
    tokens.push(r.json.access_token);
  }
  for (const [n, client] of [[A, two], [B, one], [C, two]]) {
    const r = await n.token(client.id, client.secret);
    assert.equal(r.status, 429, r.text);
    assert.equal(r.json.error, 'rate_limit_exceeded');
    const retry = Number(r.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= 86400, `Retry-After ${retry}`);
  }
  for (const n of nodes) {
    const s = await n.api('GET', '/api/v1/tiers/status', { token: tokens[0] });
    assert.equal(s.status, 200, s.text);
    assert.equal(s.json.usage.tokensToday, 7, 'one count for the deployment');
    assert.equal(s.json.limits.tokensPerDay, 7);
  }
  // An upgrade on one node lifts the limit on the others within 1 s (the organization
  // message on the bus), not only when their 30 s tier cache runs out.
  const up = await A.api('PATCH', `/api/v1/organizations/${orgId}`, { token: adminToken, body: { planTier: 'pro' } });
  assert.equal(up.status, 200, up.text);
  for (const [n, client] of [[B, one], [C, two]]) {
    const started = Date.now();
    let r;
    do {
      r = await n.token(client.id, client.secret);
      if (r.status === 200) break;
      await sleep(50);
    } while (Date.now() - started < 1000);
    assert.equal(r.status, 200, `after the upgrade: ${r.text}`);
  }
});

test("an unlimited organization's API calls are counted ahead by each node and reach every node's usage within about a second", async () => {
  // API calls are limited at 100,000/min here: an enterprise organization's calls are leased
  // (docs/decisions.md "Shared rate limits: exact near the limit, leased far from it").
  const org = await A.api('POST', '/api/v1/organizations', {
    token: adminToken, body: { name: 'Unlimited Usage', slug: `unlimited-${Date.now().toString(36)}` },
  });
  assert.equal(org.status, 201, org.text);
  const orgId = org.json.organizationId;
  const up = await A.api('PATCH', `/api/v1/organizations/${orgId}`, { token: adminToken, body: { planTier: 'enterprise' } });
  assert.equal(up.status, 200, up.text);
  const agent = await A.agentWithSecret(adminToken, { organizationId: orgId });
  const token = await A.accessToken(agent.id, agent.secret);
  // The administrator looks (its calls count for the system organization).
  const usage = async (n) => {
    const r = await n.api('GET', `/api/v1/tiers/status?organizationId=${orgId}`, { token: adminToken });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.tier, 'enterprise');
    return r.json.usage.apiCallsToday;
  };
  let calls = 0;
  for (let i = 0; i < 30; i++) {
    const r = await [A, B][i % 2].api('GET', '/api/v1/tiers/status', { token });
    assert.equal(r.status, 200, r.text);
    assert.ok(Number(r.headers.get('x-ratelimit-remaining')) >= 0);
    calls++;
  }
  for (const n of cluster.nodes)
    await waitFor(`${calls} calls on ${n.url}`, async () => (await usage(n)) === calls, 3000);

  // A node stopped gracefully sends what it counted ahead on its way out.
  const extra = await startServer({ env: cluster.env, admin: cluster.admin });
  try {
    for (let i = 0; i < 5; i++) {
      const r = await extra.api('GET', '/api/v1/tiers/status', { token });
      assert.equal(r.status, 200, r.text);
      calls++;
    }
    assert.equal(await usage(extra), calls, "a node's own count is Redis's plus what it has not sent");
    await extra.stop();
  } finally {
    await extra.close();
  }
  assert.equal(await usage(C), calls, 'nothing lost by the graceful stop');
});

test('a key rotated with the CLI is in every JWKS at once and signs on every node after the staging delay', async () => {
  const jwks = async (n) => (await n.api('GET', '/.well-known/jwks.json')).json;
  const signer = await A.agentWithSecret(adminToken);
  const sign = (n) => n.accessToken(signer.id, signer.secret);
  const before = (await jwks(A)).keys.map((k) => k.kid);
  const oldKid = decodeJwt(await sign(A)).header.kid;
  const rotated = await cluster.cli(['keys', 'rotate']);
  assert.equal(rotated.code, 0, rotated.stderr);
  const m = /staged key (\S+); published now, signs from (\S+)/.exec(rotated.stdout);
  assert.ok(m, rotated.stdout);
  const [, kid, signsFrom] = m;
  assert.match(rotated.stdout, /announced to running servers through Redis/);
  assert.ok(!before.includes(kid));
  // Published everywhere well before the 30 s periodic refresh: the announcement did it.
  for (const n of cluster.nodes) {
    await waitFor(`the new key in the JWKS of ${n.url}`, async () => (await jwks(n)).keys.some((k) => k.kid === kid), 3000);
  }
  const sets = await Promise.all(cluster.nodes.map(async (n) => JSON.stringify((await jwks(n)).keys.map((k) => k.kid).sort())));
  assert.equal(new Set(sets).size, 1, `identical JWKS on every node: ${sets.join(' | ')}`);
  const activation = Date.parse(signsFrom);
  // Still the old key while the new one is staged.
  if (Date.now() < activation - 1000) {
    for (const n of cluster.nodes) {
      assert.equal(decodeJwt(await sign(n)).header.kid, oldKid);
    }
  }
  await sleep(Math.max(0, activation - Date.now()));
  const tokens = [];
  for (const n of cluster.nodes) {
    // Each node switches at the activation time (scheduled), not at its next 30 s refresh.
    const t = await waitFor(`${n.url} to sign with the new key`, async () => {
      const tok = await sign(n);
      if (decodeJwt(tok).header.kid === kid) return tok;
      await sleep(80);
      return null;
    }, 3000);
    tokens.push(t);
  }
  // Every node accepts what every other node signs, and still the old key's tokens.
  for (const t of tokens) for (const n of cluster.nodes) assert.equal(await active(n, t), true);
  assert.ok((await jwks(B)).keys.some((k) => k.kid === oldKid), 'the retired key stays published');
});

test('a policy reloaded (SIGHUP) on A is reloaded by B and C', async () => {
  const member = await A.agentWithSecret(adminToken);
  const memberToken = await A.accessToken(member.id, member.secret);
  const list = async (n) => (await n.api('GET', '/api/v1/agents', { token: memberToken })).status;
  for (const n of cluster.nodes) assert.equal(await list(n), 200);
  const policy = JSON.parse(originalPolicy);
  policy.routes['agents.list'] = ['admin:orgs'];
  writeFileSync(policyFile, JSON.stringify(policy, null, 2));
  try {
    process.kill(A.pid, 'SIGHUP');
    for (const n of cluster.nodes) await waitFor(`${n.url} to apply the new policy`, async () => (await list(n)) === 403, 3000);
    assert.match(B.stderr(), /policy reloaded \(another node reloaded\)/);
  } finally {
    writeFileSync(policyFile, originalPolicy);
    process.kill(A.pid, 'SIGHUP');
  }
  for (const n of cluster.nodes) await waitFor(`${n.url} to restore the policy`, async () => (await list(n)) === 200, 3000);
});

test('the audit chain written by three nodes verifies', async () => {
  const r = await B.api('GET', '/api/v1/audit/verify', { token: adminToken });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.verified, true, r.text);
  assert.ok(r.json.checkedCount > 100);
});

test('the nodes run as a role that row-level security applies to, and it does', async () => {
  // Not a superuser, not BYPASSRLS, and every node's sessions use it.
  assert.equal(cluster.pg.psql("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = 'agentidp_app'").trim(), 'f');
  const roles = cluster.pg.psql("SELECT DISTINCT usename FROM pg_stat_activity WHERE application_name = 'agentidp'").trim();
  assert.equal(roles, 'agentidp_app');
  // Every tenant table is policed, also for its owner (FORCE).
  const unpoliced = cluster.pg.psql(`SELECT relname FROM pg_class WHERE relname IN ('organizations', 'agents',
    'credentials', 'agent_keys', 'delegations', 'trust_policies', 'audit_events')
    AND relkind = 'r' AND NOT (relrowsecurity AND relforcerowsecurity)`).trim();
  assert.equal(unpoliced, '');
  // The rows the nodes wrote are there, but a session of the same role without a tenant scope
  // sees none of them.
  assert.ok(Number(cluster.pg.psql('SELECT count(*) FROM agents').trim()) > 0);
  const last = (out) => out.trim().split('\n').pop();  // psql prints every statement's result
  assert.equal(last(cluster.pg.psql('SET ROLE agentidp_app; SELECT count(*) FROM agents')), '0');
  assert.equal(last(cluster.pg.psql("SET ROLE agentidp_app; SELECT set_config('agentidp.system', 'on', false); SELECT count(*) > 0 FROM agents")), 't');
});
