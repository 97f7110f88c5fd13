// Agents acting for agents: RFC 8693 token exchange at the token endpoint and the A2A
// delegation endpoints (SPEC §4, §5). Only narrowing: scopes, audience and lifetime;
// nested act claims with a depth cap; cross-client exchange only when the policy says so;
// revoking a chain makes everything derived from it inactive.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, makeTempDir } from './lib/harness.mjs';
import { claimsOf } from './lib/jwt.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';

function assertOAuthError(r, status, error) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json?.error, error, r.text);
}

function exchange(srv, who, params) {
  return srv.form('/api/v1/token', { grant_type: EXCHANGE, ...params }, { auth: { id: who.id, secret: who.secret } });
}

// A policy that lets organization admins exchange other clients' tokens.
function policyWithCrossClientAdmins() {
  const doc = JSON.parse(readFileSync(path.join(here, '../../config/policy.json'), 'utf8'));
  doc.crossClientExchangeRoles = ['admin'];
  const file = path.join(makeTempDir(), 'policy.json');
  writeFileSync(file, JSON.stringify(doc));
  return file;
}

describe('token exchange (RFC 8693)', () => {
  let srv, admin, a, b, boss;
  before(async () => {
    srv = await startServer({ env: { AGENTIDP_POLICY_FILE: policyWithCrossClientAdmins() } });
    admin = await srv.adminToken(srv);
    a = await srv.agentWithSecret(admin);
    b = await srv.agentWithSecret(admin);
    boss = await srv.agentWithSecret(admin, { role: 'admin' });
  });
  after(async () => { await srv?.close(); });

  test('a client narrows its own token; the answer names the issued token type', async () => {
    const subject = await srv.accessToken(a.id, a.secret, { scope: 'agents:read tokens:read' });
    const r = await exchange(srv, a, { subject_token: subject, subject_token_type: AT, scope: 'agents:read' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.issued_token_type, AT);
    assert.equal(r.json.token_type, 'Bearer');
    assert.equal(r.json.scope, 'agents:read');
    assert.equal(r.headers.get('cache-control'), 'no-store');
    const c = claimsOf(r.json.access_token);
    assert.equal(c.sub, a.id);
    assert.equal(c.client_id, a.id);
    assert.equal(c.act, undefined, 'no actor when a client narrows its own token');
    assert.ok(c.exp <= claimsOf(subject).exp);
  });

  test('never widens: scope, audience; bad parameters are invalid_request', async () => {
    const subject = await srv.accessToken(a.id, a.secret, { scope: 'agents:read' });
    assertOAuthError(await exchange(srv, a, { subject_token: subject, subject_token_type: AT, scope: 'agents:read tokens:read' }), 400, 'invalid_scope');
    assertOAuthError(await exchange(srv, a, { subject_token: subject, subject_token_type: AT, audience: 'https://elsewhere.example' }), 400, 'invalid_target');
    assertOAuthError(await exchange(srv, a, { subject_token: subject, subject_token_type: AT, resource: 'https://elsewhere.example/api' }), 400, 'invalid_target');
    const sameAud = await exchange(srv, a, { subject_token: subject, subject_token_type: AT, audience: `${srv.issuer}/api/v1` });
    assert.equal(sameAud.status, 200, sameAud.text);
    for (const params of [
      { subject_token_type: AT },
      { subject_token: '', subject_token_type: AT },
      { subject_token: subject },
      { subject_token: subject, subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' },
      { subject_token: subject, subject_token_type: AT, requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' },
      { subject_token: subject, subject_token_type: AT, actor_token: subject },
      { subject_token: 'not-a-token', subject_token_type: AT },
    ]) {
      assertOAuthError(await exchange(srv, a, params), 400, 'invalid_request');
    }
    const repeated = await srv.form('/api/v1/token', [['grant_type', EXCHANGE], ['subject_token', subject], ['subject_token', subject], ['subject_token_type', AT]],
      { auth: { id: a.id, secret: a.secret } });
    assertOAuthError(repeated, 400, 'invalid_request');
  });

  test('revoked subject tokens cannot be exchanged', async () => {
    const subject = await srv.accessToken(a.id, a.secret, { scope: 'agents:read' });
    assert.equal((await srv.revoke(subject, { id: a.id, secret: a.secret })).status, 200);
    assertOAuthError(await exchange(srv, a, { subject_token: subject, subject_token_type: AT }), 400, 'invalid_request');
  });

  test("another client's token: refused for members, allowed for admins by this policy, with act", async () => {
    const subject = await srv.accessToken(a.id, a.secret, { scope: 'agents:read tokens:read' });
    assertOAuthError(await exchange(srv, b, { subject_token: subject, subject_token_type: AT }), 400, 'invalid_request');
    const actorToken = await srv.accessToken(boss.id, boss.secret, { scope: 'agents:read' });
    const r = await exchange(srv, boss, { subject_token: subject, subject_token_type: AT, actor_token: actorToken, actor_token_type: AT, scope: 'agents:read' });
    assert.equal(r.status, 200, r.text);
    const c = claimsOf(r.json.access_token);
    assert.equal(c.sub, a.id);
    assert.equal(c.client_id, boss.id);
    assert.deepEqual(c.act, { sub: boss.id });
    const i = await srv.introspect(r.json.access_token, { id: a.id, secret: a.secret });
    assert.equal(i.json.active, true);
    assert.deepEqual(i.json.act, { sub: boss.id });
    const audit = await srv.api('GET', `/api/v1/audit?action=token.exchanged&agentId=${boss.id}&limit=1`, { token: admin });
    assert.equal(audit.status, 200, audit.text);
    const meta = audit.json.data[0].metadata;
    assert.equal(meta.subjectAgentId, a.id);
    assert.equal(meta.actorAgentId, boss.id);
    assert.deepEqual(meta.act, { sub: boss.id });
    assert.equal(meta.jti, c.jti);
    // An actor_token that is not the caller's is refused.
    const wrongActor = await exchange(srv, boss, { subject_token: subject, subject_token_type: AT, actor_token: subject, actor_token_type: AT });
    assertOAuthError(wrongActor, 400, 'invalid_request');
  });

  test('discovery lists the grant', async () => {
    const d = (await srv.api('GET', '/.well-known/openid-configuration')).json;
    assert.ok(d.grant_types_supported.includes(EXCHANGE));
  });
});

describe('A2A delegation', () => {
  let srv, admin, a, b, c, idle;
  const tok = async (who, scope = 'agents:read tokens:read') => srv.accessToken(who.id, who.secret, { scope });
  const delegate = (token, body) => srv.api('POST', '/api/v1/oauth2/token/delegate', { token, body });
  const verify = (token, delegationToken) => srv.api('POST', '/api/v1/oauth2/token/verify-delegation', { token, body: { delegationToken } });

  before(async () => {
    srv = await startServer();
    admin = await srv.adminToken(srv);
    [a, b, c] = [await srv.agentWithSecret(admin), await srv.agentWithSecret(admin), await srv.agentWithSecret(admin)];
    idle = await srv.agentWithSecret(admin);
    assert.equal((await srv.api('PATCH', `/api/v1/agents/${idle.id}`, { token: admin, body: { status: 'suspended' } })).status, 200);
  });
  after(async () => { await srv?.close(); });

  test('delegation token: sub = delegator, act = delegatee, narrowed, usable by the delegatee', async () => {
    const r = await delegate(await tok(a), { delegateeAgentId: b.id, scopes: ['agents:read'], ttlSeconds: 300 });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.equal(r.json.delegatorAgentId, a.id);
    assert.equal(r.json.delegateeAgentId, b.id);
    assert.deepEqual(r.json.scopes, ['agents:read']);
    assert.equal(r.json.depth, 1);
    const claims = claimsOf(r.json.delegationToken);
    assert.equal(claims.sub, a.id);
    assert.equal(claims.client_id, b.id);
    assert.deepEqual(claims.act, { sub: b.id });
    assert.deepEqual(claims.delegation_chain, [r.json.chainId]);
    assert.ok(claims.exp - claims.iat <= 300);
    const use = await srv.api('GET', '/api/v1/agents?limit=1', { token: r.json.delegationToken });
    assert.equal(use.status, 200, use.text);
    const write = await srv.api('POST', '/api/v1/agents', { token: r.json.delegationToken, body: {} });
    assert.equal(write.status, 403, 'only the delegated scopes');
    const v = await verify(await tok(c), r.json.delegationToken);
    assert.equal(v.status, 200, v.text);
    assert.equal(v.json.valid, true);
    assert.equal(v.json.chainId, r.json.chainId);
    assert.deepEqual(v.json.act, { sub: b.id });
  });

  test('both field spellings', async () => {
    const expires = new Date(Date.now() + 120_000).toISOString();
    const r = await delegate(await tok(a), { delegatee_id: b.id, scope: 'agents:read', expires_at: expires });
    assert.equal(r.status, 201, r.text);
    const life = claimsOf(r.json.delegationToken).exp - Math.floor(Date.now() / 1000);
    assert.ok(life <= 121 && life >= 100, `lifetime ${life}`);
    const mixed = await delegate(await tok(a), { delegateeAgentId: b.id, delegatee_id: b.id, scopes: ['agents:read'], ttlSeconds: 60 });
    assert.equal(mixed.status, 400);
  });

  test('refusals: TTL, scopes, self, unknown, inactive', async () => {
    const t = await tok(a, 'agents:read');
    const cases = [
      [{ delegateeAgentId: b.id, scopes: ['agents:read'], ttlSeconds: 59 }, 400, 'INVALID_TTL'],
      [{ delegateeAgentId: b.id, scopes: ['agents:read'], ttlSeconds: 86401 }, 400, 'INVALID_TTL'],
      [{ delegateeAgentId: b.id, scopes: ['tokens:read'], ttlSeconds: 60 }, 400, 'INVALID_SCOPES'],
      [{ delegateeAgentId: b.id, scopes: ['agents:write'], ttlSeconds: 60 }, 400, 'INVALID_SCOPES'],
      [{ delegateeAgentId: b.id, scopes: [], ttlSeconds: 60 }, 400, 'INVALID_SCOPES'],
      [{ delegateeAgentId: a.id, scopes: ['agents:read'], ttlSeconds: 60 }, 422, 'SELF_DELEGATION'],
      [{ delegateeAgentId: '00000000-0000-4000-8000-000000000000', scopes: ['agents:read'], ttlSeconds: 60 }, 404, 'AGENT_NOT_FOUND'],
      [{ delegateeAgentId: idle.id, scopes: ['agents:read'], ttlSeconds: 60 }, 409, 'AGENT_NOT_ACTIVE'],
      [{ scopes: ['agents:read'], ttlSeconds: 60 }, 400, 'VALIDATION_ERROR'],
    ];
    for (const [body, status, code] of cases) {
      const r = await delegate(t, body);
      assert.equal(r.status, status, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.json.code, code, r.text);
    }
  });

  test('a chain cannot be handed back to the agent it originates from', async () => {
    const first = await delegate(await tok(a, 'agents:read'), { delegateeAgentId: b.id, scopes: ['agents:read'], ttlSeconds: 120 });
    assert.equal(first.status, 201, first.text);
    const back = await delegate(first.json.delegationToken, { delegateeAgentId: a.id, scopes: ['agents:read'], ttlSeconds: 60 });
    assert.equal(back.status, 422, back.text);
    assert.equal(back.json.code, 'SELF_DELEGATION', back.text);
    // Onward to a third agent is still fine.
    const onward = await delegate(first.json.delegationToken, { delegateeAgentId: c.id, scopes: ['agents:read'], ttlSeconds: 60 });
    assert.equal(onward.status, 201, onward.text);
  });

  test('chains nest act, are capped at depth 5, and revocation cuts everything derived', async () => {
    const agents = [a, b, c];
    for (let i = 0; i < 4; i++) agents.push(await srv.agentWithSecret(admin));
    // a -> b -> c -> d -> e -> f: depth 5; f -> g would be 6.
    let token = await tok(a, 'agents:read');
    const chain = [];
    for (let i = 1; i <= 5; i++) {
      const r = await delegate(token, { delegateeAgentId: agents[i].id, scopes: ['agents:read'], ttlSeconds: 600 });
      assert.equal(r.status, 201, `hop ${i}: ${r.text}`);
      assert.equal(r.json.depth, i);
      assert.equal(r.json.delegatorAgentId, agents[i - 1].id, 'the holder of the presented token delegates');
      chain.push(r.json);
      token = r.json.delegationToken;
    }
    let act = claimsOf(token).act;
    for (let i = 5; i >= 1; i--) { assert.equal(act.sub, agents[i].id); act = act.act; }
    assert.equal(act, undefined);
    const tooDeep = await delegate(token, { delegateeAgentId: agents[6].id, scopes: ['agents:read'], ttlSeconds: 600 });
    assert.equal(tooDeep.status, 422, tooDeep.text);

    // An exchange of a delegation token by its holder inherits the chain.
    const holder = agents[2];
    const exchanged = await exchange(srv, holder, { subject_token: chain[1].delegationToken, subject_token_type: AT });
    assert.equal(exchanged.status, 200, exchanged.text);
    assert.deepEqual(claimsOf(exchanged.json.access_token).delegation_chain, [chain[0].chainId, chain[1].chainId]);

    // Only the delegator revokes; idempotent.
    const notMine = await srv.api('DELETE', `/api/v1/oauth2/token/delegate/${chain[1].chainId}`, { token: await tok(agents[3], 'agents:read') });
    assert.equal(notMine.status, 403, notMine.text);
    const del = await srv.api('DELETE', `/api/v1/oauth2/token/delegate/${chain[1].chainId}`, { token: chain[0].delegationToken });
    assert.equal(del.status, 204, del.text);
    const again = await srv.api('DELETE', `/api/v1/oauth2/token/delegate/${chain[1].chainId}`, { token: chain[0].delegationToken });
    assert.equal(again.status, 204);
    // Everything from hop 2 down is dead; hop 1 lives.
    const checker = await tok(c);
    for (const [i, d] of chain.entries()) {
      const v = await verify(checker, d.delegationToken);
      assert.equal(v.json.valid, i === 0, `hop ${i + 1}: ${v.text}`);
      if (i > 0) assert.equal(v.json.reason, 'revoked');
    }
    const intro = await srv.introspect(exchanged.json.access_token, { id: a.id, secret: a.secret });
    assert.deepEqual(intro.json, { active: false });
    const use = await srv.api('GET', '/api/v1/agents?limit=1', { token: chain[4].delegationToken });
    assert.equal(use.status, 401);
    const unknown = await srv.api('DELETE', '/api/v1/oauth2/token/delegate/00000000-0000-4000-8000-000000000000', { token: checker });
    assert.equal(unknown.status, 404);
  });

  test('verify never errors for dead or foreign tokens', async () => {
    const t = await tok(c);
    for (const bad of ['garbage', 'a.b.c', await tok(a)]) {
      const v = await verify(t, bad);
      assert.equal(v.status, 200, v.text);
      assert.equal(v.json.valid, false);
      assert.ok(['invalid_token', 'not_a_delegation'].includes(v.json.reason), v.text);
    }
    assert.equal((await srv.api('POST', '/api/v1/oauth2/token/verify-delegation', { token: t, body: {} })).status, 400);
  });

  test('a suspended delegatee makes its delegation token inactive', async () => {
    const d = await srv.agentWithSecret(admin);
    const r = await delegate(await tok(a), { delegateeAgentId: d.id, scopes: ['agents:read'], ttlSeconds: 300 });
    assert.equal(r.status, 201, r.text);
    assert.equal((await srv.api('PATCH', `/api/v1/agents/${d.id}`, { token: admin, body: { status: 'suspended' } })).status, 200);
    const v = await verify(await tok(c), r.json.delegationToken);
    assert.equal(v.json.valid, false);
  });

  test('delegation and exchange stay inside one organization', async () => {
    const org = await srv.api('POST', '/api/v1/organizations', { token: admin, body: { name: 'Other org', slug: `other-${Date.now()}` } });
    assert.equal(org.status, 201, org.text);
    const orgId = org.json.organizationId ?? org.json.id;
    const outsider = await srv.agentWithSecret(admin);
    const moved = await srv.api('POST', `/api/v1/organizations/${orgId}/members`, { token: admin, body: { agentId: outsider.id, role: 'member' } });
    assert.ok(moved.status === 200 || moved.status === 201, moved.text);
    // A member of the first organization cannot see the outsider at all.
    const hidden = await delegate(await tok(a, 'agents:read'), { delegateeAgentId: outsider.id, scopes: ['agents:read'], ttlSeconds: 60 });
    assert.equal(hidden.status, 404, hidden.text);
    // A cross-tenant admin sees it, and is still refused.
    const cross = await delegate(admin, { delegateeAgentId: outsider.id, scopes: ['agents:read'], ttlSeconds: 60 });
    assert.equal(cross.status, 403, cross.text);
    assert.equal(cross.json.reason, 'cross_organization');
    // The outsider cannot exchange a token of the first organization, even one naming it.
    const foreign = await exchange(srv, outsider, { subject_token: await tok(a, 'agents:read'), subject_token_type: AT });
    assertOAuthError(foreign, 400, 'invalid_request');
  });

  test('metrics count delegations', async () => {
    const m = (await srv.api('GET', '/metrics')).text;
    for (const name of ['agentidp_delegations_created_total', 'agentidp_delegations_verified_total', 'agentidp_delegations_revoked_total', 'agentidp_tokens_exchanged_total']) {
      const line = m.split('\n').find((l) => l.startsWith(name));
      assert.ok(line, `${name} missing`);
      assert.ok(Number(line.split(' ').pop()) >= 1, line);
    }
  });
});
