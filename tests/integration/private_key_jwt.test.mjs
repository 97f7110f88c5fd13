// private_key_jwt client authentication (RFC 7523 §2.2/§3 with the issuer as the sole
// audience; SPEC §3, §5): registration of public key sets (inline and jwksUri), the
// assertion rules, single use of jti (also under parallel requests), uniform failures,
// rotation, and the guarded fetch of a jwksUri over real TLS (a local HTTPS server with a
// test certificate; loopback destinations refused unless the test allow flag is on).

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { startServer, makeTempDir, basicAuth } from './lib/harness.mjs';
import { newKey, assertion, ASSERTION_TYPE, signJwt, claimsOf } from './lib/jwt.mjs';

const run = promisify(execFile);
// These suites fail authentications on purpose; the slow-down has its own tests.
const NO_SLOWDOWN = { AGENTIDP_AUTH_FAILURES_BEFORE_SLOWDOWN: '1000' };

function assertOAuthError(r, status, error) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json?.error, error, r.text);
}

async function registerKeys(srv, admin, agentId, body) {
  return srv.api('POST', `/api/v1/agents/${agentId}/credentials`, { token: admin, body: { type: 'private_key_jwt', ...body } });
}

function tokenWithAssertion(srv, jwt, extra = [], headers = {}) {
  return srv.form('/api/v1/token', [['grant_type', 'client_credentials'], ['client_assertion_type', ASSERTION_TYPE],
    ['client_assertion', jwt], ...extra], { headers });
}

describe('inline key sets', () => {
  let srv, admin, agent;
  const keys = { ES256: newKey('ES256'), RS256: newKey('RS256'), EdDSA: newKey('EdDSA') };
  before(async () => {
    srv = await startServer({ env: NO_SLOWDOWN });
    admin = await srv.adminToken(srv);
    agent = await srv.createAgent(admin);
    const r = await registerKeys(srv, admin, agent.agentId, { jwks: { keys: Object.values(keys).map((k) => k.jwk) } });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.type, 'private_key_jwt');
    assert.ok(!('clientSecret' in r.json), 'no secret for a key credential');
    assert.equal(r.json.jwks.keys.length, 3);
    for (const k of r.json.jwks.keys) assert.ok(!('d' in k), 'public members only');
  });
  after(async () => { await srv?.close(); });

  for (const alg of ['ES256', 'RS256', 'EdDSA']) {
    test(`${alg} assertion gets a token; the audit records the method`, async () => {
      const r = await tokenWithAssertion(srv, assertion(keys[alg], agent.agentId, srv.issuer));
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.token_type, 'Bearer');
      const at = claimsOf(r.json.access_token);
      assert.equal(at.sub, agent.agentId);
      assert.equal(at.client_id, agent.agentId);
      const audit = await srv.api('GET', `/api/v1/audit?agentId=${agent.agentId}&action=token.issued&limit=1`, { token: admin });
      assert.equal(audit.json.data[0].metadata.authMethod, 'private_key_jwt');
      assert.equal(audit.json.data[0].metadata.jti, at.jti);
    });
  }

  test('typ absent, JWT and client-authentication+jwt are accepted; client_id may be sent', async () => {
    for (const typ of [undefined, 'JWT', 'client-authentication+jwt']) {
      const r = await tokenWithAssertion(srv, assertion(keys.ES256, agent.agentId, srv.issuer, { header: { typ } }),
        [['client_id', agent.agentId]]);
      assert.equal(r.status, 200, `typ ${typ}: ${r.text}`);
    }
  });

  test('introspection and revocation accept private_key_jwt client authentication', async () => {
    const t = await srv.accessToken(srv.admin.client_id, srv.admin.client_secret, { scope: 'agents:read' });
    const form = (path, jwt) => srv.form(path, [['token', t], ['client_assertion_type', ASSERTION_TYPE], ['client_assertion', jwt]]);
    const i = await form('/api/v1/token/introspect', assertion(keys.ES256, agent.agentId, srv.issuer));
    assert.equal(i.status, 200, i.text);
    assert.equal(i.json.active, true);
    const again = await form('/api/v1/token/introspect', assertion(keys.EdDSA, agent.agentId, srv.issuer));
    assert.equal(again.json.active, true, 'a second, fresh assertion works too');
    const bad = await form('/api/v1/token/introspect', assertion(newKey('ES256'), agent.agentId, srv.issuer));
    assertOAuthError(bad, 401, 'invalid_client');
  });

  test('a replayed assertion is refused', async () => {
    const jwt = assertion(keys.ES256, agent.agentId, srv.issuer);
    assert.equal((await tokenWithAssertion(srv, jwt)).status, 200);
    assertOAuthError(await tokenWithAssertion(srv, jwt), 401, 'invalid_client');
  });

  test('parallel requests with one assertion: exactly one succeeds', async () => {
    const jwt = assertion(keys.EdDSA, agent.agentId, srv.issuer);
    const results = await Promise.all(Array.from({ length: 12 }, () => tokenWithAssertion(srv, jwt)));
    const ok = results.filter((r) => r.status === 200);
    assert.equal(ok.length, 1, results.map((r) => r.status).join(','));
    for (const r of results.filter((x) => x.status !== 200)) assertOAuthError(r, 401, 'invalid_client');
  });

  test('claim rules: aud, iss/sub, exp, jti, client_id', async () => {
    const id = agent.agentId;
    const k = keys.ES256;
    const cases = [
      ['aud array', { aud: [srv.issuer] }],
      ['aud = token endpoint', { aud: `${srv.issuer}/api/v1/token` }],
      ['aud missing', { aud: undefined }],
      ['sub != iss', { sub: '00000000-0000-4000-8000-000000000000' }],
      ['exp missing', { exp: undefined }],
      ['exp far ahead', { exp: Math.floor(Date.now() / 1000) + 3600 }],
      ['expired', { exp: Math.floor(Date.now() / 1000) - 120, iat: Math.floor(Date.now() / 1000) - 300 }],
      ['nbf in the future', { nbf: Math.floor(Date.now() / 1000) + 200 }],
      ['iat in the future', { iat: Math.floor(Date.now() / 1000) + 200 }],
      ['jti missing', { jti: undefined }],
    ];
    for (const [name, claims] of cases) {
      const r = await tokenWithAssertion(srv, assertion(k, id, srv.issuer, { claims }));
      assertOAuthError(r, 401, 'invalid_client');
      assert.ok(r.status < 500, name);
    }
    const mismatch = await tokenWithAssertion(srv, assertion(k, id, srv.issuer), [['client_id', '00000000-0000-4000-8000-000000000000']]);
    assertOAuthError(mismatch, 401, 'invalid_client');
  });

  test('mistyped JWTs, wrong alg for the key, and our own tokens are not assertions', async () => {
    const id = agent.agentId;
    for (const typ of ['at+jwt', 'dpop+jwt', 'application/at+jwt', 'id_token+jwt']) {
      assertOAuthError(await tokenWithAssertion(srv, assertion(keys.ES256, id, srv.issuer, { header: { typ } })), 401, 'invalid_client');
    }
    // The RS256 key's kid with an ES256 signature.
    const swapped = assertion(keys.ES256, id, srv.issuer, { header: { kid: keys.RS256.kid } });
    assertOAuthError(await tokenWithAssertion(srv, swapped), 401, 'invalid_client');
    // Embedded key headers are never used.
    for (const header of [{ jwk: keys.ES256.jwk }, { jku: 'https://127.0.0.1:1/jwks' }, { crit: ['exp'] }]) {
      assertOAuthError(await tokenWithAssertion(srv, assertion(keys.ES256, id, srv.issuer, { header })), 401, 'invalid_client');
    }
    const ours = await srv.accessToken(srv.admin.client_id, srv.admin.client_secret, { scope: 'openid agents:read' });
    assertOAuthError(await tokenWithAssertion(srv, ours), 401, 'invalid_client');
  });

  test('one client authentication method per request', async () => {
    const jwt = assertion(keys.ES256, agent.agentId, srv.issuer);
    const both = await tokenWithAssertion(srv, jwt, [], { authorization: basicAuth(srv.admin.client_id, srv.admin.client_secret) });
    assertOAuthError(both, 400, 'invalid_request');
    const plusSecret = await tokenWithAssertion(srv, assertion(keys.ES256, agent.agentId, srv.issuer),
      [['client_id', agent.agentId], ['client_secret', 'sk_live_' + '0'.repeat(64)]]);
    assertOAuthError(plusSecret, 400, 'invalid_request');
    const badType = await srv.form('/api/v1/token', { grant_type: 'client_credentials', client_assertion_type: 'urn:x', client_assertion: jwt });
    assertOAuthError(badType, 400, 'invalid_request');
    const noAssertion = await srv.form('/api/v1/token', { grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE });
    assertOAuthError(noAssertion, 400, 'invalid_request');
  });

  test('unknown client, foreign key and bad signature answer byte-identical errors', async () => {
    const stranger = newKey('ES256');
    const unknownId = '11111111-1111-4111-8111-111111111111';
    const a = await tokenWithAssertion(srv, assertion(stranger, unknownId, srv.issuer));
    const b = await tokenWithAssertion(srv, assertion(stranger, agent.agentId, srv.issuer, { header: { kid: keys.ES256.kid } }));
    const good = assertion(keys.ES256, agent.agentId, srv.issuer);
    const tampered = good.slice(0, -4) + (good.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA');
    const c = await tokenWithAssertion(srv, tampered);
    for (const r of [a, b, c]) assertOAuthError(r, 401, 'invalid_client');
    assert.equal(a.text, b.text);
    assert.equal(b.text, c.text);
  });

  test('a suspended agent cannot authenticate with its keys', async () => {
    const other = await srv.createAgent(admin);
    const k = newKey('ES256');
    assert.equal((await registerKeys(srv, admin, other.agentId, { jwks: { keys: [k.jwk] } })).status, 201);
    assert.equal((await tokenWithAssertion(srv, assertion(k, other.agentId, srv.issuer))).status, 200);
    const s = await srv.api('PATCH', `/api/v1/agents/${other.agentId}`, { token: admin, body: { status: 'suspended' } });
    assert.equal(s.status, 200, s.text);
    assertOAuthError(await tokenWithAssertion(srv, assertion(k, other.agentId, srv.issuer)), 401, 'invalid_client');
  });

  test('rotation replaces the key set; revocation ends it', async () => {
    const other = await srv.createAgent(admin);
    const k1 = newKey('ES256');
    const k2 = newKey('EdDSA');
    const cred = await registerKeys(srv, admin, other.agentId, { jwks: { keys: [k1.jwk] } });
    const base = `/api/v1/agents/${other.agentId}/credentials/${cred.json.credentialId}`;
    const rot = await srv.api('POST', `${base}/rotate`, { token: admin, body: { jwks: { keys: [k2.jwk] } } });
    assert.equal(rot.status, 200, rot.text);
    assert.equal(rot.json.jwks.keys[0].kid, k2.kid);
    assertOAuthError(await tokenWithAssertion(srv, assertion(k1, other.agentId, srv.issuer)), 401, 'invalid_client');
    assert.equal((await tokenWithAssertion(srv, assertion(k2, other.agentId, srv.issuer))).status, 200);
    const noKeys = await srv.api('POST', `${base}/rotate`, { token: admin });
    assert.equal(noKeys.status, 400, noKeys.text);
    assert.equal((await srv.api('DELETE', base, { token: admin })).status, 204);
    assertOAuthError(await tokenWithAssertion(srv, assertion(k2, other.agentId, srv.issuer)), 401, 'invalid_client');
  });

  test('registration refuses private keys, symmetric keys and incomplete sets', async () => {
    const k = newKey('ES256');
    const priv = { ...k.privateKey.export({ format: 'jwk' }), kid: 'p', alg: 'ES256' };
    const bad = [
      { jwks: { keys: [priv] } },
      { jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'o', alg: 'HS256' }] } },
      { jwks: { keys: [{ ...k.jwk, kid: undefined }] } },
      { jwks: { keys: [{ ...k.jwk, alg: undefined }] } },
      { jwks: { keys: [{ ...k.jwk, alg: 'RS256' }] } },
      { jwks: { keys: [k.jwk, k.jwk] } },
      { jwks: { keys: [] } },
      { jwks: [k.jwk] },
      { jwks: { keys: [k.jwk] }, jwksUri: 'https://example.com/jwks' },
      {},
      { jwksUri: 'http://example.com/jwks' },
      { jwksUri: 'https://user:pw@example.com/jwks' },
      { jwksUri: 'not a url' },
    ];
    for (const body of bad) {
      const r = await registerKeys(srv, admin, agent.agentId, JSON.parse(JSON.stringify(body)));
      assert.equal(r.status, 400, `${JSON.stringify(body).slice(0, 80)}: ${r.text}`);
      assert.equal(r.json.code, 'VALIDATION_ERROR');
    }
    const secretWithKeys = await srv.api('POST', `/api/v1/agents/${agent.agentId}/credentials`,
      { token: admin, body: { type: 'client_secret', jwks: { keys: [k.jwk] } } });
    assert.equal(secretWithKeys.status, 400);
  });

  test('discovery advertises private_key_jwt with the accepted algorithms', async () => {
    const d = (await srv.api('GET', '/.well-known/openid-configuration')).json;
    assert.ok(d.token_endpoint_auth_methods_supported.includes('private_key_jwt'));
    assert.deepEqual([...d.token_endpoint_auth_signing_alg_values_supported].sort(), ['ES256', 'Ed25519', 'EdDSA', 'RS256']);
  });
});

// A local HTTPS server serving a JWKS, with a throw-away certificate.
async function jwksServer(dir, getBody) {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { timeout: 30_000 });
  let hits = 0;
  const server = https.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
    hits++;
    const { status = 200, body, headers = {} } = getBody(req);
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `https://127.0.0.1:${server.address().port}`, cert, hits: () => hits, close: () => new Promise((r) => server.close(r)) };
}

describe('jwksUri over TLS (test allow flag on)', () => {
  let srv, admin, agent, remote;
  let served;
  const k1 = newKey('ES256');
  const k2 = newKey('RS256');
  before(async () => {
    const dir = makeTempDir();
    served = { keys: [k1.jwk] };
    remote = await jwksServer(dir, (req) => {
      if (req.url === '/redirect') return { status: 302, body: '', headers: { location: '/jwks' } };
      if (req.url === '/big') return { body: JSON.stringify({ keys: [], pad: 'x'.repeat(2 * 1024 * 1024) }) };
      return { body: JSON.stringify(served) };
    });
    srv = await startServer({ env: { ...NO_SLOWDOWN, AGENTIDP_OUTBOUND_ALLOW_PRIVATE: 'true', AGENTIDP_OUTBOUND_CA_FILE: remote.cert } });
    admin = await srv.adminToken(srv);
    agent = await srv.createAgent(admin);
    const r = await registerKeys(srv, admin, agent.agentId, { jwksUri: `${remote.url}/jwks` });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.jwksUri, `${remote.url}/jwks`);
  });
  after(async () => { await srv?.close(); await remote?.close(); });

  test('the set is fetched and cached; a new kid triggers one refresh', async () => {
    assert.equal((await tokenWithAssertion(srv, assertion(k1, agent.agentId, srv.issuer))).status, 200);
    const afterFirst = remote.hits();
    assert.ok(afterFirst >= 1);
    assert.equal((await tokenWithAssertion(srv, assertion(k1, agent.agentId, srv.issuer))).status, 200);
    assert.equal(remote.hits(), afterFirst, 'second use served from the cache');
    served = { keys: [k1.jwk, k2.jwk] };
    await new Promise((r) => setTimeout(r, 10_500));  // the refresh floor is 10 s
    const r = await tokenWithAssertion(srv, assertion(k2, agent.agentId, srv.issuer));
    assert.equal(r.status, 200, r.text);
    assert.equal(remote.hits(), afterFirst + 1, 'exactly one refresh for the unknown kid');
    // Random unknown kids do not hammer the URL.
    for (let i = 0; i < 5; i++) {
      const stranger = newKey('ES256');
      assertOAuthError(await tokenWithAssertion(srv, assertion(stranger, agent.agentId, srv.issuer)), 401, 'invalid_client');
    }
    assert.equal(remote.hits(), afterFirst + 1);
  });

  test('redirects and oversized answers are not accepted', async () => {
    for (const p of ['/redirect', '/big']) {
      const other = await srv.createAgent(admin);
      assert.equal((await registerKeys(srv, admin, other.agentId, { jwksUri: `${remote.url}${p}` })).status, 201);
      const r = await tokenWithAssertion(srv, assertion(k1, other.agentId, srv.issuer));
      assertOAuthError(r, 401, 'invalid_client');
    }
  });
});

describe('jwksUri to loopback without the allow flag', () => {
  let srv, trap, connections = 0;
  before(async () => {
    trap = net.createServer((s) => { connections++; s.destroy(); });
    await new Promise((resolve) => trap.listen(0, '127.0.0.1', resolve));
    srv = await startServer({ env: NO_SLOWDOWN });
  });
  after(async () => { await srv?.close(); await new Promise((r) => trap.close(r)); });

  test('is refused without any connection attempt', async () => {
    const admin = await srv.adminToken(srv);
    const k = newKey('ES256');
    const port = trap.address().port;
    for (const host of ['127.0.0.1', 'localhost', '[::1]', '127.1', '0.0.0.0', '[::ffff:127.0.0.1]']) {
      const agent = await srv.createAgent(admin);
      const reg = await registerKeys(srv, admin, agent.agentId, { jwksUri: `https://${host}:${port}/jwks` });
      assert.equal(reg.status, 201, `${host}: ${reg.text}`);
      const r = await tokenWithAssertion(srv, assertion(k, agent.agentId, srv.issuer));
      assertOAuthError(r, 401, 'invalid_client');
    }
    assert.equal(connections, 0, 'the guard refused before connecting');
  });
});
