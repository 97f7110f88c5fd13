// Token endpoint details (RFC 6749 §2.3, §3.2, §5.2; SPEC §5, §8): parameter and client
// authentication rules, uniform failures, per-client rate limit, failed-auth slow-down.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startServer, basicAuth, sleep } from './lib/harness.mjs';

let srv;
let admin;
before(async () => {
  srv = await startServer();
  admin = await srv.adminToken(srv);
});
after(async () => { await srv?.close(); });

function assertOAuthError(r, status, error) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json?.error, error, r.text);
  assert.equal(r.headers.get('cache-control'), 'no-store', 'OAuth errors are not cached');
  assert.ok(!('code' in r.json), 'RFC 6749 envelope, not the API one');
}

describe('parameters', () => {
  let agent;
  before(async () => { agent = await srv.agentWithSecret(admin); });

  test('success: Cache-Control no-store, alias /oauth2/token', async () => {
    for (const path of ['/api/v1/token', '/api/v1/oauth2/token']) {
      const r = await srv.form(path, { grant_type: 'client_credentials' }, { auth: { id: agent.id, secret: agent.secret } });
      assert.equal(r.status, 200, `${path}: ${r.text}`);
      assert.equal(r.headers.get('cache-control'), 'no-store');
      assert.deepEqual(Object.keys(r.json).sort(), ['access_token', 'expires_in', 'scope', 'token_type']);
    }
  });

  test('unknown grant_type: 400 unsupported_grant_type', async () => {
    for (const grant of ['password', 'authorization_code', 'client_credentialsx', 'CLIENT_CREDENTIALS']) {
      const r = await srv.form('/api/v1/token', { grant_type: grant }, { auth: { id: agent.id, secret: agent.secret } });
      assertOAuthError(r, 400, 'unsupported_grant_type');
    }
  });

  test('missing or empty grant_type: 400 invalid_request', async () => {
    for (const params of [{}, { grant_type: '' }, { scope: 'agents:read' }]) {
      const r = await srv.form('/api/v1/token', params, { auth: { id: agent.id, secret: agent.secret } });
      assertOAuthError(r, 400, 'invalid_request');
    }
  });

  test('a repeated parameter: 400 invalid_request', async () => {
    const repeats = [
      [['grant_type', 'client_credentials'], ['grant_type', 'client_credentials']],
      [['grant_type', 'client_credentials'], ['scope', 'agents:read'], ['scope', 'agents:read']],
      [['grant_type', 'client_credentials'], ['scope', 'agents:read'], ['scope', 'tokens:read']],
    ];
    for (const params of repeats) {
      const r = await srv.form('/api/v1/token', params, { auth: { id: agent.id, secret: agent.secret } });
      assertOAuthError(r, 400, 'invalid_request');
    }
    const post = await srv.form('/api/v1/token', [['grant_type', 'client_credentials'], ['client_id', agent.id],
      ['client_secret', agent.secret], ['client_secret', agent.secret]]);
    assertOAuthError(post, 400, 'invalid_request');
  });

  test('Basic and client_secret in the body at once: 400 invalid_request', async () => {
    const r = await srv.form('/api/v1/token', { grant_type: 'client_credentials', client_secret: agent.secret },
      { headers: { authorization: basicAuth(agent.id, agent.secret) } });
    assertOAuthError(r, 400, 'invalid_request');
    const both = await srv.form('/api/v1/token', { grant_type: 'client_credentials', client_id: agent.id, client_secret: agent.secret },
      { headers: { authorization: basicAuth(agent.id, agent.secret) } });
    assertOAuthError(both, 400, 'invalid_request');
  });

  test('Basic with a different client_id in the body: 400 invalid_request', async () => {
    const r = await srv.form('/api/v1/token', { grant_type: 'client_credentials', client_id: randomUUID() },
      { headers: { authorization: basicAuth(agent.id, agent.secret) } });
    assertOAuthError(r, 400, 'invalid_request');
  });

  test('client_secret without client_id: 400 invalid_request', async () => {
    const r = await srv.form('/api/v1/token', { grant_type: 'client_credentials', client_secret: agent.secret });
    assertOAuthError(r, 400, 'invalid_request');
  });

  test('no client authentication at all: 401 invalid_client with WWW-Authenticate', async () => {
    const r = await srv.form('/api/v1/token', { grant_type: 'client_credentials' });
    assertOAuthError(r, 401, 'invalid_client');
    assert.match(r.headers.get('www-authenticate') ?? '', /^Basic/);
    const idOnly = await srv.form('/api/v1/token', { grant_type: 'client_credentials', client_id: agent.id });
    assertOAuthError(idOnly, 401, 'invalid_client');
  });

  test('bad Basic encodings: 401 invalid_client with WWW-Authenticate', async () => {
    const b64 = (s) => Buffer.from(s).toString('base64');
    const bad = [
      'Basic !!!not-base64!!!',
      'Basic abc', // length not a multiple of 4
      `Basic ${b64('no-colon-here')}`,
      'Basic ',
      'Basic',
      `Basic ${b64(`:${agent.secret}`)}`, // empty client id
      `Basic ${b64(`${agent.id}:${agent.secret}`)}=`, // trailing junk padding
      `Basic ${b64(`${agent.id}:${agent.secret}`).replace(/=+$/, '')}A=`,
      `Basic ${b64('%zz:secret')}`, // bad percent-encoding
    ];
    for (const authz of bad) {
      const r = await srv.form('/api/v1/token', { grant_type: 'client_credentials' }, { headers: { authorization: authz } });
      assert.ok(r.status === 401, `${authz}: ${r.status} ${r.text}`);
      assert.equal(r.json.error, 'invalid_client', authz);
      assert.match(r.headers.get('www-authenticate') ?? '', /^Basic/, authz);
      assert.equal(r.headers.get('cache-control'), 'no-store');
    }
  });

  test('wrong secret and unknown client: same status, byte-identical bodies', async () => {
    const wrongSecret = 'sk_live_' + 'a'.repeat(64);
    const responses = [
      await srv.token(agent.id, wrongSecret),
      await srv.token(randomUUID(), wrongSecret),
      await srv.token('not-even-a-uuid', wrongSecret),
      await srv.token(agent.id, wrongSecret, { method: 'post' }),
      await srv.token(randomUUID(), agent.secret, { method: 'post' }),
    ];
    for (const r of responses) {
      assertOAuthError(r, 401, 'invalid_client');
      assert.equal(r.text, responses[0].text);
      assert.equal(r.headers.get('www-authenticate'), responses[0].headers.get('www-authenticate'));
    }
    assert.ok(!responses[0].text.includes(agent.id), 'the body does not echo the client id');
  });

  test('wrong content type: 400 invalid_request', async () => {
    const body = new URLSearchParams({ grant_type: 'client_credentials' }).toString();
    for (const contentType of ['application/json', 'text/plain', 'multipart/form-data; boundary=x', null]) {
      const headers = { authorization: basicAuth(agent.id, agent.secret) };
      if (contentType) headers['content-type'] = contentType;
      const res = await fetch(`${srv.url}/api/v1/token`, { method: 'POST', headers, body: contentType ? body : Buffer.from(body) });
      const text = await res.text();
      assert.equal(res.status, 400, `${contentType}: ${text}`);
      assert.equal(JSON.parse(text).error, 'invalid_request');
    }
    const json = await fetch(`${srv.url}/api/v1/token`, {
      method: 'POST',
      headers: { authorization: basicAuth(agent.id, agent.secret), 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credentials' }),
    });
    assert.equal(json.status, 400);
    // A charset parameter on the right media type is fine.
    const charset = await srv.form('/api/v1/token', { grant_type: 'client_credentials' },
      { auth: { id: agent.id, secret: agent.secret }, contentType: 'application/x-www-form-urlencoded; charset=UTF-8' });
    assert.equal(charset.status, 200, charset.text);
  });

  test('GET on the token endpoint: 405 with Allow: POST', async () => {
    const r = await srv.api('GET', '/api/v1/token');
    assert.equal(r.status, 405, r.text);
    assert.match(r.headers.get('allow') ?? '', /\bPOST\b/);
  });
});

describe('failed-authentication slow-down', () => {
  test('after 5 wrong secrets the next attempt is refused with 429 + Retry-After, even with the right secret', async () => {
    const victim = await srv.agentWithSecret(admin);
    const wrong = 'sk_live_' + 'b'.repeat(64);
    for (let i = 1; i <= 5; i++) {
      const r = await srv.token(victim.id, wrong);
      assert.equal(r.status, 401, `wrong attempt ${i}: ${r.text}`);
    }
    const r = await srv.token(victim.id, victim.secret);
    assert.equal(r.status, 429, `attempt after 5 failures answered ${r.status}: ${r.text.slice(0, 80)}`);
    const retry = Number(r.headers.get('retry-after'));
    assert.ok(Number.isInteger(retry) && retry >= 1, `Retry-After ${r.headers.get('retry-after')}`);
    assert.equal(r.headers.get('cache-control'), 'no-store');
  });

  test('the slow-down is per client: others are unaffected', async () => {
    const victim = await srv.agentWithSecret(admin);
    const bystander = await srv.agentWithSecret(admin);
    for (let i = 0; i < 8; i++) await srv.token(victim.id, 'sk_live_' + 'c'.repeat(64));
    const blocked = await srv.token(victim.id, victim.secret);
    assert.equal(blocked.status, 429, blocked.text);
    assert.ok(blocked.headers.get('retry-after'));
    const ok = await srv.token(bystander.id, bystander.secret);
    assert.equal(ok.status, 200, ok.text);
  });

  test('failed authentications are audited as auth.failed', async () => {
    const r = await srv.api('GET', '/api/v1/audit?action=auth.failed&limit=100', { token: admin });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.total >= 5, `auth.failed events: ${r.json.total}`);
    for (const e of r.json.data) {
      assert.equal(e.outcome, 'failure');
      assert.ok(!JSON.stringify(e).includes('sk_live_'), 'no secret in the audit log');
    }
  });
});

describe('per-client rate limit', () => {
  let limited;
  before(async () => { limited = await startServer({ env: { AGENTIDP_RATE_LIMIT_PER_MINUTE: '5' } }); });
  after(async () => { await limited?.close(); });

  test('the 6th token request in a minute is 429 with Retry-After and X-RateLimit-Remaining 0', async () => {
    const adminTok = await limited.adminToken(limited);
    const agent = await limited.agentWithSecret(adminTok);
    // The window is a calendar minute: do not start in its last seconds.
    const left = 60 - (Math.floor(Date.now() / 1000) % 60);
    if (left < 6) await sleep(left * 1000 + 200);
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await limited.token(agent.id, agent.secret));
    const resets = new Set(results.map((r) => r.headers.get('x-ratelimit-reset')));
    assert.equal(resets.size, 1, 'all six requests fell in one window');
    results.slice(0, 5).forEach((r, i) => {
      assert.equal(r.status, 200, `request ${i + 1}: ${r.text}`);
      assert.equal(r.headers.get('x-ratelimit-limit'), '5');
      assert.equal(r.headers.get('x-ratelimit-remaining'), String(4 - i));
    });
    const sixth = results[5];
    assert.equal(sixth.status, 429, sixth.text);
    const retry = Number(sixth.headers.get('retry-after'));
    assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `Retry-After ${sixth.headers.get('retry-after')}`);
    assert.equal(sixth.headers.get('x-ratelimit-remaining'), '0');
    assert.equal(sixth.headers.get('x-ratelimit-limit'), '5');
    assert.equal(sixth.headers.get('cache-control'), 'no-store');
    assert.equal(typeof sixth.json.error, 'string');

    // Another client has its own budget.
    const other = await limited.agentWithSecret(adminTok);
    assert.equal((await limited.token(other.id, other.secret)).status, 200);
  });
});
