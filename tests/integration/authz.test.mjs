// Authentication and authorization of the API: bearer required, scopes enforced with a
// reason, scopes a role does not allow are refused at the token endpoint, rate-limit
// headers on authenticated responses, X-Request-Id.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, decodeJwt, sleep } from './lib/harness.mjs';

let srv;
let admin;
let member; // {id, secret, token}
before(async () => {
  srv = await startServer();
  admin = await srv.adminToken(srv);
  const m = await srv.agentWithSecret(admin);
  member = { ...m, token: await srv.accessToken(m.id, m.secret) };
});
after(async () => { await srv?.close(); });

describe('bearer authentication', () => {
  test('no token: 401 UNAUTHORIZED with WWW-Authenticate', async () => {
    for (const [method, path] of [['GET', '/api/v1/agents'], ['POST', '/api/v1/agents'], ['GET', '/api/v1/audit'], ['GET', '/agent-info']]) {
      const r = await srv.api(method, path, method === 'POST' ? { body: {} } : {});
      assert.equal(r.status, 401, `${method} ${path}: ${r.text}`);
      assert.equal(r.json.code, 'UNAUTHORIZED');
      assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/);
    }
  });

  test('malformed Authorization headers: 401', async () => {
    for (const authz of ['Bearer', 'Bearer ', 'Token abc', `Basic ${Buffer.from('a:b').toString('base64')}`, 'Bearer not.a.jwt', `Bearer ${member.token}x`]) {
      const r = await srv.api('GET', '/api/v1/agents', { headers: { authorization: authz } });
      assert.equal(r.status, 401, `${authz.slice(0, 30)}: ${r.text}`);
      assert.ok(r.headers.get('www-authenticate'));
    }
  });

  test('the member token is accepted where its scopes suffice', async () => {
    assert.equal(decodeJwt(member.token).payload.scope, 'agents:read tokens:read webhooks:read');
    const r = await srv.api('GET', '/api/v1/agents', { token: member.token });
    assert.equal(r.status, 200, r.text);
    const one = await srv.api('GET', `/api/v1/agents/${member.id}`, { token: member.token });
    assert.equal(one.status, 200, one.text);
    const info = await srv.api('GET', '/agent-info', { token: member.token });
    assert.equal(info.status, 200, info.text);
    assert.equal(info.json.sub, member.id);
  });
});

describe('scopes', () => {
  test('member token on POST /agents: 403 FORBIDDEN with reason', async () => {
    const r = await srv.api('POST', '/api/v1/agents', {
      token: member.token,
      body: { email: 'x@example.com', agentType: 'custom', version: '1.0.0', capabilities: ['a:b'], owner: 'o', deploymentEnv: 'development' },
    });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.json.code, 'FORBIDDEN');
    assert.equal(r.json.reason, 'insufficient_scope');
    assert.equal(typeof r.json.message, 'string');
    assert.deepEqual(r.json.details?.requiredScopes, ['agents:write']);
  });

  test('member token: writes, credentials and audit are all 403', async () => {
    const cases = [
      ['PATCH', `/api/v1/agents/${member.id}`, { owner: 'me' }],
      ['DELETE', `/api/v1/agents/${member.id}`],
      ['POST', `/api/v1/agents/${member.id}/credentials`, {}],
      ['GET', `/api/v1/agents/${member.id}/credentials`],
      ['GET', '/api/v1/audit'],
      ['GET', '/api/v1/audit/verify'],
      ['GET', '/api/v1/audit/00000000-0000-4000-8000-000000000000'],
    ];
    for (const [method, path, body] of cases) {
      const r = await srv.api(method, path, { token: member.token, body });
      assert.equal(r.status, 403, `${method} ${path}: ${r.text}`);
      assert.equal(r.json.code, 'FORBIDDEN');
      assert.equal(r.json.reason, 'insufficient_scope');
    }
    // The member is still active and untouched.
    const me = await srv.api('GET', `/api/v1/agents/${member.id}`, { token: admin });
    assert.equal(me.json.status, 'active');
    assert.equal(me.json.owner, 'integration-tests');
  });

  test('asking for a scope the role does not allow: 400 invalid_scope', async () => {
    for (const scope of ['agents:write', 'audit:read', 'admin:orgs', 'agents:read agents:write', 'no:such', 'agents:read  tokens:read']) {
      const r = await srv.token(member.id, member.secret, { scope });
      assert.equal(r.status, 400, `${scope}: ${r.text}`);
      assert.equal(r.json.error, 'invalid_scope');
      assert.equal(r.headers.get('cache-control'), 'no-store');
    }
  });

  test('a narrowed token carries only what was asked for', async () => {
    const r = await srv.token(member.id, member.secret, { scope: 'agents:read' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.scope, 'agents:read');
    // Without tokens:read the bearer cannot introspect.
    const intro = await srv.form('/api/v1/token/introspect', { token: member.token },
      { headers: { authorization: `Bearer ${r.json.access_token}` } });
    assert.equal(intro.status, 403, intro.text);
    assert.equal(intro.json.error, 'insufficient_scope');

    const openid = await srv.token(member.id, member.secret, { scope: 'openid agents:read' });
    assert.equal(openid.status, 200, openid.text);
    assert.equal(typeof openid.json.id_token, 'string');
    assert.equal(decodeJwt(openid.json.id_token).payload.aud, member.id);
  });

  test('an admin token narrowed to agents:write cannot create a more privileged agent', async () => {
    const narrow = await srv.adminToken(srv, 'agents:write');
    const r = await srv.api('POST', '/api/v1/agents', {
      token: narrow,
      body: { email: 'escalate@example.com', agentType: 'custom', version: '1.0.0', capabilities: ['a:b'], owner: 'o', deploymentEnv: 'development' },
    });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.json.code, 'FORBIDDEN');
    assert.equal(r.json.reason, 'privilege_escalation');
  });

  test("an agents:write bearer may revoke another client's token", async () => {
    const other = await srv.agentWithSecret(admin);
    const tok = await srv.accessToken(other.id, other.secret);
    const r = await srv.form('/api/v1/token/revoke', { token: tok }, { headers: { authorization: `Bearer ${admin}` } });
    assert.equal(r.status, 200, r.text);
    const i = await srv.introspect(tok, { id: other.id, secret: other.secret });
    assert.equal(i.text, '{"active":false}');
  });

  test("a member cannot revoke another client's token", async () => {
    const other = await srv.agentWithSecret(admin);
    const tok = await srv.accessToken(other.id, other.secret);
    const r = await srv.revoke(tok, { id: member.id, secret: member.secret });
    assert.ok(r.status === 400 || r.status === 403, `${r.status} ${r.text}`);
    assert.equal(r.json.error, 'unauthorized_client');
    const i = await srv.introspect(tok, { id: other.id, secret: other.secret });
    assert.equal(i.json.active, true);
  });
});

describe('headers', () => {
  test('X-RateLimit-* on authenticated responses, success and refusal alike', async () => {
    const a = await srv.api('GET', '/api/v1/agents', { token: member.token });
    const b = await srv.api('GET', '/api/v1/agents', { token: member.token });
    const denied = await srv.api('GET', '/api/v1/audit', { token: member.token });
    const now = Math.floor(Date.now() / 1000);
    for (const r of [a, b, denied]) {
      const limit = Number(r.headers.get('x-ratelimit-limit'));
      const remaining = Number(r.headers.get('x-ratelimit-remaining'));
      const reset = Number(r.headers.get('x-ratelimit-reset'));
      assert.ok(Number.isInteger(limit) && limit > 0, `limit ${r.headers.get('x-ratelimit-limit')}`);
      assert.ok(Number.isInteger(remaining) && remaining >= 0 && remaining < limit, `remaining ${remaining}`);
      assert.ok(Number.isInteger(reset) && reset > now - 1 && reset <= now + 61, `reset ${reset} vs now ${now}`);
    }
    const ra = Number(a.headers.get('x-ratelimit-remaining'));
    const rb = Number(b.headers.get('x-ratelimit-remaining'));
    if (a.headers.get('x-ratelimit-reset') === b.headers.get('x-ratelimit-reset')) assert.equal(rb, ra - 1);

    const intro = await srv.introspect(member.token, { id: member.id, secret: member.secret });
    assert.ok(intro.headers.get('x-ratelimit-limit'), 'introspection (client auth) carries them too');
    const tok = await srv.token(member.id, member.secret);
    assert.ok(tok.headers.get('x-ratelimit-limit'), 'the token endpoint carries them too');
  });

  test('X-Request-Id: echoed when sent, generated otherwise', async () => {
    const sent = await srv.api('GET', '/api/v1/agents', { token: member.token, headers: { 'x-request-id': 'it-req-42.abc_DEF:1' } });
    assert.equal(sent.headers.get('x-request-id'), 'it-req-42.abc_DEF:1');
    const unauth = await srv.api('GET', '/api/v1/agents', { headers: { 'x-request-id': 'unauth-1' } });
    assert.equal(unauth.status, 401);
    assert.equal(unauth.headers.get('x-request-id'), 'unauth-1');
    const health = await srv.api('GET', '/health', { headers: { 'x-request-id': 'health-1' } });
    assert.equal(health.headers.get('x-request-id'), 'health-1');

    const gen1 = await srv.api('GET', '/health');
    const gen2 = await srv.api('GET', '/nope');
    for (const r of [gen1, gen2]) assert.ok((r.headers.get('x-request-id') ?? '').length >= 8, 'generated id');
    assert.notEqual(gen1.headers.get('x-request-id'), gen2.headers.get('x-request-id'));

    // An unsafe value is not reflected.
    const weird = await srv.api('GET', '/health', { headers: { 'x-request-id': 'a b<script>' } });
    assert.ok(weird.headers.get('x-request-id'));
    assert.notEqual(weird.headers.get('x-request-id'), 'a b<script>');
  });
});

describe('API rate limit per agent', () => {
  let limited;
  before(async () => { limited = await startServer({ env: { AGENTIDP_API_RATE_LIMIT_PER_MINUTE: '3' } }); });
  after(async () => { await limited?.close(); });

  test('over the limit: 429 RATE_LIMIT_EXCEEDED with Retry-After and X-RateLimit-Remaining 0', async () => {
    const adminTok = await limited.adminToken(limited);
    const a = await limited.agentWithSecret(adminTok); // the admin's 2 calls
    const tok = await limited.accessToken(a.id, a.secret);
    const left = 60 - (Math.floor(Date.now() / 1000) % 60);
    if (left < 4) await sleep(left * 1000 + 200);
    const rs = [];
    for (let i = 0; i < 4; i++) rs.push(await limited.api('GET', '/api/v1/agents', { token: tok }));
    assert.equal(new Set(rs.map((r) => r.headers.get('x-ratelimit-reset'))).size, 1, 'one window');
    assert.deepEqual(rs.map((r) => r.status), [200, 200, 200, 429]);
    assert.deepEqual(rs.map((r) => r.headers.get('x-ratelimit-remaining')), ['2', '1', '0', '0']);
    const last = rs[3];
    assert.equal(last.json.code, 'RATE_LIMIT_EXCEEDED');
    const retry = Number(last.headers.get('retry-after'));
    assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `Retry-After ${last.headers.get('retry-after')}`);
    assert.equal(last.headers.get('x-ratelimit-limit'), '3');
    // Another agent has its own budget.
    const other = await limited.api('GET', '/api/v1/agents', { token: adminTok });
    assert.equal(other.status, 200, other.text);
  });
});
