// The README quick start, step by step, as curl would do it: admin token (Basic and
// post), register an agent, give it a secret, the agent gets a token, introspects it,
// revokes it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import path from 'node:path';
import { startServer, decodeJwt } from './lib/harness.mjs';

let srv;
const secrets = []; // every secret and token seen, for the log check at the end
before(async () => { srv = await startServer(); });
after(async () => { await srv?.close(); });

test('quick start: admin token, agent, credential, token, introspect, revoke', async (t) => {
  const { client_id: adminId, client_secret: adminSecret } = srv.admin;
  assert.match(adminSecret, /^sk_live_[0-9a-f]{64}$/);
  assert.equal(srv.admin.issuer, srv.issuer);
  assert.equal(srv.admin.token_endpoint, `${srv.issuer}/api/v1/token`);

  // 1. Admin token with client_secret_basic and with client_secret_post.
  const basic = await srv.token(adminId, adminSecret, { method: 'basic' });
  assert.equal(basic.status, 200, basic.text);
  assert.equal(basic.headers.get('cache-control'), 'no-store');
  assert.match(basic.headers.get('content-type'), /^application\/json/);
  assert.equal(basic.json.token_type, 'Bearer');
  assert.equal(basic.json.expires_in, 3600);
  assert.equal(typeof basic.json.access_token, 'string');
  for (const s of ['agents:read', 'agents:write', 'tokens:read', 'audit:read']) {
    assert.ok(basic.json.scope.split(' ').includes(s), `admin scope has ${s}: ${basic.json.scope}`);
  }
  assert.ok(!('id_token' in basic.json), 'no id_token unless openid is asked for');

  const post = await srv.token(adminId, adminSecret, { method: 'post' });
  assert.equal(post.status, 200, post.text);
  assert.equal(post.headers.get('cache-control'), 'no-store');
  const adminToken = post.json.access_token;
  secrets.push(adminSecret, basic.json.access_token, adminToken);
  const { header, payload } = decodeJwt(adminToken);
  assert.equal(header.typ, 'at+jwt');
  assert.equal(header.alg, 'RS256');
  assert.equal(typeof header.kid, 'string');
  assert.equal(payload.iss, srv.issuer);
  assert.equal(payload.aud, `${srv.issuer}/api/v1`);
  assert.equal(payload.sub, adminId);
  assert.equal(payload.client_id, adminId);
  assert.equal(payload.exp - payload.iat, 3600);

  // 2. Register an agent.
  const created = await srv.api('POST', '/api/v1/agents', {
    token: adminToken,
    body: {
      email: 'quickstart-agent@example.com',
      agentType: 'classifier',
      version: '1.0.0',
      capabilities: ['documents:read'],
      owner: 'quickstart',
      deploymentEnv: 'development',
    },
  });
  assert.equal(created.status, 201, created.text);
  const agentId = created.json.agentId;
  assert.match(agentId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.equal(created.json.status, 'active');

  // 3. Give it a credential: the secret is shown once.
  const cred = await srv.api('POST', `/api/v1/agents/${agentId}/credentials`, { token: adminToken, body: {} });
  assert.equal(cred.status, 201, cred.text);
  assert.match(cred.json.clientSecret, /^sk_live_[0-9a-f]{64}$/);
  assert.equal(cred.json.clientId, agentId);
  assert.equal(cred.json.status, 'active');
  assert.equal(cred.headers.get('cache-control'), 'no-store');
  const secret = cred.json.clientSecret;
  secrets.push(secret);

  const list = await srv.api('GET', `/api/v1/agents/${agentId}/credentials`, { token: adminToken });
  assert.equal(list.status, 200, list.text);
  assert.equal(list.json.data.length, 1);
  assert.equal(list.json.data[0].credentialId, cred.json.credentialId);
  assert.ok(!('clientSecret' in list.json.data[0]), 'list never shows the secret');
  assert.ok(!list.text.includes(secret), 'secret appears nowhere in the list');
  assert.ok(!list.text.includes('sk_live_'), 'no secret of any kind in the list');

  // 4. The agent gets a token.
  const agentTok = await srv.token(agentId, secret);
  assert.equal(agentTok.status, 200, agentTok.text);
  const accessToken = agentTok.json.access_token;
  secrets.push(accessToken);
  const claims = decodeJwt(accessToken).payload;
  assert.equal(claims.sub, agentId);

  // 5. Introspect it (the agent authenticates with its own secret).
  const intro = await srv.introspect(accessToken, { id: agentId, secret });
  assert.equal(intro.status, 200, intro.text);
  assert.equal(intro.json.active, true);
  assert.equal(intro.json.sub, agentId);
  assert.equal(intro.json.client_id, agentId);
  assert.equal(intro.json.scope, agentTok.json.scope);
  assert.equal(intro.json.organization_id, srv.admin.organization_id);
  assert.equal(intro.json.exp, claims.exp);
  assert.equal(intro.json.iat, claims.iat);
  assert.equal(intro.json.jti, claims.jti);
  assert.equal(intro.json.iss, srv.issuer);
  assert.equal(intro.json.aud, `${srv.issuer}/api/v1`);
  assert.equal(intro.headers.get('cache-control'), 'no-store');

  // Introspection with a Bearer token that holds tokens:read works too.
  const introBearer = await srv.form('/api/v1/token/introspect', { token: accessToken },
    { headers: { authorization: `Bearer ${adminToken}` } });
  assert.equal(introBearer.status, 200, introBearer.text);
  assert.equal(introBearer.json.active, true);

  // 6. Revoke it; introspection is then exactly {"active":false}.
  const rev = await srv.revoke(accessToken, { id: agentId, secret });
  assert.equal(rev.status, 200, rev.text);
  const after = await srv.introspect(accessToken, { id: agentId, secret });
  assert.equal(after.status, 200);
  assert.deepEqual(after.json, { active: false });
  assert.equal(after.text, '{"active":false}');

  // The revoked token no longer opens the API either.
  const agentsRead = await srv.api('GET', `/api/v1/agents/${agentId}`, { token: accessToken });
  assert.equal(agentsRead.status, 401, agentsRead.text);

  // Revoking again, or an unknown / garbage token, is still 200 (RFC 7009 §2.2).
  await t.test('revoking unknown or garbage tokens answers 200', async () => {
    for (const tok of [accessToken, 'garbage', 'a.b.c', 'eyJhbGciOiJub25lIn0.e30.', 'x'.repeat(3000)]) {
      const r = await srv.revoke(tok, { id: agentId, secret });
      assert.equal(r.status, 200, `revoke ${tok.slice(0, 20)}: ${r.text}`);
    }
  });

  await t.test('revocation without client authentication answers 401', async () => {
    const fresh = await srv.accessToken(agentId, secret);
    const r = await srv.form('/api/v1/token/revoke', { token: fresh });
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json.error, 'invalid_client');
    assert.ok(r.headers.get('www-authenticate'), 'WWW-Authenticate on 401');
    // ... and the token is still active.
    const i = await srv.introspect(fresh, { id: agentId, secret });
    assert.equal(i.json.active, true);
  });

  await t.test('a wrong client secret cannot revoke', async () => {
    const fresh = await srv.accessToken(agentId, secret);
    const r = await srv.revoke(fresh, { id: agentId, secret: 'sk_live_' + '0'.repeat(64) });
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json.error, 'invalid_client');
  });
});

test('bootstrap credentials and keys are readable only by the owner', () => {
  const mode = (f) => statSync(path.join(srv.dataDir, f)).mode & 0o777;
  assert.equal(mode('bootstrap-admin.json'), 0o600);
  assert.equal(mode('master.key'), 0o600);
  assert.equal(statSync(srv.dataDir).mode & 0o077, 0, 'the data directory is private');
});

test('no secret or token appears in the access log or the application log', async () => {
  assert.ok(secrets.length >= 5);
  await srv.stop();
  const logs = srv.stdout() + srv.stderr();
  assert.ok(logs.length > 0, 'the server logged something');
  assert.ok(srv.stdout().includes('/api/v1/token'), 'the access log names requests');
  for (const s of secrets) {
    assert.ok(!logs.includes(s), `a secret or token (${s.slice(0, 12)}...) is in the logs`);
    // A JWT's signature alone must not leak either.
    if (s.split('.').length === 3) assert.ok(!logs.includes(s.split('.')[2]));
  }
  assert.ok(!logs.includes('sk_live_'), 'no client secret in the logs');
  // Every access-log line is one JSON object.
  for (const line of srv.stdout().split('\n').filter(Boolean)) {
    assert.doesNotThrow(() => JSON.parse(line), `access log line is JSON: ${line.slice(0, 100)}`);
  }
});
